"""Normalization: FusedBatchNorm/V2/V3 and LRN (FORMATS.md 8: FusedBatchNorm's epsilon
defaults to 1e-4 and is_training to true; LRN size = 2r+1, alpha_onnx = alpha_tf * size). TF
normalizes over the channel axis, which is last for NHWC: wrap in Transposes to channels-first
(a later layout pass cancels them)."""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from . import TF_IMPORT
from ._context import ImportContext, TfNode
from .conv2 import _LAST, _wrap

_RESERVES = {"FusedBatchNorm": 2, "FusedBatchNormV2": 2, "FusedBatchNormV3": 3}


def _reserve_output(ctx: ImportContext, node: TfNode, i: int) -> ir.Value:
    """The reserve_space outputs hold kernel-private data only FusedBatchNormGrad reads
    (training). They get a Value nothing produces, named so that a graph that does use one
    fails export/verification naming it."""
    return ir.Value(f"{ctx.b.prefix}reserve_space_{i - 2}_unsupported_training_output")


def _layout(ctx: ImportContext, node: TfNode, x: ir.Value) -> tuple[bool, int]:
    fmt = ctx.attr(node, "data_format", b"NHWC")
    if fmt not in _LAST:
        raise ctx.unsupported(f"data_format {fmt.decode()}", node)
    rank = len(x.shape) if x.shape is not None else (5 if fmt in (b"NDHWC", b"NCDHW") else 4)
    return _LAST[fmt], rank


def _training(ctx: ImportContext, node: TfNode, inputs: list[ir.Value], last: bool, rank: int,
              eps: float) -> list[ir.Value]:
    """(y, batch_mean, batch_variance) from batch statistics, in TF's layout (no Transposes)."""
    x, scale, offset, mean, var = inputs
    factor = float(ctx.attr(node, "exponential_avg_factor", 1.0))
    dtype: ir.DType = ctx.attr(node, "U", None) or ctx.attr(node, "T")
    axes = ctx.i64([0, *range(2, rank)] if not last else list(range(rank - 1)), "axes")

    xf = ctx.cast(x, dtype) if ctx.attr(node, "T") is not dtype else x
    batch_mean = ctx.b.op("ReduceMean", [xf, axes], keepdims=1)
    centred = ctx.b.op("Sub", [xf, batch_mean])
    biased = ctx.b.op("ReduceMean", [ctx.b.op("Mul", [centred, centred]), axes], keepdims=1)
    inv = ctx.b.op("Reciprocal", [ctx.b.op("Sqrt", [ctx.b.op("Add", [
        biased, ctx.const(np.full((), eps, dtype.numpy), "eps")])])])
    # scale/offset are [C]: reshape to broadcast on the channel axis
    cshape = ctx.i64([-1] if last else [-1, *[1] * (rank - 2)], "cshape")
    y = ctx.b.op("Add", [ctx.b.op("Mul", [ctx.b.op("Mul", [centred, inv]),
                                         ctx.b.op("Reshape", [scale, cshape])]),
                         ctx.b.op("Reshape", [offset, cshape])])
    if ctx.attr(node, "T") is not dtype:
        y = ctx.cast(y, ctx.attr(node, "T"))
    bmean = ctx.b.op("Reshape", [batch_mean, ctx.i64([-1], "flat")])
    bvar = ctx.b.op("Reshape", [biased, ctx.i64([-1], "flat")])
    count = ctx.cast(ctx.b.op("Div", [ctx.b.op("Size", [x]), ctx.b.op("Size", [bmean])]), dtype)
    one = ctx.const(np.ones((), dtype.numpy), "one")
    bvar = ctx.b.op("Mul", [bvar, ctx.b.op("Div", [count, ctx.b.op("Max", [
        ctx.b.op("Sub", [count, one]), one])])])
    if factor != 1.0:
        f = ctx.const(np.full((), factor, dtype.numpy), "factor")
        keep = ctx.const(np.full((), 1.0 - factor, dtype.numpy), "keep")
        bmean, bvar = (ctx.b.op("Add", [ctx.b.op("Mul", [old, keep]), ctx.b.op("Mul", [new, f])])
                       for old, new in ((mean, bmean), (var, bvar)))
    return [y, bmean, bvar]


@TF_IMPORT.register("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def import_fusedbatchnorm(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    """Outputs (y, batch_mean, batch_variance, reserve_space_1..2 or ..3). Inference
    (is_training=false) passes mean/variance through as batch_mean/batch_variance. Training
    mode uses batch statistics: the biased variance to normalize, the Bessel-corrected one as
    batch_variance, both blended with the inputs by exponential_avg_factor."""
    x, scale, offset, mean, var = ctx.inputs(node)
    last, rank = _layout(ctx, node, x)
    eps = float(ctx.attr(node, "epsilon", 1e-4))
    reserves = [_reserve_output(ctx, node, i) for i in range(3, 3 + _RESERVES[node.op])]
    if not ctx.attr(node, "is_training", True):
        y = _wrap(ctx, last, x, rank, lambda t: ctx.b.op(
            "BatchNormalization", [t, scale, offset, mean, var], epsilon=eps))
        return [y, ctx.b.op("Identity", [mean]), ctx.b.op("Identity", [var]), *reserves]
    return [*_training(ctx, node, [x, scale, offset, mean, var], last, rank, eps), *reserves]


@TF_IMPORT.register("LRN")
def import_lrn(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF: x / (bias + alpha * sum over d-r..d+r of x^2)^beta on the last axis (always 4-D
    # NHWC); ONNX divides alpha by size and works on axis 1
    radius = int(ctx.attr(node, "depth_radius", 5))
    size = 2 * radius + 1
    kw = {"size": size, "alpha": float(ctx.attr(node, "alpha", 1.0)) * size,
          "beta": float(ctx.attr(node, "beta", 0.5)), "bias": float(ctx.attr(node, "bias", 1.0))}
    return [_wrap(ctx, True, ctx.input(node, 0), 4, lambda x: ctx.b.op("LRN", [x], **kw))]


@TF_IMPORT.register("Erfc")
def import_erfc(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # tf.nn.gelu(approximate=False) = 0.5 * x * erfc(-x / sqrt(2)); 1 - erf is exact enough
    # there (it loses relative precision only in erfc's far tail, x >> 1)
    dtype: ir.DType = ctx.attr(node, "T")
    one = ctx.const(np.ones((), dtype.numpy), "one")
    return [ctx.b.op("Sub", [one, ctx.b.op("Erf", [ctx.input(node, 0)])])]
