"""Indexing, selection and index-producing ops (FORMATS.md 8: int32 index tensors vs ONNX
int64, ArgMax's dropped axis, TopKV2 indices, OneHot's [off, on] order, Where's coordinates)."""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from . import TF_IMPORT
from ._context import ImportContext, TfNode

_KEEP_ALL = 1 << 40  # a Trilu k beyond any real dim: keeps the whole band on that side


def _static_axis(ctx: ImportContext, node: TfNode, i: int) -> int:
    const = ctx.constant_value(ctx.input(node, i))
    if const is None:
        raise ctx.unsupported(f"input {i} (the axis) must be a constant", node)
    return int(np.asarray(const).reshape(-1)[0])


def _scalar_i64(ctx: ImportContext, value: ir.Value, name: str) -> ir.Value:
    """A scalar or 1-element index tensor as a 1-D int64 [1] (e.g. TopK's K)."""
    return ctx.b.op("Reshape", [ctx.as_int64(value, name), ctx.i64([1])])


@TF_IMPORT.register("ArgMax", "ArgMin")
def import_argmax(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF drops the axis (keepdims=0) and returns the first index on ties (select_last_index=0)
    y = ctx.b.op(node.op, [ctx.input(node, 0)], axis=_static_axis(ctx, node, 1), keepdims=0,
                 select_last_index=0)
    out: ir.DType = ctx.attr(node, "output_type", ir.DType.INT64)
    return [y if out is ir.DType.INT64 else ctx.cast(y, out)]


@TF_IMPORT.register("TopKV2")
def import_topkv2(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # k is a scalar int32 (ONNX: int64 [1]); last axis, largest first, ties by lower index in
    # both; sorted=false leaves TF's order unspecified, so sorted output is always valid
    k = _scalar_i64(ctx, ctx.input(node, 1), "k")
    values, indices = ctx.b.ops("TopK", [ctx.input(node, 0), k], num_outputs=2, axis=-1,
                                largest=1, sorted=1)
    out: ir.DType = ctx.attr(node, "index_type", ir.DType.INT32)
    return [values, indices if out is ir.DType.INT64 else ctx.cast(indices, out)]


@TF_IMPORT.register("GatherNd")
def import_gathernd(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    params, indices = ctx.input(node, 0), ctx.as_int64(ctx.input(node, 1), "indices")
    return [ctx.b.op("GatherND", [params, indices], batch_dims=0)]


@TF_IMPORT.register("ScatterNd")
def import_scatternd(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # scatter into zeros of `shape`; TF sums duplicate indices (ScatterND reduction="add")
    indices, updates, shape = ctx.inputs(node)
    dtype: ir.DType = ctx.attr(node, "T")
    zeros = ctx.b.op("Expand", [ctx.const(np.zeros((), dtype.numpy), "zero"),
                                ctx.as_int64(shape, "shape")])
    return [ctx.b.op("ScatterND", [zeros, ctx.as_int64(indices, "indices"), updates],
                     reduction="add")]


@TF_IMPORT.register("OneHot")
def import_onehot(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # ONNX wraps negative indices where TF gives an all-off row, so negatives move to
    # `depth` (out of range in both). ONNX Runtime's OneHot takes few dtype combinations:
    # build an int64 0/1 mask and select on/off with Where, exact for every output dtype.
    # (ONNX's own values input is [off, on], the reverse of TF's argument order.)
    indices, depth, on, off = ctx.inputs(node)
    idx, depth = ctx.as_int64(indices, "indices"), ctx.as_int64(depth, "depth")
    idx = ctx.b.op("Where", [ctx.b.op("Less", [idx, ctx.i64(0, "zero")]), depth, idx])
    mask = ctx.b.op("OneHot", [idx, depth, ctx.i64([0, 1], "values")],
                    axis=int(ctx.attr(node, "axis", -1)))
    return [ctx.b.op("Where", [ctx.cast(mask, ir.DType.BOOL), on, off])]


@TF_IMPORT.register("Where")
def import_where(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # one input: the coordinates of the true/non-zero elements, [N, rank] int64 in row-major
    # order; ONNX NonZero gives [rank, N]
    return [ctx.b.op("Transpose", [ctx.b.op("NonZero", [ctx.input(node, 0)])], perm=[1, 0])]


@TF_IMPORT.register("Range")
def import_range(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # same count, ceil((limit - start) / delta), and dtype (Tidx) for all three scalars
    return [ctx.b.op("Range", ctx.inputs(node))]


def _band_k(ctx: ImportContext, value: ir.Value, sign: int) -> ir.Value:
    """Trilu's k for a band half-width (negative: keep that whole side)."""
    const = ctx.constant_value(value)
    if const is not None:
        n = int(np.asarray(const).reshape(-1)[0])
        return ctx.i64(sign * (n if n >= 0 else _KEEP_ALL), "k")
    n = ctx.as_int64(value, "num")
    n = ctx.b.op("Where", [ctx.b.op("Less", [n, ctx.i64(0, "zero")]), ctx.i64(_KEEP_ALL), n])
    return n if sign > 0 else ctx.b.op("Neg", [n])


@TF_IMPORT.register("MatrixBandPart")
def import_matrixbandpart(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # keep (i, j) with i - j <= num_lower and j - i <= num_upper (a negative count: no bound)
    # = Trilu(upper, k=-num_lower) then Trilu(lower, k=num_upper), on the last two dims
    x, lower, upper = ctx.inputs(node)
    y = ctx.b.op("Trilu", [x, _band_k(ctx, lower, -1)], upper=1)
    return [ctx.b.op("Trilu", [y, _band_k(ctx, upper, 1)], upper=0)]
