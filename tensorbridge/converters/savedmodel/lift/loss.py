"""Lift: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (= NLL of LogSoftmax on axis 1).

The class picked per element is a one-hot select over the class axis (TF ``OneHot`` gives an
all-false row for a target outside [0, C), so ``ignore_index`` needs no gather of it); the weight
of an ignored element is 0, and ``mean`` divides by the sum of the weights, as ONNX defines it.
"""

from __future__ import annotations

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import dtype, op, str_attr, t1, t2
from .activations import log_softmax

D = ir.DType


def _all_axes(ctx: LiftContext, x: ir.Value) -> ir.Value:
    rank = op(ctx, "Rank", [x], D.INT32, T=dtype(ctx, x))
    return op(ctx, "Range", [ctx.i32(0, "zero"), rank, ctx.i32(1, "one")], D.INT32, Tidx=D.INT32)


def _weights(ctx: LiftContext, node: ir.Node, target: ir.Value, weight: ir.Value | None,
             t: ir.DType) -> ir.Value | None:
    """Per-element weights [N, d1...] (None: all ones)."""
    ignore = ctx.attr(node, "ignore_index", None)
    ti = dtype(ctx, target)
    valid = None
    if ignore is not None:
        ig = ctx.const(int(ignore), "ignore_index", ti)
        valid = op(ctx, "NotEqual", [target, ig], D.BOOL, T=ti)
    if weight is None:
        return None if valid is None else ctx.cast(valid, t)
    safe = target if valid is None else op(ctx, "SelectV2", [valid, target, t1(ctx, "ZerosLike", target)], ti,
                                           T=ti)
    w = op(ctx, "GatherV2", [weight, safe, ctx.i32(0, "axis")], t, Tparams=t, Tindices=ti, Taxis=D.INT32,
           batch_dims=0)
    return w if valid is None else op(ctx, "SelectV2", [valid, w, t1(ctx, "ZerosLike", w)], t, T=t)


def nll(ctx: LiftContext, node: ir.Node, logp: ir.Value, target: ir.Value,
        weight: ir.Value | None) -> ir.Value:
    """The loss of log-probabilities ``logp`` [N, C, d1...] for classes ``target`` [N, d1...]."""
    t, ti = dtype(ctx, logp), dtype(ctx, target)
    reduction = str_attr(ctx, node, "reduction", "mean")
    if reduction not in ("none", "sum", "mean"):
        raise ctx.unsupported(f"reduction={reduction!r}")
    shape = op(ctx, "Shape", [logp], D.INT32, T=t, out_type=D.INT32)
    depth = op(ctx, "GatherV2", [shape, ctx.i32(1, "c"), ctx.i32(0, "axis")], D.INT32, Tparams=D.INT32,
               Tindices=D.INT32, Taxis=D.INT32, batch_dims=0)
    on, off = ctx.const(True, "on", D.BOOL), ctx.const(False, "off", D.BOOL)
    hot = op(ctx, "OneHot", [target, depth, on, off], D.BOOL, T=D.BOOL, TI=ti, axis=1)
    chosen = op(ctx, "SelectV2", [hot, logp, t1(ctx, "ZerosLike", logp)], t, T=t)
    picked = op(ctx, "Sum", [chosen, ctx.i32([1], "class_axis")], t, T=t, Tidx=D.INT32, keep_dims=False)
    loss = t1(ctx, "Neg", picked)
    w = _weights(ctx, node, target, weight, t)
    if w is not None:
        loss = t2(ctx, "Mul", loss, w)
    if reduction == "none":
        return loss
    if reduction == "mean" and w is None:
        return op(ctx, "Mean", [loss, _all_axes(ctx, loss)], t, T=t, Tidx=D.INT32, keep_dims=False)
    total = op(ctx, "Sum", [loss, _all_axes(ctx, loss)], t, T=t, Tidx=D.INT32, keep_dims=False)
    if reduction == "sum":
        return total
    wsum = op(ctx, "Sum", [w, _all_axes(ctx, w)], t, T=t, Tidx=D.INT32, keep_dims=False)
    return t2(ctx, "RealDiv", total, wsum)


@TF_LIFT.register("NegativeLogLikelihoodLoss")
def lift_nll_loss(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return [nll(ctx, node, node.inputs[0], node.inputs[1], ctx.input(node, 2))]


@TF_LIFT.register("SoftmaxCrossEntropyLoss")
def lift_softmax_cross_entropy_loss(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    logp = log_softmax(ctx, node.inputs[0], 1)
    loss = nll(ctx, node, logp, node.inputs[1], ctx.input(node, 2))
    return [loss, logp][: len(node.outputs)]
