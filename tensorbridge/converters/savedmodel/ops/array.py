"""Constants, pass-throughs, shapes, reshaping, joining, gathering and reductions
(FORMATS.md 8: Reshape's literal 0, int32 shape outputs, keep_dims and empty reduce axes)."""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ..attrs import tensor_from_proto
from . import TF_IMPORT
from ._context import ImportContext, TfNode


@TF_IMPORT.register("Const")
def import_const(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.const(tensor_from_proto(node.attrs["value"].tensor, node.name), "value")]


@TF_IMPORT.register("Identity", "StopGradient", "Snapshot", "PreventGradient",
                    "PlaceholderWithDefault", "EnsureShape", "CheckNumerics")
def import_identity(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # pass-through: no node. PlaceholderWithDefault reaches here only when it is not a
    # signature input (the driver feeds signature inputs), so its default is the value.
    return [ctx.input(node, 0)]


@TF_IMPORT.register("IdentityN")
def import_identityn(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return ctx.inputs(node)


@TF_IMPORT.register("Reshape")
def import_reshape(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF's 0 is a literal 0-sized dim; ONNX copies the input dim unless allowzero=1
    shape = ctx.as_int64(ctx.input(node, 1), "shape")
    return [ctx.b.op("Reshape", [ctx.input(node, 0), shape], allowzero=1)]


def _out_type(ctx: ImportContext, node: TfNode, value: ir.Value) -> ir.Value:
    """ONNX gives int64; TF's out_type defaults to int32."""
    out: ir.DType = ctx.attr(node, "out_type", ir.DType.INT32)
    return value if out is ir.DType.INT64 else ctx.cast(value, out)


@TF_IMPORT.register("Shape")
def import_shape(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [_out_type(ctx, node, ctx.b.op("Shape", [ctx.input(node, 0)]))]


@TF_IMPORT.register("Size")
def import_size(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [_out_type(ctx, node, ctx.b.op("Size", [ctx.input(node, 0)]))]


@TF_IMPORT.register("Rank")
def import_rank(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    rank = ctx.b.op("Size", [ctx.b.op("Shape", [ctx.input(node, 0)])])
    return [ctx.cast(rank, ir.DType.INT32)]


def _axes(ctx: ImportContext, value: ir.Value, name: str = "axes") -> ir.Value:
    """An axis/axes tensor (scalar or 1-D, int32 or int64) as a 1-D int64 tensor."""
    const = ctx.constant_value(value)
    if const is not None:
        return ctx.i64(np.asarray(const).reshape(-1), name)
    return ctx.b.op("Reshape", [ctx.cast(value, ir.DType.INT64), ctx.i64([-1])])


def _static_axis(ctx: ImportContext, node: TfNode, i: int) -> int:
    const = ctx.constant_value(ctx.input(node, i))
    if const is None:
        raise ctx.unsupported(f"input {i} (the axis) must be a constant", node)
    return int(np.asarray(const).reshape(-1)[0])


@TF_IMPORT.register("ExpandDims")
def import_expanddims(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.b.op("Unsqueeze", [ctx.input(node, 0), _axes(ctx, ctx.input(node, 1))])]


@TF_IMPORT.register("Squeeze")
def import_squeeze(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # empty squeeze_dims: every size-1 dim, as ONNX Squeeze without axes
    dims = ctx.attr(node, "squeeze_dims", [])
    axes = [ctx.i64(dims, "axes")] if dims else []
    return [ctx.b.op("Squeeze", [ctx.input(node, 0), *axes])]


@TF_IMPORT.register("ConcatV2")
def import_concatv2(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    n = len(node.inputs) - 1  # the axis comes last
    xs = [ctx.input(node, i) for i in range(n)]
    return [ctx.b.op("Concat", xs, axis=_static_axis(ctx, node, n))]


@TF_IMPORT.register("Transpose")
def import_transpose(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    perm = ctx.constant_value(ctx.input(node, 1))
    if perm is None:
        raise ctx.unsupported("a non-constant perm", node)
    return [ctx.b.op("Transpose", [ctx.input(node, 0)], perm=[int(p) for p in perm])]


@TF_IMPORT.register("Pack")
def import_pack(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    axis = int(ctx.attr(node, "axis", 0))
    axes = ctx.i64([axis], "axis")
    xs = [ctx.b.op("Unsqueeze", [x, axes]) for x in ctx.inputs(node)]
    return [ctx.b.op("Concat", xs, axis=axis) if len(xs) > 1 else xs[0]]


@TF_IMPORT.register("Fill")
def import_fill(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    dims = ctx.as_int64(ctx.input(node, 0), "dims")
    return [ctx.b.op("Expand", [ctx.input(node, 1), dims])]


def _like(ctx: ImportContext, node: TfNode, fill: int) -> ir.Value:
    dtype: ir.DType = ctx.attr(node, "T")
    scalar = ctx.const(np.full((), fill, dtype.numpy), "fill")
    return ctx.b.op("Expand", [scalar, ctx.b.op("Shape", [ctx.input(node, 0)])])


@TF_IMPORT.register("ZerosLike")
def import_zeroslike(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [_like(ctx, node, 0)]


@TF_IMPORT.register("OnesLike")
def import_oneslike(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [_like(ctx, node, 1)]


_REDUCE = {"Mean": "ReduceMean", "Sum": "ReduceSum", "Max": "ReduceMax", "Min": "ReduceMin",
           "Prod": "ReduceProd"}


@TF_IMPORT.register(*_REDUCE, since=18)  # opset 18: every Reduce* takes axes as an input
def import_reduce(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF: keep_dims defaults to false and empty axes reduce nothing (noop_with_empty_axes=1)
    keep = int(bool(ctx.attr(node, "keep_dims", False)))
    axes = _axes(ctx, ctx.input(node, 1))
    return [ctx.b.op(_REDUCE[node.op], [ctx.input(node, 0), axes], keepdims=keep,
                     noop_with_empty_axes=1)]
