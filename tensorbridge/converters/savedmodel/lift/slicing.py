"""Lift: Slice, Trilu, ReverseSequence and Compress.

ONNX Slice clamps differently from Python/TF slicing in one place: with a negative step a start
below -dim clamps to 0 (Python: an empty slice). So starts/ends are normalized here exactly as
ONNX does (add dim to negatives, clamp to [0, d] / [0, d-1] for starts, [0, d] / [-1, d-1] for
ends) and handed to StridedSlice already in range; an end of -1 ("before index 0") is written
as -1-d, which TF maps back to -1 instead of wrapping it to d-1.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import LiftContext
from .array import (
    BOOL,
    I64,
    binary,
    cast,
    diagonal_offset,
    gather,
    i64_input,
    int_range,
    op,
    rank_of,
    register,
    reshape,
    select,
    shape_of,
    wrap_negative,
)


def _norm(s: int, e: int, step: int, d: int) -> tuple[int, int]:
    """ONNX's clamping of one axis' start/end (Python ints: no overflow)."""
    s, e = s + d if s < 0 else s, e + d if e < 0 else e
    if step > 0:
        return min(max(s, 0), d), min(max(e, 0), d)
    return min(max(s, 0), d - 1), min(max(e, -1), d - 1)


def _constant_slice(ctx: LiftContext, node: ir.Node) -> ir.Value | None:
    """Slice (steps 1) or StridedSlice from constant arguments on statically known dims."""
    x = node.inputs[0]
    args = [ctx.constant_value(ctx.input(node, i)) for i in range(1, 5)]
    shape = ctx.shape(x)
    if args[0] is None or args[1] is None or shape is None:
        return None
    if any(ctx.input(node, i) is not None and args[i - 1] is None for i in (3, 4)):
        return None
    starts, ends = (np.asarray(a).reshape(-1).tolist() for a in args[:2])
    r = len(shape)
    axes = list(range(len(starts))) if args[2] is None else np.asarray(args[2]).reshape(-1).tolist()
    axes = [a + r if a < 0 else a for a in axes]
    steps = [1] * len(starts) if args[3] is None else np.asarray(args[3]).reshape(-1).tolist()
    if not all(isinstance(shape[a], int) for a in axes):
        return None
    begin, end, stride, full = [0] * r, [0] * r, [1] * r, (1 << r) - 1
    for a, s, e, st in zip(axes, starts, ends, steps):
        begin[a], end[a] = _norm(int(s), int(e), int(st), shape[a])
        stride[a], full = int(st), full & ~(1 << a)
    t = ctx.dtype(x)
    if all(st == 1 for st in stride):
        size = [max(e - b, 0) if not full >> k & 1 else -1 for k, (b, e) in enumerate(zip(begin, end))]
        return op(ctx, "Slice", [x, ctx.i64(begin, "begin"), ctx.i64(size, "size")], t, T=t, Index=I64)
    end = [e - shape[k] if e < 0 else e for k, e in enumerate(end)]
    return op(ctx, "StridedSlice", [x, ctx.i64(begin), ctx.i64(end), ctx.i64(stride)], t, T=t,
              Index=I64, begin_mask=full, end_mask=full, ellipsis_mask=0, new_axis_mask=0,
              shrink_axis_mask=0)


def _clamp(ctx: LiftContext, v: ir.Value, lo: ir.Value, hi: ir.Value) -> ir.Value:
    return binary(ctx, "Maximum", binary(ctx, "Minimum", v, hi), lo)


@register("Slice")
def lift_slice(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    fast = _constant_slice(ctx, node)
    if fast is not None:
        return [fast]
    x = node.inputs[0]
    starts, ends = i64_input(ctx, node.inputs[1]), i64_input(ctx, node.inputs[2])
    axes_v, steps_v = ctx.input(node, 3), ctx.input(node, 4)
    shp, zero = shape_of(ctx, x), ctx.i64(0, "zero")
    if axes_v is None:
        axes = int_range(ctx, zero, op(ctx, "Size", [starts], I64, T=I64, out_type=I64))
    else:
        axes = wrap_negative(ctx, i64_input(ctx, axes_v), rank_of(ctx, x))
    steps = op(ctx, "OnesLike", [starts], I64, T=I64) if steps_v is None else i64_input(ctx, steps_v)
    d = gather(ctx, shp, axes, 0)
    last = binary(ctx, "Sub", d, ctx.i64(1, "one"))
    s, e = wrap_negative(ctx, starts, d), wrap_negative(ctx, ends, d)
    up = binary(ctx, "Greater", steps, zero)
    s = select(ctx, up, _clamp(ctx, s, zero, d), _clamp(ctx, s, zero, last))
    e = select(ctx, up, _clamp(ctx, e, zero, d), _clamp(ctx, e, ctx.i64(-1, "minus1"), last))
    e = select(ctx, binary(ctx, "Less", e, zero), binary(ctx, "Sub", e, d), e)
    idx = reshape(ctx, axes, ctx.i64([-1, 1]))

    def full(base: ir.Value, part: ir.Value) -> ir.Value:
        return op(ctx, "TensorScatterUpdate", [base, idx, part], I64, T=I64, Tindices=I64)

    begin = full(op(ctx, "ZerosLike", [shp], I64, T=I64), s)
    end = full(shp, e)
    stride = full(op(ctx, "OnesLike", [shp], I64, T=I64), steps)
    t = ctx.dtype(x)
    return [op(ctx, "StridedSlice", [x, begin, end, stride], t, T=t, Index=I64, begin_mask=0,
               end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0)]


def _band(ctx: LiftContext, x: ir.Value, k: int, upper: bool) -> ir.Value | None:
    """MatrixBandPart for the bands it can express within x's static dims, else None."""
    shape = ctx.shape(x)
    if shape is None or len(shape) < 2:
        return None
    rows, cols = shape[-2], shape[-1]
    if upper and k <= 0 and isinstance(rows, int) and -k <= rows:
        lower, upper_n = -k, -1
    elif not upper and k >= 0 and isinstance(cols, int) and k <= cols:
        lower, upper_n = -1, k
    else:
        return None
    t = ctx.dtype(x)
    return op(ctx, "MatrixBandPart", [x, ctx.i64(lower, "lower"), ctx.i64(upper_n, "upper")], t,
              T=t, Tindex=I64)


@register("Trilu")
def lift_trilu(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, kv = node.inputs[0], ctx.input(node, 1)
    upper = bool(node.attr("upper", 1))
    kc = 0 if kv is None else ctx.constant_value(kv)
    if kc is not None:
        band = _band(ctx, x, int(np.asarray(kc).reshape(-1)[0]), upper)
        if band is not None:
            return [band]
    # exact mask: keep (i, j) with j - i >= k (upper) or j - i <= k (lower)
    k = ctx.i64(0, "k") if kv is None else reshape(ctx, i64_input(ctx, kv), ctx.i64([], "scalar"))
    shp, r = shape_of(ctx, x), rank_of(ctx, x)
    rows = gather(ctx, shp, binary(ctx, "Sub", r, ctx.i64(2, "two")), 0)
    cols = gather(ctx, shp, binary(ctx, "Sub", r, ctx.i64(1, "one")), 0)
    keep = binary(ctx, "GreaterEqual" if upper else "LessEqual", diagonal_offset(ctx, rows, cols), k)
    zeros = op(ctx, "ZerosLike", [x], ctx.dtype(x), T=ctx.dtype(x))
    return [select(ctx, keep, x, zeros)]


@register("ReverseSequence")
def lift_reversesequence(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, lens = node.inputs[0], i64_input(ctx, node.inputs[1])
    t = ctx.dtype(x)
    return [op(ctx, "ReverseSequence", [x, lens], t, T=t, Tlen=I64,
               seq_dim=int(node.attr("time_axis", 0)), batch_dim=int(node.attr("batch_axis", 1)))]


@register("Compress")
def lift_compress(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    # a condition shorter than the dim drops the rest: gather the true positions
    x, cond = node.inputs[0], node.inputs[1]
    axis = node.attr("axis", None)
    if axis is None:
        x, axis = reshape(ctx, x, ctx.i64([-1])), 0
    idx = op(ctx, "Where", [cast(ctx, cond, BOOL)], I64, T=BOOL)
    return [gather(ctx, x, reshape(ctx, idx, ctx.i64([-1])), int(axis))]
