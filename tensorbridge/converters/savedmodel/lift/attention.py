"""Lift: Attention (ONNX opset 23..26), step by step as the ONNX reference computes it.

4-D inputs are [batch, heads, seq, head_size]; 3-D ones [batch, seq, hidden] are split into
q_num_heads / kv_num_heads. The additive bias is the sum of the optional parts: the attention
mask (bool -> 0/-inf; a short last dim padded with -inf), the causal mask and the sliding window
(query i attends key j by ``j - offset <= i`` rules, offset = past length, or per batch
nonpad_kv_seqlen - q_len), and the key padding mask of nonpad_kv_seqlen. Rows the bias masks
completely give 0 after the softmax. K and V heads are repeated for grouped-query attention.
"""

from __future__ import annotations

import math

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import dtype, int_attr, op, scalar, t1, t2

D = ir.DType
I32 = D.INT32


def _dim(ctx: LiftContext, x: ir.Value, axis: int) -> ir.Value:
    """Dim ``axis`` of x as an int32 scalar."""
    shape = op(ctx, "Shape", [x], I32, T=dtype(ctx, x), out_type=I32)
    return op(ctx, "StridedSlice", [shape, ctx.i32([axis], "b"), ctx.i32([axis + 1 or 2**30], "e"),
                                    ctx.i32([1], "s")], I32, T=I32, Index=I32, begin_mask=0,
              end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=1)


def _reshape(ctx: LiftContext, x: ir.Value, parts: list[ir.Value]) -> ir.Value:
    """x reshaped to the concatenation of int32 vectors/scalars-as-[1] ``parts``."""
    vecs = [op(ctx, "Reshape", [p, ctx.i32([-1], "v")], I32, T=I32, Tshape=I32) for p in parts]
    shape = op(ctx, "ConcatV2", [*vecs, ctx.i32(0, "axis")], I32, T=I32, N=len(vecs), Tidx=I32)
    t = dtype(ctx, x)
    return op(ctx, "Reshape", [x, shape], t, T=t, Tshape=I32)


def _transpose(ctx: LiftContext, x: ir.Value, perm: list[int]) -> ir.Value:
    t = dtype(ctx, x)
    return op(ctx, "Transpose", [x, ctx.i32(perm, "perm")], t, T=t, Tperm=I32)


def _split_heads(ctx: LiftContext, x: ir.Value, heads: int) -> ir.Value:
    y = _reshape(ctx, x, [_dim(ctx, x, 0), _dim(ctx, x, 1), ctx.i32([heads, -1], "heads")])
    return _transpose(ctx, y, [0, 2, 1, 3])


def _repeat_heads(ctx: LiftContext, x: ir.Value, reps: int, heads: int) -> ir.Value:
    """np.repeat(x, reps, axis=1) of a [B, H, S, D] x."""
    t = dtype(ctx, x)
    y = op(ctx, "ExpandDims", [x, ctx.i32(2, "ax")], t, T=t, Tdim=I32)
    y = op(ctx, "Tile", [y, ctx.i32([1, 1, reps, 1, 1], "reps")], t, T=t, Tmultiples=I32)
    return _reshape(ctx, y, [_dim(ctx, x, 0), ctx.i32(heads, "h"), _dim(ctx, x, 2), _dim(ctx, x, 3)])


def _neg_inf_where_not(ctx: LiftContext, allowed: ir.Value, t: ir.DType) -> ir.Value:
    zero, ninf = scalar(ctx, 0, t, "zero"), scalar(ctx, -np.inf, t, "ninf")
    return op(ctx, "SelectV2", [allowed, zero, ninf], t, T=t)


def _position_masks(ctx: LiftContext, node: ir.Node, q: ir.Value, k: ir.Value, past: ir.Value | None,
                    nonpad: ir.Value | None, t: ir.DType) -> list[ir.Value]:
    """The causal and sliding-window biases, [q, kv] or per batch [B, 1, q, kv]."""
    causal = int_attr(ctx, node, "is_causal", 0)
    left, right = int_attr(ctx, node, "left_window_size", -1), int_attr(ctx, node, "right_window_size", -1)
    if not causal and left < 0 and right < 0:
        return []
    qlen, kvlen = _dim(ctx, q, 2), _dim(ctx, k, 2)
    i = op(ctx, "Reshape", [op(ctx, "Range", [ctx.i32(0, "z"), qlen, ctx.i32(1, "o")], I32, Tidx=I32),
                            ctx.i32([-1, 1], "col")], I32, T=I32, Tshape=I32)
    j = op(ctx, "Range", [ctx.i32(0, "z"), kvlen, ctx.i32(1, "o")], I32, Tidx=I32)
    if past is None and nonpad is not None:
        off = t2(ctx, "Sub", ctx.cast(nonpad, I32), qlen)
        i = t2(ctx, "AddV2", i, op(ctx, "Reshape", [off, ctx.i32([-1, 1, 1], "b11")], I32, T=I32, Tshape=I32))
    elif past is not None:
        i = t2(ctx, "AddV2", i, _dim(ctx, past, 2))
    diff = t2(ctx, "Sub", i, j)  # (i + offset) - j
    conds = []
    if causal:
        conds.append(op(ctx, "GreaterEqual", [diff, ctx.i32(0, "z")], D.BOOL, T=I32))
    if left >= 0:
        conds.append(op(ctx, "LessEqual", [diff, ctx.i32(left, "left")], D.BOOL, T=I32))
    if right >= 0:
        conds.append(op(ctx, "LessEqual", [t1(ctx, "Neg", diff), ctx.i32(right, "right")], D.BOOL, T=I32))
    biases = [_neg_inf_where_not(ctx, c, t) for c in conds]
    if past is None and nonpad is not None:  # [B, q, kv] -> [B, 1, q, kv]
        biases = [op(ctx, "ExpandDims", [b, ctx.i32(1, "h")], t, T=t, Tdim=I32) for b in biases]
    return biases


def _mask_bias(ctx: LiftContext, mask: ir.Value, kvlen: ir.Value, t: ir.DType) -> ir.Value:
    """attn_mask as an additive bias, its last dim padded to kvlen (False / -inf)."""
    r = ctx.rank(mask)
    if r is None:
        raise ctx.unsupported("Attention attn_mask of unknown rank")
    tm = dtype(ctx, mask)
    pad = t2(ctx, "Maximum", t2(ctx, "Sub", kvlen, _dim(ctx, mask, r - 1)), ctx.i32(0, "z"))
    pads = _reshape_i32(ctx, [ctx.i32([0] * (2 * r - 1), "p0"), pad], [r, 2])
    fill = ctx.const(False, "f", D.BOOL) if tm is D.BOOL else scalar(ctx, -np.inf, tm, "ninf")
    mask = op(ctx, "PadV2", [mask, pads, fill], tm, T=tm, Tpaddings=I32)
    return _neg_inf_where_not(ctx, mask, t) if tm is D.BOOL else ctx.cast(mask, t)


def _reshape_i32(ctx: LiftContext, parts: list[ir.Value], shape: list[int]) -> ir.Value:
    vecs = [op(ctx, "Reshape", [p, ctx.i32([-1], "v")], I32, T=I32, Tshape=I32) for p in parts]
    flat = op(ctx, "ConcatV2", [*vecs, ctx.i32(0, "axis")], I32, T=I32, N=len(vecs), Tidx=I32)
    return op(ctx, "Reshape", [flat, ctx.i32(shape, "shape")], I32, T=I32, Tshape=I32)


def _padding_bias(ctx: LiftContext, nonpad: ir.Value, kvlen: ir.Value, t: ir.DType) -> ir.Value:
    j = op(ctx, "Range", [ctx.i32(0, "z"), kvlen, ctx.i32(1, "o")], I32, Tidx=I32)
    n = op(ctx, "Reshape", [ctx.cast(nonpad, I32), ctx.i32([-1, 1, 1, 1], "b111")], I32, T=I32, Tshape=I32)
    return _neg_inf_where_not(ctx, op(ctx, "Less", [j, n], D.BOOL, T=I32), t)


def _scores(ctx: LiftContext, node: ir.Node, q: ir.Value, k: ir.Value, t: ir.DType,
            head: int | None) -> ir.Value:
    """softcap(Q sqrt(scale) @ (K sqrt(scale))^T); scale defaults to 1/sqrt(head size)."""
    scale = ctx.attr(node, "scale", None)
    if scale is None:
        if head is None:
            raise ctx.unsupported("Attention without scale needs a static head size")
        scale = 1 / math.sqrt(head)
    s = scalar(ctx, math.sqrt(float(scale)), t, "sqrt_scale")
    qs, ks = t2(ctx, "Mul", q, s), t2(ctx, "Mul", k, s)
    qk = op(ctx, "BatchMatMulV2", [qs, ks], t, T=t, adj_x=False, adj_y=True)
    cap = float(ctx.attr(node, "softcap", 0.0))
    if cap > 0:
        c = scalar(ctx, cap, t, "softcap")
        qk = t2(ctx, "Mul", t1(ctx, "Tanh", t2(ctx, "RealDiv", qk, c)), c)
    return qk


def _heads_of(ctx: LiftContext, node: ir.Node, x: ir.Value, attr: str) -> int:
    if ctx.rank(x) == 3:
        return int_attr(ctx, node, attr, 0)
    h = ctx.shape(x)[1]
    if not isinstance(h, int):
        raise ctx.unsupported("Attention needs static head counts")
    return h


@TF_LIFT.register("Attention")
def lift_attention(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    q, k, v, mask, past_k, past_v, nonpad = (ctx.input(node, i) for i in range(7))
    t, rank = dtype(ctx, q), ctx.rank(q)
    if rank not in (3, 4):
        raise ctx.unsupported("Attention needs 3-D or 4-D inputs of known rank")
    qh, kvh = _heads_of(ctx, node, q, "q_num_heads"), _heads_of(ctx, node, k, "kv_num_heads")
    last = ctx.shape(q)[-1] if ctx.shape(q) is not None else None
    head = None if not isinstance(last, int) else last // qh if rank == 3 else last
    if rank == 3:
        q, k, v = _split_heads(ctx, q, qh), _split_heads(ctx, k, kvh), _split_heads(ctx, v, kvh)
    cat = {"T": t, "N": 2, "Tidx": I32}
    pk = k if past_k is None else op(ctx, "ConcatV2", [past_k, k, ctx.i32(2, "seq")], t, **cat)
    pv = v if past_v is None else op(ctx, "ConcatV2", [past_v, v, ctx.i32(2, "seq")], t, **cat)
    kvlen = _dim(ctx, pk, 2)
    biases = [] if mask is None else [_mask_bias(ctx, mask, kvlen, t)]
    biases += _position_masks(ctx, node, q, pk, past_k, nonpad, t)
    if nonpad is not None:
        biases.append(_padding_bias(ctx, nonpad, kvlen, t))
    kk, vv = pk, pv
    if qh != kvh:
        kk, vv = _repeat_heads(ctx, pk, qh // kvh, qh), _repeat_heads(ctx, pv, qh // kvh, qh)
    qk = _scores(ctx, node, q, kk, t, head)
    bias = None
    for b in biases:
        bias = b if bias is None else t2(ctx, "AddV2", bias, b)
    scored = qk if bias is None else t2(ctx, "AddV2", qk, bias)
    probs = _softmax(ctx, node, scored, bias, t)
    y = op(ctx, "BatchMatMulV2", [probs, vv], t, T=t, adj_x=False, adj_y=False)
    if rank == 3:
        y = _transpose(ctx, y, [0, 2, 1, 3])
        y = _reshape(ctx, y, [_dim(ctx, y, 0), _dim(ctx, y, 1), ctx.i32(-1, "m1")])
    mode = int_attr(ctx, node, "qk_matmul_output_mode", 0)
    qk_out = {2: scored, 3: probs}.get(mode, qk)
    return [y, pk, pv, qk_out][: len(node.outputs)]


def _softmax(ctx: LiftContext, node: ir.Node, scored: ir.Value, bias: ir.Value | None,
             t: ir.DType) -> ir.Value:
    """Softmax on the last axis (in softmax_precision), 0 on rows the bias masks completely."""
    prec = int_attr(ctx, node, "softmax_precision", 0)
    w = D.from_onnx(prec) if prec else t
    probs = t1(ctx, "Softmax", ctx.cast(scored, w))
    if bias is not None:
        row_max = op(ctx, "Max", [bias, ctx.i32([-1], "last")], t, T=t, Tidx=I32, keep_dims=True)
        dead = op(ctx, "Equal", [row_max, scalar(ctx, -np.inf, t, "ninf")], D.BOOL, T=t)
        probs = op(ctx, "SelectV2", [dead, t1(ctx, "ZerosLike", probs), probs], w, T=w)
    return ctx.cast(probs, t)
