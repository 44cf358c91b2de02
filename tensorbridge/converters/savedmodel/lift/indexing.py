"""Lift: Gather/GatherElements/GatherND, ScatterND/ScatterElements/TensorScatter, OneHot and
NonZero.

ONNX indices may be negative (counting from the end); TF CPU kernels reject them, so every
index tensor is normalized first: where(i < 0, i + dim, i). The element-wise forms become
GatherNd / TensorScatter* over full coordinates [..., rank] built from index grids.
TF has no multiplying tensor scatter: reduction="mul" goes through UnsortedSegmentProd.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import LiftContext
from .array import (
    I32,
    I64,
    axis_dim,
    binary,
    cast,
    concat,
    gather,
    i64_input,
    int_range,
    need_rank,
    op,
    rank_of,
    register,
    reshape,
    scalar_input,
    shape_of,
    wrap_negative,
)

_SCATTER = {"none": "TensorScatterUpdate", "add": "TensorScatterAdd", "max": "TensorScatterMax",
            "min": "TensorScatterMin"}


@register("Gather")
def lift_gather(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, idx = node.inputs[0], node.inputs[1]
    axis = int(node.attr("axis", 0))
    const = ctx.constant_value(idx)
    dim = axis_dim(ctx, x, axis)
    dim_c = ctx.constant_value(dim)
    if const is not None and dim_c is not None:
        idx = ctx.const(np.where(const < 0, const + dim_c, const).astype(const.dtype), "indices")
    else:
        idx = wrap_negative(ctx, idx, dim)
    return [gather(ctx, x, idx, axis)]


def _grid(ctx: LiftContext, shp: ir.Value, k: int, rank: int) -> ir.Value:
    """int64 tensor of shape ``shp`` (rank ``rank``) holding each element's index along k."""
    n = gather(ctx, shp, ctx.i64(k, "axis"), 0)
    rng = int_range(ctx, ctx.i64(0, "zero"), n)
    rng = reshape(ctx, rng, ctx.i64([-1 if j == k else 1 for j in range(rank)], "grid_shape"))
    return op(ctx, "BroadcastTo", [rng, shp], I64, T=I64, Tidx=I64)


def _element_coords(ctx: LiftContext, node: ir.Node) -> ir.Value:
    """[n, rank] coordinates of GatherElements/ScatterElements, one row per index element in
    row-major order: the element's own position with ``axis`` replaced by its (wrapped) index."""
    data, indices = node.inputs[0], node.inputs[1]
    axis = int(node.attr("axis", 0))
    pos = reshape(ctx, _axis_pos(ctx, data if ctx.rank(data) is not None else indices, axis),
                  ctx.i64([1, 1]))
    idx = wrap_negative(ctx, i64_input(ctx, indices), axis_dim(ctx, data, axis))
    n = op(ctx, "Size", [idx], I64, T=I64, out_type=I64)
    grid = op(ctx, "UnravelIndex", [int_range(ctx, ctx.i64(0, "zero"), n), shape_of(ctx, indices)], I64,
              Tidx=I64)
    grid = op(ctx, "TensorScatterUpdate", [grid, pos, reshape(ctx, idx, ctx.i64([1, -1]))], I64, T=I64,
              Tindices=I64)
    return op(ctx, "Transpose", [grid, ctx.i64([1, 0])], I64, T=I64, Tperm=I64)


@register("GatherElements")
def lift_gatherelements(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    flat = op(ctx, "GatherNd", [x, _element_coords(ctx, node)], ctx.dtype(x), Tparams=ctx.dtype(x),
              Tindices=I64)
    return [reshape(ctx, flat, shape_of(ctx, node.inputs[1]))]


def _nd_indices(ctx: LiftContext, data: ir.Value, indices: ir.Value, batch: int) -> ir.Value:
    """ONNX GatherND/ScatterND indices as TF GatherNd coordinates: negatives wrapped, and
    ``batch`` leading batch coordinates prepended."""
    shape = ctx.shape(indices)
    if shape is None or not isinstance(shape[-1], int):
        raise ctx.unsupported("the last dim of the indices must be static")
    q, k = len(shape), shape[-1]
    dshp = shape_of(ctx, data)
    dims = op(ctx, "Slice", [dshp, ctx.i64([batch]), ctx.i64([k])], I64, T=I64, Index=I64)
    idx = wrap_negative(ctx, i64_input(ctx, indices), dims)
    if batch == 0:
        return idx
    ishp = shape_of(ctx, indices)
    one = concat(ctx, [op(ctx, "Slice", [ishp, ctx.i64([0]), ctx.i64([q - 1])], I64, T=I64, Index=I64),
                       ctx.i64([1])])
    grids = [_grid(ctx, one, j, q) for j in range(batch)]
    return concat(ctx, [*grids, idx], axis=-1)


@register("GatherND")
def lift_gathernd(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    idx = _nd_indices(ctx, x, node.inputs[1], int(node.attr("batch_dims", 0)))
    return [op(ctx, "GatherNd", [x, idx], ctx.dtype(x), Tparams=ctx.dtype(x), Tindices=I64)]


def _scatter(ctx: LiftContext, node: ir.Node, coords: ir.Value, k: int | None) -> ir.Value:
    """Scatter into input 0 at ``coords`` rows (each ``k`` long; None: the full rank)."""
    reduction = node.attr("reduction", "none")
    reduction = reduction.decode() if isinstance(reduction, bytes) else reduction
    x, updates = node.inputs[0], node.inputs[2]
    if k is None:  # ScatterElements: one update per coordinate row
        updates = reshape(ctx, updates, ctx.i64([-1]))
    t = ctx.dtype(x)
    if reduction == "mul":
        return _scatter_mul(ctx, x, coords, updates, k)
    if reduction not in _SCATTER:
        raise ctx.unsupported(f"reduction={reduction!r}")
    return op(ctx, _SCATTER[reduction], [x, coords, updates], t, T=t, Tindices=I64)


def _scatter_mul(ctx: LiftContext, x: ir.Value, coords: ir.Value, updates: ir.Value,
                 k: int | None) -> ir.Value:
    """TF has no multiplying tensor scatter: x * (the product of the updates landing on each
    position, 1 elsewhere), by UnsortedSegmentProd over each row's linear position. Exact but
    for the association order of duplicate updates in floating point."""
    t, shp = ctx.dtype(x), shape_of(ctx, x)
    head = shp if k is None else op(ctx, "Slice", [shp, ctx.i64([0]), ctx.i64([k])], I64, T=I64, Index=I64)
    strides = op(ctx, "Cumprod", [head, ctx.i64(0, "axis")], I64, T=I64, Tidx=I64, exclusive=True,
                 reverse=True)
    ids = op(ctx, "Sum", [binary(ctx, "Mul", coords, strides), ctx.i64(-1, "axis")], I64, T=I64,
             Tidx=I64, keep_dims=False)
    n = op(ctx, "Prod", [head, ctx.i64(0, "axis")], I64, T=I64, Tidx=I64, keep_dims=False)
    prod = op(ctx, "UnsortedSegmentProd", [updates, ids, n], t, T=t, Tindices=I64, Tnumsegments=I64)
    return binary(ctx, "Mul", x, reshape(ctx, prod, shp))


@register("ScatterND")
def lift_scatternd(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    # duplicate indices: "none" is undefined in ONNX (TF keeps one), add/max/min combine all
    indices = node.inputs[1]
    return [_scatter(ctx, node, _nd_indices(ctx, node.inputs[0], indices, 0), indices.shape[-1])]


@register("ScatterElements")
def lift_scatterelements(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return [_scatter(ctx, node, _element_coords(ctx, node), None)]


@register("OneHot")
def lift_onehot(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    # negative indices count from depth; anything still out of [0, depth) is all-off in both
    indices, depth, values = node.inputs[:3]
    depth64 = scalar_input(ctx, depth, I64)
    idx = wrap_negative(ctx, cast(ctx, indices, I64), depth64)
    off, on = (gather(ctx, values, ctx.i64(i, "which"), 0) for i in (0, 1))
    axis = int(node.attr("axis", -1))
    if axis < -1:
        axis += need_rank(ctx, indices, "OneHot with axis < -1") + 1
    t = ctx.dtype(values)
    return [op(ctx, "OneHot", [idx, cast(ctx, depth64, I32), on, off], t, T=t, TI=I64, axis=axis)]


@register("NonZero")
def lift_nonzero(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    coords = op(ctx, "Where", [x], I64, T=ctx.dtype(x))
    return [op(ctx, "Transpose", [coords, ctx.i64([1, 0])], I64, T=I64, Tperm=I64)]


def _axis_pos(ctx: LiftContext, x: ir.Value, axis: int) -> ir.Value:
    """``axis`` of x, made non-negative, as an int64 scalar."""
    r = ctx.rank(x)
    if axis >= 0 or r is not None:
        return ctx.i64(axis + r if axis < 0 else axis, "axis")
    return binary(ctx, "AddV2", rank_of(ctx, x), ctx.i64(axis))


@register("TensorScatter")
def lift_tensorscatter(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    # cache[b, ..., write_indices[b] + s (mod the axis length when circular), ...] = update[b, ..., s, ...]
    cache, update, wi = node.inputs[0], node.inputs[1], ctx.input(node, 2)
    mode = node.attr("mode", "linear")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    axis = int(node.attr("axis", -2))
    pos = _axis_pos(ctx, cache, axis)
    n = op(ctx, "Size", [update], I64, T=ctx.dtype(update), out_type=I64)
    grid = op(ctx, "UnravelIndex", [int_range(ctx, ctx.i64(0, "zero"), n), shape_of(ctx, update)], I64,
              Tidx=I64)
    seq = gather(ctx, grid, pos, 0)
    if wi is not None:
        seq = binary(ctx, "AddV2", seq, gather(ctx, i64_input(ctx, wi), gather(ctx, grid, ctx.i64(0), 0), 0))
    if mode == "circular":
        seq = binary(ctx, "FloorMod", seq, axis_dim(ctx, cache, axis))
    grid = op(ctx, "TensorScatterUpdate", [grid, reshape(ctx, pos, ctx.i64([1, 1])),
                                           reshape(ctx, seq, ctx.i64([1, -1]))], I64, T=I64, Tindices=I64)
    coords = op(ctx, "Transpose", [grid, ctx.i64([1, 0])], I64, T=I64, Tperm=I64)
    t = ctx.dtype(cache)
    flat = reshape(ctx, update, ctx.i64([-1]))
    return [op(ctx, "TensorScatterUpdate", [cache, coords, flat], t, T=t, Tindices=I64)]
