"""Lift: RotaryEmbedding (ONNX opset 23), as the ONNX reference computes it.

Works in the layout [batch, seq, heads, head_size] (a 4-D input [batch, heads, seq, head_size] is
transposed there and back; a 3-D input [batch, seq, hidden] is split into ``num_heads``). The
first ``rotary_embedding_dim`` features are rotated by (cos, sin) pairs taken from the caches
(gathered by position_ids when given), either as halves or interleaved; the rest pass through.
"""

from __future__ import annotations

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import dtype, int_attr, op, t2

D = ir.DType


def _slice(ctx: LiftContext, x: ir.Value, t: ir.DType, start: int, size: int, step: int = 1) -> ir.Value:
    """x[..., start:start+size:step] of a rank-4 x (size -1: to the end)."""
    end = 0 if size < 0 else start + size
    mask = 0b0111 | (0b1000 if size < 0 else 0)
    return op(ctx, "StridedSlice", [x, ctx.i32([0, 0, 0, start], "begin"), ctx.i32([0, 0, 0, end], "end"),
                                    ctx.i32([1, 1, 1, step], "strides")], t, T=t, Index=D.INT32,
              begin_mask=0b0111, end_mask=mask, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0)


def _cache(ctx: LiftContext, cache: ir.Value, pos: ir.Value | None, t: ir.DType) -> ir.Value:
    if pos is not None:
        cache = op(ctx, "GatherV2", [cache, pos, ctx.i32(0, "axis")], t, Tparams=t, Tindices=dtype(ctx, pos),
                   Taxis=D.INT32, batch_dims=0)
    return op(ctx, "ExpandDims", [cache, ctx.i32(2, "heads")], t, T=t, Tdim=D.INT32)


def _concat(ctx: LiftContext, parts: list[ir.Value], t: ir.DType) -> ir.Value:
    return op(ctx, "ConcatV2", [*parts, ctx.i32(-1, "last")], t, T=t, N=len(parts), Tidx=D.INT32)


@TF_LIFT.register("RotaryEmbedding")
def lift_rotary_embedding(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, cos, sin, pos = (ctx.input(node, i) for i in range(4))
    t, rank = dtype(ctx, x), ctx.rank(x)
    half = int_attr(ctx, node, "rotary_embedding_dim", 0) // 2
    cshape = ctx.shape(cos)
    if not half and cshape and isinstance(cshape[-1], int):
        half = cshape[-1]
    if rank not in (3, 4) or not half:
        raise ctx.unsupported("RotaryEmbedding needs a 3-D/4-D input and a static rotary dimension")
    shape = op(ctx, "Shape", [x], D.INT32, T=t, out_type=D.INT32)
    if rank == 4:
        y = op(ctx, "Transpose", [x, ctx.i32([0, 2, 1, 3], "perm")], t, T=t, Tperm=D.INT32)
    else:
        bs = op(ctx, "Slice", [shape, ctx.i32([0], "b"), ctx.i32([2], "n")], D.INT32, T=D.INT32,
                Index=D.INT32)
        heads = ctx.i32([int_attr(ctx, node, "num_heads", 0), -1], "heads")
        new = _concat(ctx, [bs, heads], D.INT32)
        y = op(ctx, "Reshape", [x, new], t, T=t, Tshape=D.INT32)
    c, s = _cache(ctx, cos, pos, t), _cache(ctx, sin, pos, t)
    interleaved = int_attr(ctx, node, "interleaved", 0)
    x1 = _slice(ctx, y, t, 0, 2 * half, 2) if interleaved else _slice(ctx, y, t, 0, half)
    x2 = _slice(ctx, y, t, 1, 2 * half - 1, 2) if interleaved else _slice(ctx, y, t, half, half)
    real = t2(ctx, "Sub", t2(ctx, "Mul", c, x1), t2(ctx, "Mul", s, x2))
    imag = t2(ctx, "AddV2", t2(ctx, "Mul", s, x1), t2(ctx, "Mul", c, x2))
    if interleaved:
        pairs = op(ctx, "Pack", [real, imag], t, T=t, N=2, axis=-1)
        rot_shape = op(ctx, "Shape", [_slice(ctx, y, t, 0, 2 * half)], D.INT32, T=t, out_type=D.INT32)
        rotated = op(ctx, "Reshape", [pairs, rot_shape], t, T=t, Tshape=D.INT32)
    else:
        rotated = _concat(ctx, [real, imag], t)
    out = _concat(ctx, [rotated, _slice(ctx, y, t, 2 * half, -1)], t)
    if rank == 4:
        return [op(ctx, "Transpose", [out, ctx.i32([0, 2, 1, 3], "perm")], t, T=t, Tperm=D.INT32)]
    return [op(ctx, "Reshape", [out, shape], t, T=t, Tshape=D.INT32)]
