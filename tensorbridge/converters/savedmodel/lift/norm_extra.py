"""Lift: RMSNormalization, LpNormalization, MeanVarianceNormalization and training-mode
BatchNormalization (lift/norm.py hands it over), as plain TF arithmetic in the ONNX layout.

RMSNormalization follows its ONNX function body: X cast to ``stash_type``,
``X / sqrt(mean(X * X) + epsilon)`` over axes ``axis..rank-1``, cast back, times Scale (an
input of unknown rank reduces over ``Range(axis, Rank(X))``). LpNormalization divides by
``sum(|x|^p) ^ (1/p)`` (p 1 or 2) along ``axis`` with DivNoNan: an all-zero slice gives 0, as
the ONNX reference does. MeanVarianceNormalization is its function body,
``(X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9)`` over ``axes``. Training-mode
BatchNormalization normalizes with the batch statistics (mean and population variance over
every axis but 1) and outputs ``running = input * momentum + batch * (1 - momentum)``; half
inputs are computed in float32 (numpy's mean accumulates them in float32 too).
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import scalar, typed_op

D = ir.DType
I32 = D.INT32
_HALF = (D.FLOAT16, D.BFLOAT16)


def _reduce(ctx: LiftContext, name: str, x: ir.Value, axes: ir.Value, keep: bool = True) -> ir.Value:
    t = ctx.dtype(x)
    return ctx.tf(name, [x, axes], T=t, Tidx=I32, keep_dims=keep, types=[ir.TensorType(t)])


def _trailing_axes(ctx: LiftContext, x: ir.Value, axis: int) -> ir.Value:
    """The axes ``axis..rank-1`` of x as an int32 vector (a Range on Rank(x) when unknown)."""
    r = ctx.rank(x)
    if r is not None:
        if not -r <= axis < r:
            raise ctx.unsupported(f"axis {axis} out of range for rank {r}")
        return ctx.i32(list(range(axis % r, r)), "axes")
    rank = ctx.tf("Rank", [x], T=ctx.dtype(x), types=[ir.TensorType(I32, ())])
    start = ctx.i32(axis, "axis")
    if axis < 0:
        start = typed_op(ctx, "AddV2", [rank, start], I32, ())
    return ctx.tf("Range", [start, rank, ctx.i32(1, "one")], Tidx=I32, types=[ir.TensorType(I32, (None,))])


@TF_LIFT.register("RMSNormalization", since=23)
def lift_rms_norm(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, scale = ctx.input(node, 0), ctx.input(node, 1)
    t = ctx.dtype(x)
    stash = D.from_onnx(int(node.attr("stash_type", 1)))
    if stash not in (D.FLOAT, D.DOUBLE, D.FLOAT16, D.BFLOAT16):
        raise ctx.unsupported(f"RMSNormalization stash_type {stash} is not a float type")
    axes = _trailing_axes(ctx, x, int(node.attr("axis", -1)))
    xu = ctx.cast(x, stash)
    mean_sq = _reduce(ctx, "Mean", typed_op(ctx, "Mul", [xu, xu], stash), axes)
    eps = scalar(ctx, np.float32(node.attr("epsilon", 1e-5)), stash, "eps")
    rms = typed_op(ctx, "Sqrt", [typed_op(ctx, "AddV2", [mean_sq, eps], stash)], stash)
    normalized = ctx.cast(ctx.cast(typed_op(ctx, "RealDiv", [xu, rms], stash, x.shape), t), ctx.dtype(scale))
    return [typed_op(ctx, "Mul", [normalized, scale], ctx.dtype(scale))]


@TF_LIFT.register("LpNormalization")
def lift_lp_norm(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = ctx.input(node, 0)
    t, p = ctx.dtype(x), int(node.attr("p", 2))
    if p not in (1, 2):
        raise ctx.unsupported(f"LpNormalization p={p}: ONNX allows only 1 and 2")
    axis = int(node.attr("axis", -1))
    r = ctx.rank(x)
    if r is not None and not -r <= axis < r:
        raise ctx.unsupported(f"axis {axis} out of range for rank {r}")
    ax = ctx.i32([axis], "axis")
    if p == 1:
        norm = _reduce(ctx, "Sum", typed_op(ctx, "Abs", [x], t), ax)
    else:
        norm = typed_op(ctx, "Sqrt", [_reduce(ctx, "Sum", typed_op(ctx, "Square", [x], t), ax)], t)
    return [typed_op(ctx, "DivNoNan", [x, norm], t, x.shape)]


@TF_LIFT.register("MeanVarianceNormalization")
def lift_mvn(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = ctx.input(node, 0)
    t, r = ctx.dtype(x), ctx.rank(x)
    axes = [int(a) for a in node.attr("axes", (0, 2, 3))]
    if r is not None and any(not -r <= a < r for a in axes):
        raise ctx.unsupported(f"axes {axes} out of range for rank {r}")
    ax = ctx.i32(axes, "axes")
    mean = _reduce(ctx, "Mean", x, ax)
    mean_of_sq = _reduce(ctx, "Mean", typed_op(ctx, "Square", [x], t), ax)
    var = typed_op(ctx, "Sub", [mean_of_sq, typed_op(ctx, "Square", [mean], t)], t)
    std = typed_op(ctx, "AddV2", [typed_op(ctx, "Sqrt", [var], t), scalar(ctx, 1e-9, t, "eps")], t)
    return [typed_op(ctx, "RealDiv", [typed_op(ctx, "Sub", [x, mean], t), std], t, x.shape)]


def lift_batch_norm_training(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """BatchNormalization with training_mode=1 (opset 14+): Y, running_mean, running_var."""
    x, scale, bias, mean, var = (ctx.input(node, i) for i in range(5))
    t, r = ctx.dtype(x), ctx.rank(x)
    if r is None or r < 2:
        raise ctx.unsupported("training-mode BatchNormalization needs an input of known rank >= 2")
    w = D.FLOAT if t in _HALF else t
    xw = ctx.cast(x, w)
    axes = ctx.i32([0, *range(2, r)], "axes")
    bmean = _reduce(ctx, "Mean", xw, axes)  # [1, C, 1, ...]
    centered = typed_op(ctx, "Sub", [xw, bmean], w)
    bvar = _reduce(ctx, "Mean", typed_op(ctx, "Square", [centered], w), axes)
    eps = scalar(ctx, np.float32(node.attr("epsilon", 1e-5)), w, "eps")
    inv = typed_op(ctx, "Rsqrt", [typed_op(ctx, "AddV2", [bvar, eps], w)], w)
    shape = ctx.i32([-1] + [1] * (r - 2), "per_channel")
    s, b = (ctx.tf("Reshape", [ctx.cast(v, w), shape], T=w, Tshape=I32, types=[ir.TensorType(w)])
            for v in (scale, bias))
    scaled = typed_op(ctx, "Mul", [typed_op(ctx, "Mul", [centered, inv], w), s], w)
    y = typed_op(ctx, "AddV2", [scaled, b], w, x.shape)
    outs = [ctx.cast(y, t)]
    momentum = float(node.attr("momentum", 0.9))
    for batch, running in ((bmean, mean), (bvar, var))[: len(node.outputs) - 1]:
        flat = ctx.tf("Reshape", [batch, ctx.i32([-1], "flat")], T=w, Tshape=I32, types=[ir.TensorType(w)])
        kept = typed_op(ctx, "Mul", [ctx.cast(running, w), scalar(ctx, momentum, w, "momentum")], w)
        rest = typed_op(ctx, "Mul", [flat, scalar(ctx, 1 - momentum, w, "keep")], w)
        new = typed_op(ctx, "AddV2", [kept, rest], w)
        outs.append(ctx.cast(new, ctx.dtype(running)))
    return outs
