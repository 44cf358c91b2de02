"""Lift: Unique.

TF's UniqueWithCounts(V2) gives the unique values (or slices along ``axis``) in order of first
occurrence, each element's index into them and the counts: ONNX's sorted=0 result, once the
first-occurrence indices are added (the smallest position per unique value: a segment min).
sorted=1 reorders all four outputs by the ascending order of the unique values: TopKV2 over
every value (descending, reversed; the values are distinct, so no ties) for the flattened
form, and for slices a lexicographic rank (a slice's rank = how many slices compare less at
their first differing element) inverted into the permutation. TF has no ordering of strings
(Less and TopKV2 take none), so sorted string results are refused.
"""

from __future__ import annotations

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from .array import BOOL, I32, I64, binary, cast, op, reshape

STR = ir.DType.STRING


def _gather(ctx: LiftContext, x: ir.Value, idx: ir.Value, axis: int = 0) -> ir.Value:
    t = ctx.dtype(x)
    return op(ctx, "GatherV2", [x, idx, ctx.i64(axis, "axis")], t, Tparams=t, Tindices=I64, Taxis=I64,
              batch_dims=0)


def _sortable(ctx: LiftContext, v: ir.Value) -> ir.Value:
    t = ctx.dtype(v)
    if t is STR:
        raise ctx.unsupported("TensorFlow has no ordering of strings (Less and TopKV2 take no "
                              "strings), needed for sorted=1")
    return cast(ctx, v, I32) if t is BOOL else v


def _order_values(ctx: LiftContext, y: ir.Value, u: ir.Value) -> ir.Value:
    """[u] int64: positions of the distinct values ``y`` in ascending order."""
    keys = _sortable(ctx, y)
    t = ctx.dtype(keys)
    _, idx = ctx.tf_multi("TopKV2", [keys, u], 2, sorted=True, T=t, Tk=I64, index_type=I64)
    idx.type = ir.TensorType(I64, None)
    return op(ctx, "ReverseV2", [idx, ctx.i64([0], "axis")], I64, T=I64, Tidx=I64)


def _order_slices(ctx: LiftContext, y: ir.Value, axis: int, rank: int) -> ir.Value:
    """[u] int64: positions of the distinct slices of ``y`` along ``axis`` in lexicographic order."""
    keys = _sortable(ctx, y)
    t = ctx.dtype(keys)
    perm = [axis, *(i for i in range(rank) if i != axis)]
    rows = _rows(ctx, keys, perm)
    a = op(ctx, "ExpandDims", [rows, ctx.i64(1, "axis")], t, T=t, Tdim=I64)  # [u, 1, m]
    b = op(ctx, "ExpandDims", [rows, ctx.i64(0, "axis")], t, T=t, Tdim=I64)  # [1, u, m]
    same = cast(ctx, binary(ctx, "Equal", a, b), I32)
    prefix = op(ctx, "Cumprod", [same, ctx.i64(2, "axis")], I32, T=I32, Tidx=I64, exclusive=True,
                reverse=False)
    first_diff = binary(ctx, "Equal", prefix, ctx.const(1, "one", I32))
    less = op(ctx, "LogicalAnd", [binary(ctx, "Less", a, b), first_diff], BOOL)
    before = op(ctx, "Any", [less, ctx.i64(2, "axis")], BOOL, Tidx=I64, keep_dims=False)  # [i, j]: i < j
    rank_of = op(ctx, "Sum", [cast(ctx, before, I64), ctx.i64(0, "axis")], I64, T=I64, Tidx=I64,
                 keep_dims=False)
    return op(ctx, "InvertPermutation", [rank_of], I64, T=I64)


def _rows(ctx: LiftContext, keys: ir.Value, perm: list[int]) -> ir.Value:
    """``keys`` with the unique axis first, as [u, m] rows."""
    t = ctx.dtype(keys)
    moved = op(ctx, "Transpose", [keys, ctx.i64(perm, "perm")], t, T=t, Tperm=I64)
    u = op(ctx, "Slice", [op(ctx, "Shape", [moved], I64, T=t, out_type=I64), ctx.i64([0]), ctx.i64([1])],
           I64, T=I64, Index=I64)
    return reshape(ctx, moved, op(ctx, "ConcatV2", [u, ctx.i64([-1]), ctx.i64(0, "axis")], I64, N=2, T=I64,
                                  Tidx=I64))


@TF_LIFT.register("Unique")
def lift_unique(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    t = ctx.dtype(x)
    axis = node.attr("axis", None)
    if axis is None:
        flat = reshape(ctx, x, ctx.i64([-1]))
        y, inv, cnt = ctx.tf_multi("UniqueWithCounts", [flat], 3, T=t, out_idx=I64)
        n = op(ctx, "Size", [flat], I64, T=t, out_type=I64)
    else:
        rank = ctx.rank(x)
        if rank is None:
            raise ctx.unsupported("Unique along an axis needs the input rank")
        axis = int(axis) + (rank if int(axis) < 0 else 0)
        y, inv, cnt = ctx.tf_multi("UniqueWithCountsV2", [x, ctx.i64([axis], "axis")], 3, T=t, Taxis=I64,
                                   out_idx=I64)
        n = op(ctx, "Slice", [op(ctx, "Shape", [x], I64, T=t, out_type=I64), ctx.i64([axis]), ctx.i64([1])],
               I64, T=I64, Index=I64)
        n = reshape(ctx, n, ctx.i64([], "scalar"))
    y.type = ir.TensorType(t, None)
    inv.type, cnt.type = ir.TensorType(I64, None), ir.TensorType(I64, None)
    u = op(ctx, "Size", [cnt], I64, T=I64, out_type=I64)
    positions = op(ctx, "Range", [ctx.i64(0, "zero"), n, ctx.i64(1, "one")], I64, Tidx=I64)
    first = op(ctx, "UnsortedSegmentMin", [positions, inv, u], I64, T=I64, Tindices=I64, Tnumsegments=I64)
    if int(node.attr("sorted", 1)):
        order = _order_values(ctx, y, u) if axis is None else _order_slices(ctx, y, axis, ctx.rank(x))
        y = _gather(ctx, y, order, axis or 0)
        first, cnt = _gather(ctx, first, order), _gather(ctx, cnt, order)
        inv = _gather(ctx, op(ctx, "InvertPermutation", [order], I64, T=I64), inv)
    outs = [y, first, inv, cnt]
    return [outs[i] if v is not None else None for i, v in enumerate(node.outputs)]
