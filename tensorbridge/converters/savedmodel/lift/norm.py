"""Lift: BatchNormalization (inference), InstanceNormalization, LayerNormalization,
GroupNormalization, LRN and Dropout (inference).

The normalizations are plain TF arithmetic in the ONNX layout (element-wise ops broadcast the
same in any layout, so no Transposes): per-channel parameters are reshaped to [C, 1, ...].
BatchNormalization is ``x * s + (B - mean * s)`` with ``s = scale / sqrt(var + eps)``, computed
once in float64 when the parameters are constants (onnxruntime's CPU kernel computes the same
fused form). FusedBatchNormV3 would need NHWC and float32 statistics, and is no faster.
The statistics of Layer/GroupNormalization are computed in ``stash_type`` (float32 for
half inputs), as ONNX specifies. LRN is TF's LRN (NHWC, between Transposes) with
``depth_radius = (size - 1) / 2`` and ``alpha / size`` (FORMATS.md 8); an even ``size`` has an
asymmetric window TF's LRN lacks and is refused. Training-mode BatchNormalization (batch
statistics, running-statistics outputs) is lifted by norm_extra.py. Dropout is the identity
with an all-true mask when that is certain at conversion time: training_mode absent or a
constant false, or a constant ratio of 0. Otherwise the mask may be a random draw, which is
refused: a TF random mask would be well defined but not the one any ONNX runtime draws. A
runtime training_mode is refused too: the graph must work for every fed value, and converting
it as the identity would silently drop the dropout of training=true callers.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from .conv import I32, channels_last, to_nchw, transpose, ttype
from .norm_extra import lift_batch_norm_training


def _tf(ctx: LiftContext, op: str, inputs, dtype: ir.DType, **attrs) -> ir.Value:
    return ctx.tf(op, inputs, T=dtype, types=ttype(dtype), **attrs)


def _scalar(ctx: LiftContext, value: float, dtype: ir.DType, name: str = "eps") -> ir.Value:
    return ctx.const(np.asarray(value, dtype.numpy), name)


def _per_channel(ctx: LiftContext, v: ir.Value, rank: int, dtype: ir.DType) -> ir.Value:
    """A [C] parameter as [C, 1, ...] (rank - 2 ones), to broadcast over an N, C, ... tensor."""
    if rank <= 2:
        return v
    arr = ctx.constant_value(v)
    if arr is not None:
        return ctx.const(arr.reshape([-1] + [1] * (rank - 2)).astype(dtype.numpy), "per_channel")
    return ctx.tf("Reshape", [v, ctx.i32([-1] + [1] * (rank - 2), "shape")], T=dtype, Tshape=I32,
                  types=ttype(dtype))


def _mean(ctx: LiftContext, x: ir.Value, axes: list[int], dtype: ir.DType) -> ir.Value:
    return ctx.tf("Mean", [x, ctx.i32(axes, "axes")], T=dtype, Tidx=I32, keep_dims=True, types=ttype(dtype))


def _normalize(ctx: LiftContext, x: ir.Value, axes: list[int], eps: float, dtype: ir.DType):
    """(x - mean) / sqrt(var + eps), and the mean and 1/sqrt(var + eps), over ``axes``."""
    mean = _mean(ctx, x, axes, dtype)
    d = _tf(ctx, "Sub", [x, mean], dtype)
    var = _mean(ctx, _tf(ctx, "Square", [d], dtype), axes, dtype)
    inv = _tf(ctx, "Rsqrt", [_tf(ctx, "AddV2", [var, _scalar(ctx, eps, dtype)], dtype)], dtype)
    return _tf(ctx, "Mul", [d, inv], dtype), mean, inv


def batch_norm_consts(ctx: LiftContext, node: ir.Node):
    """(s, b) as float64 arrays when every parameter is a constant, else None."""
    arrs = [ctx.constant_value(ctx.input(node, i)) for i in range(1, 5)]
    if any(a is None for a in arrs):
        return None
    scale, bias, mean, var = (a.astype(np.float64) for a in arrs)
    s = scale / np.sqrt(var + float(node.attr("epsilon", 1e-5)))
    return s, bias - mean * s


@TF_LIFT.register("BatchNormalization")
def lift_batch_norm(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = ctx.input(node, 0)
    dtype, r = ctx.dtype(x), ctx.rank(x)
    if node.attr("training_mode", 0):
        return lift_batch_norm_training(ctx, node)
    if len(node.outputs) > 1:
        raise ctx.unsupported("BatchNormalization with running-statistics outputs needs training_mode=1")
    if r is None:
        raise ctx.unsupported("BatchNormalization needs an input of known rank")
    folded = batch_norm_consts(ctx, node)
    if folded is not None:
        shape = [-1] + [1] * (r - 2)
        s = ctx.const(folded[0].reshape(shape).astype(dtype.numpy), "scale")
        b = ctx.const(folded[1].reshape(shape).astype(dtype.numpy), "offset")
    else:
        scale, bias, mean, var = (ctx.input(node, i) for i in range(1, 5))
        eps = _scalar(ctx, float(node.attr("epsilon", 1e-5)), ctx.dtype(var))
        pdt = ctx.dtype(scale)
        inv = _tf(ctx, "Rsqrt", [_tf(ctx, "AddV2", [var, eps], pdt)], pdt)
        s1 = _tf(ctx, "Mul", [scale, inv], pdt)
        b1 = _tf(ctx, "Sub", [bias, _tf(ctx, "Mul", [mean, s1], pdt)], pdt)
        s, b = (_per_channel(ctx, ctx.cast(v, dtype), r, dtype) for v in (s1, b1))
    return [_tf(ctx, "AddV2", [_tf(ctx, "Mul", [x, s], dtype), b], dtype)]


@TF_LIFT.register("InstanceNormalization")
def lift_instance_norm(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """Over the spatial axes; under prepare_layout (NHWC data around) in NHWC between Transposes."""
    x, scale, bias = (ctx.input(node, i) for i in range(3))
    dtype, r = ctx.dtype(x), ctx.rank(x)
    if r is None or r < 3:
        raise ctx.unsupported("InstanceNormalization needs an input of known rank >= 3")
    eps = float(node.attr("epsilon", 1e-5))
    if getattr(ctx, "onnx_layout", False):
        xl = transpose(ctx, x, channels_last(r), dtype)
        y, _, _ = _normalize(ctx, xl, list(range(1, r - 1)), eps, dtype)
        y = _tf(ctx, "AddV2", [_tf(ctx, "Mul", [y, scale], dtype), bias], dtype)
        return [to_nchw(ctx, node, y, r, dtype)]
    y, _, _ = _normalize(ctx, x, list(range(2, r)), eps, dtype)
    y = _tf(ctx, "Mul", [y, _per_channel(ctx, scale, r, dtype)], dtype)
    return [_tf(ctx, "AddV2", [y, _per_channel(ctx, bias, r, dtype)], dtype)]


def _stash(ctx: LiftContext, node: ir.Node, dtype: ir.DType) -> ir.DType:
    return ir.DType.from_onnx(int(node.attr("stash_type", 1))) if dtype.is_floating else dtype


@TF_LIFT.register("LayerNormalization")
def lift_layer_norm(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, scale, bias = ctx.input(node, 0), ctx.input(node, 1), ctx.input(node, 2)
    dtype, r = ctx.dtype(x), ctx.rank(x)
    if r is None:
        raise ctx.unsupported("LayerNormalization needs an input of known rank")
    axis = int(node.attr("axis", -1)) % r
    stash = _stash(ctx, node, dtype)
    y, mean, inv = _normalize(ctx, ctx.cast(x, stash), list(range(axis, r)),
                              float(node.attr("epsilon", 1e-5)), stash)
    y = _tf(ctx, "Mul", [ctx.cast(y, dtype), scale], dtype)
    if bias is not None:
        y = _tf(ctx, "AddV2", [y, bias], dtype)
    return [y, mean, inv][: len(node.outputs)]


@TF_LIFT.register("GroupNormalization", since=21)
def lift_group_norm(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """[N, C, ...] -> [N, G, C/G * ...], normalized over its last axis, back, then the
    per-channel scale and bias (opset 21: both [C]). Under prepare_layout, in NHWC:
    [N, ..., C] -> [N, -1, G, C/G], normalized over axes 1 and 3."""
    x, scale, bias = (ctx.input(node, i) for i in range(3))
    dtype, r = ctx.dtype(x), ctx.rank(x)
    if r is None or r < 2:
        raise ctx.unsupported("GroupNormalization needs an input of known rank >= 2")
    groups, stash = int(node.attr("num_groups")), _stash(ctx, node, dtype)
    c = x.shape[1]
    nhwc = getattr(ctx, "onnx_layout", False) and r > 2 and isinstance(c, int)
    src = transpose(ctx, x, channels_last(r), dtype) if nhwc else x
    shape = ctx.tf("Shape", [src], T=dtype, out_type=I32, types=ttype(I32, [r]))
    batch = ctx.tf("StridedSlice", [shape, ctx.i32([0], "begin"), ctx.i32([1], "end"), ctx.i32([1], "one")],
                   T=I32, Index=I32, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
                   shrink_axis_mask=0, types=ttype(I32, [1]))
    rest = [-1, groups, c // groups] if nhwc else [groups, -1]
    grouped = ctx.tf("ConcatV2", [batch, ctx.i32(rest, "groups"), ctx.i32(0, "axis")], T=I32, N=2,
                     Tidx=I32, types=ttype(I32, [len(rest) + 1]))
    xg = ctx.tf("Reshape", [ctx.cast(src, stash), grouped], T=stash, Tshape=I32, types=ttype(stash))
    y, _, _ = _normalize(ctx, xg, [1, 3] if nhwc else [2], float(node.attr("epsilon", 1e-5)), stash)
    y = ctx.tf("Reshape", [ctx.cast(y, dtype), shape], T=dtype, Tshape=I32, types=ttype(dtype))
    if nhwc:
        y = _tf(ctx, "AddV2", [_tf(ctx, "Mul", [y, scale], dtype), bias], dtype)
        return [to_nchw(ctx, node, y, r, dtype)]
    y = _tf(ctx, "Mul", [y, _per_channel(ctx, scale, r, dtype)], dtype)
    return [_tf(ctx, "AddV2", [y, _per_channel(ctx, bias, r, dtype)], dtype)]


@TF_LIFT.register("LRN")
def lift_lrn(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = ctx.input(node, 0)
    dtype, r, size = ctx.dtype(x), ctx.rank(x), int(node.attr("size"))
    if size % 2 == 0:
        raise ctx.unsupported("LRN with an even size: its window is asymmetric, TF's LRN is not")
    if r != 4:
        raise ctx.unsupported("TF's LRN takes 4-D inputs only")
    xl = transpose(ctx, x, channels_last(r), dtype)
    y = ctx.tf("LRN", [xl], T=dtype, depth_radius=(size - 1) // 2, bias=float(node.attr("bias", 1.0)),
               alpha=float(node.attr("alpha", 1e-4)) / size, beta=float(node.attr("beta", 0.75)),
               types=ttype(dtype))
    return [to_nchw(ctx, node, y, r, dtype)]


_RANDOM_MASK = ("TensorFlow has no way to reproduce ONNX's random dropout mask: training-mode Dropout "
                "with a ratio that may be nonzero draws one at random (TF's random ops could draw "
                "a mask, never the one onnxruntime or ONNX's numpy reference draws)")


@TF_LIFT.register("Dropout")
def lift_dropout(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, ratio, training = ctx.input(node, 0), ctx.input(node, 1), ctx.input(node, 2)
    t = ctx.constant_value(training) if training is not None else np.bool_(False)
    r = ctx.constant_value(ratio) if ratio is not None else np.float32(0.5)
    if (t is None or bool(t)) and (r is None or float(r) != 0.0):
        raise ctx.unsupported(_RANDOM_MASK + (
            ". Here training_mode is a runtime input: give it a constant false to convert the "
            "model for inference" if t is None else ""))
    dtype = ctx.dtype(x)
    y = ctx.tf("Identity", [x], T=dtype, types=ttype(dtype, x.shape))
    if len(node.outputs) < 2:
        return [y]
    mask = node.outputs[1]
    if not (mask.has_uses() or mask.is_graph_output):
        return [y, None]
    shape = ctx.tf("Shape", [x], T=dtype, out_type=I32, types=ttype(I32))
    true = ctx.const(np.asarray(True), "true")
    return [y, ctx.tf("Fill", [shape, true], T=ir.DType.BOOL, index_type=I32,
                      types=ttype(ir.DType.BOOL, x.shape))]
