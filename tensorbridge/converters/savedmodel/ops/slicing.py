"""StridedSlice -> Slice (+ Squeeze for shrink axes, + Unsqueeze for new axes)."""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from . import TF_IMPORT
from ._context import ImportContext, TfNode

INT64_MAX = int(np.iinfo(np.int64).max)
INT64_MIN = int(np.iinfo(np.int64).min)


def _const_list(ctx: ImportContext, node: TfNode, i: int) -> list[int]:
    value = ctx.constant_value(ctx.input(node, i))
    if value is None:
        raise ctx.unsupported(f"input {i} (begin/end/strides) must be a constant", node)
    return [int(v) for v in np.asarray(value).reshape(-1)]


@TF_IMPORT.register("StridedSlice")
def import_stridedslice(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    x = ctx.input(node, 0)
    begin, end, strides = (_const_list(ctx, node, i) for i in (1, 2, 3))
    m = {k: int(ctx.attr(node, k, 0)) for k in
         ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")}
    rank = len(x.shape) if x.shape is not None else None
    if m["ellipsis_mask"] and rank is None:
        raise ctx.unsupported("an ellipsis on an input of unknown rank", node)
    n = len(begin)
    starts, ends, axes, steps, shrink, new_axes = [], [], [], [], [], []
    dim = out = 0
    for i in range(n):
        bit = 1 << i
        if m["ellipsis_mask"] & bit:
            later = sum(1 for j in range(i + 1, n) if not m["new_axis_mask"] & (1 << j))
            skip = rank - dim - later  # type: ignore[operator]
            dim, out = dim + skip, out + skip
            continue
        if m["new_axis_mask"] & bit:
            new_axes.append(out)
            out += 1
            continue
        step = strides[i]
        if m["shrink_axis_mask"] & bit:
            start, stop, step = begin[i], begin[i] + 1 if begin[i] != -1 else INT64_MAX, 1
            shrink.append(dim)
        else:
            start = (0 if step > 0 else INT64_MAX) if m["begin_mask"] & bit else begin[i]
            stop = ((INT64_MAX if step > 0 else INT64_MIN) if m["end_mask"] & bit else end[i])
            out += 1
        starts.append(start), ends.append(stop), axes.append(dim), steps.append(step)
        dim += 1
    y = x
    if axes:
        y = ctx.b.op("Slice", [x, ctx.i64(starts, "starts"), ctx.i64(ends, "ends"),
                               ctx.i64(axes, "axes"), ctx.i64(steps, "steps")])
    if shrink:
        y = ctx.b.op("Squeeze", [y, ctx.i64(shrink, "shrink")])
    if new_axes:
        y = ctx.b.op("Unsqueeze", [y, ctx.i64(new_axes, "new_axes")])
    if y is x:
        y = ctx.b.op("Identity", [x])
    return [y]
