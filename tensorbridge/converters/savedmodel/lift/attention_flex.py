"""Lift: FlexAttention (ai.onnx.preview), as the ONNX reference computes it.

``scores = (Q * sqrt(scale)) @ (K * sqrt(scale))^T`` in the input type (sqrt(scale) rounded to
float32 first; scale defaults to 1/sqrt(head_size)), then cast to the softmax precision
(``softmax_precision``, else float32 for half inputs and the input type otherwise); the
optional ``score_mod`` subgraph, Softmax on the last axis, the optional ``prob_mod`` subgraph,
and ``probs @ V`` in that precision, cast back. K and V heads are repeated for grouped-query
attention (query head h reads K/V head h // (Hq / Hkv)).

A modifier subgraph is a function of one [B, Hq, L, S] tensor: it is inlined, each of its
nodes lifted in place by its own TF_LIFT handler onto the scores (or probabilities) tensor,
its initializers becoming constants and its outer-scope reads staying as they are. When a node
of it cannot be lifted, everything built for it is removed and the FlexAttention is refused.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir
from tensorbridge.errors import UnsupportedOpError

from ._context import TF_LIFT, LiftContext
from ._mathutil import typed_op
from .attention import _repeat_heads

D = ir.DType
DOMAIN = "ai.onnx.preview"
_FLOATS = (D.FLOAT, D.DOUBLE, D.FLOAT16, D.BFLOAT16)


def _static_dim(v: ir.Value, axis: int) -> int | str | None:
    return v.shape[axis] if v.shape is not None and len(v.shape) == 4 else None


def _precision(ctx: LiftContext, node: ir.Node, t: ir.DType) -> ir.DType:
    prec = node.attr("softmax_precision", None)
    if prec is None:
        return D.FLOAT if t in (D.FLOAT16, D.BFLOAT16) else t
    w = D.from_onnx(int(prec))
    if w not in _FLOATS:
        raise ctx.unsupported(f"FlexAttention softmax_precision {w} is not a float type")
    return w


def _sqrt_scale(ctx: LiftContext, node: ir.Node, q: ir.Value, t: ir.DType) -> ir.Value:
    """sqrt(float32(scale)) as ``t``; scale defaults to 1/sqrt(head_size) (float64)."""
    scale, head = node.attr("scale", None), _static_dim(q, 3)
    if scale is not None or isinstance(head, int):
        scale = 1.0 / np.sqrt(head) if scale is None else scale
        return ctx.const(np.asarray(np.sqrt(np.float32(scale)), dtype=t.numpy), "sqrt_scale", t)
    shape = ctx.tf("Shape", [q], T=t, out_type=D.INT32, types=[ir.TensorType(D.INT32, (4,))])
    e = ctx.tf("StridedSlice", [shape, ctx.i32([3], "b"), ctx.i32([4], "e"), ctx.i32([1], "s")], T=D.INT32,
               Index=D.INT32, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
               shrink_axis_mask=1, types=[ir.TensorType(D.INT32, ())])
    inv = typed_op(ctx, "Rsqrt", [ctx.cast(e, D.DOUBLE)], D.DOUBLE, ())
    return ctx.cast(typed_op(ctx, "Sqrt", [ctx.cast(inv, D.FLOAT)], D.FLOAT, ()), t)


def _scores(ctx: LiftContext, node: ir.Node, q: ir.Value, k: ir.Value, t: ir.DType, shape) -> ir.Value:
    s = _sqrt_scale(ctx, node, q, t)
    qs, ks = typed_op(ctx, "Mul", [q, s], t), typed_op(ctx, "Mul", [k, s], t)
    return typed_op(ctx, "BatchMatMulV2", [qs, ks], t, shape, adj_x=False, adj_y=True)


@TF_LIFT.register("FlexAttention", domain=DOMAIN)
def lift_flex_attention(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    q, k, v = (ctx.input(node, i) for i in range(3))
    t = ctx.dtype(q)
    if t not in _FLOATS or any(ctx.rank(x) != 4 for x in (q, k, v)):
        raise ctx.unsupported("FlexAttention needs rank-4 float Q, K and V")
    w = _precision(ctx, node, t)
    qh, kvh = _static_dim(q, 1), _static_dim(k, 1)
    if qh is None or (qh != kvh and not (isinstance(qh, int) and isinstance(kvh, int) and qh % kvh == 0)):
        raise ctx.unsupported("FlexAttention grouped-query attention needs static head counts, "
                              "Hq a multiple of Hkv")
    if qh != kvh:
        k, v = _repeat_heads(ctx, k, qh // kvh, qh), _repeat_heads(ctx, v, qh // kvh, qh)
    shape = (_static_dim(q, 0), qh, _static_dim(q, 2), _static_dim(k, 2))
    scores = ctx.cast(_scores(ctx, node, q, k, t, shape), w)
    scores = _modify(ctx, node, "score_mod", scores, w, shape)
    probs = typed_op(ctx, "Softmax", [scores], w, shape)
    probs = _modify(ctx, node, "prob_mod", probs, w, shape)
    y = typed_op(ctx, "BatchMatMulV2", [probs, ctx.cast(v, w)], w, adj_x=False, adj_y=False)
    return [ctx.cast(y, ctx.dtype(v))]


def _modify(ctx: LiftContext, node: ir.Node, attr: str, x: ir.Value, w: ir.DType, shape) -> ir.Value:
    """``x`` through the subgraph in attribute ``attr`` (inlined), or ``x`` when absent."""
    g = node.attr(attr, None)
    if g is None:
        return x
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise ctx.unsupported(f"FlexAttention {attr} must have one input and one output")
    x.type = ir.TensorType(w, shape)
    inner: list[LiftContext] = []
    try:
        y = _inline(ctx, g, x, inner, attr)
    except UnsupportedOpError:
        _undo(ctx, inner)
        raise
    if y.dtype is not w:
        raise ctx.unsupported(f"FlexAttention {attr} output is {y.dtype}, not {w}")
    return y


def _inline(ctx: LiftContext, g: ir.Graph, x: ir.Value, inner: list[LiftContext], attr: str) -> ir.Value:
    table = TF_LIFT.resolve(ctx.opset)
    env: dict[ir.Value, ir.Value] = {g.inputs[0]: x}
    for name, init in g.initializers.items():
        env[init] = ctx.const(init.const.numpy(), name, init.dtype)
    for sub in g:
        key = ("" if sub.domain in ("", "ai.onnx") else sub.domain, sub.op_type)
        handler = table.get(key)
        if handler is None or any(True for _ in sub.subgraphs()):
            raise ctx.unsupported(f"FlexAttention {attr}: {sub.op_type} has no inline lifting")
        clone = ir.Node(sub.op_type, [_outer(ctx, g, env, i, attr) for i in sub.inputs],
                        domain=sub.domain, name=f"{ctx.node.name}/{attr}/{sub.name or sub.op_type}",
                        num_outputs=len(sub.outputs))
        clone.attrs = dict(sub.attrs)
        for old, new in zip(sub.outputs, clone.outputs):
            new.type = old.type
        ctx.node.graph.insert_before(ctx.node, clone)
        sctx = LiftContext(ctx.model, clone, ctx.opset, ctx.infer)
        inner.append(sctx)
        try:
            outs = list(handler.fn(sctx, clone))
        except UnsupportedOpError as e:  # the inner reason first: it may say TF has no way
            raise ctx.unsupported(f"{e.hint or e} (a {sub.op_type} of FlexAttention's {attr})") from e
        for old, new in zip(sub.outputs, outs):
            if new is not None and new.type is None:
                new.type = old.type
            if new is not None:
                env[old] = new
        clone.detach_inputs()
        ctx.node.graph.remove(clone)
    y = _outer(ctx, g, env, g.outputs[0], attr)
    if y is None or y.dtype is None:
        raise ctx.unsupported(f"FlexAttention {attr} output has no element type")
    return y


def _outer(ctx: LiftContext, g: ir.Graph, env: dict[ir.Value, ir.Value], v: ir.Value | None,
           attr: str) -> ir.Value | None:
    """What subgraph value ``v`` is in the main graph: its lifted value, or itself when it is
    an outer-scope value the subgraph reads."""
    if v is None or v in env:
        return None if v is None else env[v]
    if v.graph() is g:
        raise ctx.unsupported(f"FlexAttention {attr} reads {v.name!r}, which its lifting left out")
    return v


def _undo(ctx: LiftContext, inner: list[LiftContext]) -> None:
    """Remove what the inlined nodes built and their clones, latest first (the driver's undo
    cannot: a lifted clone has left the graph)."""
    g = ctx.node.graph
    for sctx in reversed(inner):
        for n in reversed(sctx.b.created):
            if n.graph is g:
                g.remove(n)
        if sctx.node.graph is g:
            sctx.node.detach_inputs()
            g.remove(sctx.node, safe=False)
        for v in sctx.consts:
            if not v.has_uses():
                g.remove_initializer(v)
