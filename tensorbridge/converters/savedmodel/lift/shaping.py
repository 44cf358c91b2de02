"""Lift: Reshape, Transpose, Squeeze/Unsqueeze, Flatten, Split, Pad and CenterCropPad
(FORMATS.md 8: ONNX Reshape's 0 copies the input dim, Squeeze without axes, Split's uneven last
chunk, Pad's [begins..., ends...] layout and negative pads, which crop before padding)."""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import LiftContext
from .array import (
    BOOL,
    I64,
    axis_dim,
    binary,
    cast,
    concat,
    gather,
    i64_input,
    int_range,
    op,
    rank_of,
    register,
    reshape,
    scalar_input,
    select,
    shape_of,
    wrap_negative,
)


@register("Reshape")
def lift_reshape(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, shape = node.inputs[0], i64_input(ctx, node.inputs[1])
    const = ctx.constant_value(shape)
    if node.attr("allowzero", 0) or (const is not None and not (const == 0).any()):
        return [reshape(ctx, x, shape)]
    # a 0 copies the input dim at its position (x's shape padded with zeros past its rank)
    zeros = op(ctx, "ZerosLike", [shape], I64, T=I64)
    padded = concat(ctx, [shape_of(ctx, x), zeros])
    n = op(ctx, "Shape", [shape], I64, T=I64, out_type=I64)
    dims = op(ctx, "Slice", [padded, ctx.i64([0]), n], I64, T=I64, Index=I64)
    is_zero = binary(ctx, "Equal", shape, ctx.i64(0, "zero"))
    return [reshape(ctx, x, select(ctx, is_zero, dims, shape))]


@register("Transpose")
def lift_transpose(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    perm = node.attr("perm", None)
    if perm is None and ctx.rank(x) is not None:
        perm = list(range(ctx.rank(x)))[::-1]
    if perm is not None:
        p = ctx.i64(list(perm), "perm")
    else:  # the reversed dims of an unknown rank
        start = binary(ctx, "Sub", rank_of(ctx, x), ctx.i64(1, "one"))
        p = op(ctx, "Range", [start, ctx.i64(-1, "stop"), ctx.i64(-1, "step")], I64, Tidx=I64)
    return [op(ctx, "Transpose", [x, p], ctx.dtype(x), T=ctx.dtype(x), Tperm=I64)]


def _is_listed(ctx: LiftContext, positions: ir.Value, axes: ir.Value) -> ir.Value:
    """[len(positions)] bool: whether each position occurs in ``axes`` (both 1-D int64)."""
    eq = binary(ctx, "Equal", reshape(ctx, positions, ctx.i64([-1, 1])),
                reshape(ctx, axes, ctx.i64([1, -1])))
    return op(ctx, "Any", [eq, ctx.i64([1], "axis")], BOOL, Tidx=I64, keep_dims=False)


@register("Squeeze")
def lift_squeeze(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, axes = node.inputs[0], ctx.input(node, 1)
    t = ctx.dtype(x)
    const = None if axes is None else ctx.constant_value(axes)
    if axes is None or const is not None:
        dims = [] if axes is None else [int(a) for a in np.asarray(const).reshape(-1)]
        return [op(ctx, "Squeeze", [x], t, T=t, squeeze_dims=ir.Attr(ir.AttrType.INTS, tuple(dims)))]
    # computed axes: reshape to the dims not listed
    r = rank_of(ctx, x)
    axes = wrap_negative(ctx, cast(ctx, axes, I64), r)
    listed = _is_listed(ctx, int_range(ctx, ctx.i64(0, "zero"), r), axes)
    keep = op(ctx, "Where", [op(ctx, "LogicalNot", [listed], BOOL)], I64, T=BOOL)
    keep = reshape(ctx, keep, ctx.i64([-1]))
    return [reshape(ctx, x, gather(ctx, shape_of(ctx, x), keep, 0))]


@register("Unsqueeze")
def lift_unsqueeze(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, axes = node.inputs[0], node.inputs[1]
    const = ctx.constant_value(axes)
    r = ctx.rank(x)
    if const is not None:
        vals = [int(a) for a in np.asarray(const).reshape(-1)]
        if r is not None:
            vals = [a + r + len(vals) if a < 0 else a for a in vals]
        if all(a >= 0 for a in vals):  # ascending insertions land at their final positions
            y = x
            for a in sorted(vals):
                y = op(ctx, "ExpandDims", [y, ctx.i64(a, "axis")], ctx.dtype(x), T=ctx.dtype(x), Tdim=I64)
            return [y]
    # general: output dim j is 1 where j is listed, else the next input dim
    axes = i64_input(ctx, axes)
    out_r = binary(ctx, "AddV2", rank_of(ctx, x), op(ctx, "Size", [axes], I64, T=I64, out_type=I64))
    new = _is_listed(ctx, int_range(ctx, ctx.i64(0, "zero"), out_r), wrap_negative(ctx, axes, out_r))
    old = cast(ctx, op(ctx, "LogicalNot", [new], BOOL), I64)
    src = op(ctx, "Cumsum", [old, ctx.i64(0, "axis")], I64, T=I64, Tidx=I64, exclusive=True, reverse=False)
    dims = gather(ctx, concat(ctx, [shape_of(ctx, x), ctx.i64([1])]), src, 0)
    ones = op(ctx, "OnesLike", [dims], I64, T=I64)
    return [reshape(ctx, x, select(ctx, new, ones, dims))]


@register("Flatten")
def lift_flatten(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    axis = int(node.attr("axis", 1))
    if axis < 0 and ctx.rank(x) is not None:
        axis += ctx.rank(x)
    a = ctx.i64(axis, "axis") if axis >= 0 else binary(ctx, "AddV2", rank_of(ctx, x), ctx.i64(axis))
    a = reshape(ctx, a, ctx.i64([1]))
    shp = shape_of(ctx, x)
    head = op(ctx, "Slice", [shp, ctx.i64([0]), a], I64, T=I64, Index=I64)
    tail = op(ctx, "Slice", [shp, a, ctx.i64([-1])], I64, T=I64, Index=I64)
    dims = [op(ctx, "Prod", [p, ctx.i64([0])], I64, T=I64, Tidx=I64, keep_dims=True) for p in (head, tail)]
    return [reshape(ctx, x, concat(ctx, dims))]


@register("Split")
def lift_split(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, split = node.inputs[0], ctx.input(node, 1)
    n = len(node.outputs)
    axis = int(node.attr("axis", 0))
    if split is not None:
        sizes = i64_input(ctx, split)
    else:  # opset 18: chunks of ceil(dim / n), the last one smaller
        shape = ctx.shape(x)
        dim = shape[axis] if shape is not None else None
        if isinstance(dim, int):
            c = -(-dim // n)
            sizes = ctx.i64([c] * (n - 1) + [dim - c * (n - 1)], "sizes")
        else:
            d = axis_dim(ctx, x, axis)
            c = binary(ctx, "FloorDiv", binary(ctx, "AddV2", d, ctx.i64(n - 1)), ctx.i64(n))
            head = op(ctx, "Fill", [ctx.i64([n - 1]), c], I64, T=I64, index_type=I64)
            sizes = concat(ctx, [head, ctx.i64([-1])])
    t = ctx.dtype(x)
    outs = ctx.tf_multi("SplitV", [x, sizes, ctx.i32(axis, "axis")], n, num_split=n, T=t, Tlen=I64)
    for v in outs:
        v.type = ir.TensorType(t, None)
    return list(outs)


def _paddings(ctx: LiftContext, node: ir.Node, x: ir.Value) -> ir.Value:
    """ONNX pads [b1.., e1..] (over ``axes``) as TF paddings [rank, 2] int64."""
    pairs = op(ctx, "Transpose", [reshape(ctx, i64_input(ctx, node.inputs[1]), ctx.i64([2, -1])),
                                  ctx.i64([1, 0])], I64, T=I64, Tperm=I64)
    axes_v = ctx.input(node, 3)
    if axes_v is None:
        return pairs
    const = ctx.constant_value(axes_v)
    axes = None if const is None else [int(a) for a in np.asarray(const).reshape(-1)]
    return _rows_for_axes(ctx, x, pairs, axes, axes_v)


def _rows_for_axes(ctx: LiftContext, x: ir.Value, pairs: ir.Value, axes: list[int] | None,
                   axes_v: ir.Value | None = None) -> ir.Value:
    """[len(axes), 2] ``pairs`` as [rank, 2] rows, zeros for the axes not listed (``axes``
    constant, else the computed ``axes_v``)."""
    r = ctx.rank(x)
    if axes is not None and r is not None:
        axes = [a + r if a < 0 else a for a in axes]
        rows = [axes.index(k) if k in axes else len(axes) for k in range(r)]
        return gather(ctx, concat(ctx, [pairs, ctx.i64(np.zeros((1, 2)), "zero_row")]), ctx.i64(rows), 0)
    # computed axes or unknown rank: scatter the pairs into [rank, 2] zeros
    rank = rank_of(ctx, x)
    axes_i = ctx.i64(axes, "axes") if axes is not None else i64_input(ctx, axes_v)
    dims = concat(ctx, [reshape(ctx, rank, ctx.i64([1])), ctx.i64([2])])
    zeros = op(ctx, "Fill", [dims, ctx.i64(0, "zero")], I64, T=I64, index_type=I64)
    idx = reshape(ctx, wrap_negative(ctx, axes_i, rank), ctx.i64([-1, 1]))
    return op(ctx, "TensorScatterUpdate", [zeros, idx, pairs], I64, T=I64, Tindices=I64)


def _crop(ctx: LiftContext, x: ir.Value, crop: ir.Value) -> ir.Value:
    """Remove -crop[:, 0] leading and -crop[:, 1] trailing elements of every dim."""
    before, after = (gather(ctx, crop, ctx.i64(i, "side"), 1) for i in (0, 1))
    begin = op(ctx, "Neg", [before], I64, T=I64)
    size = binary(ctx, "AddV2", binary(ctx, "AddV2", shape_of(ctx, x), before), after)
    return op(ctx, "Slice", [x, begin, size], ctx.dtype(x), T=ctx.dtype(x), Index=I64)


def _index_pad(ctx: LiftContext, x: ir.Value, pads: ir.Value, r: int, mode: str) -> ir.Value:
    """edge/wrap: per axis, gather clamped (edge) or wrapped (wrap) positions -b .. d+e."""
    for k in range(r):
        row = gather(ctx, pads, ctx.i64(k, "axis"), 0)
        b, e = (gather(ctx, row, ctx.i64(i, "side"), 0) for i in (0, 1))
        d = gather(ctx, shape_of(ctx, x), ctx.i64(k, "axis"), 0)
        idx = int_range(ctx, op(ctx, "Neg", [b], I64, T=I64), binary(ctx, "AddV2", d, e))
        if mode == "edge":
            last = binary(ctx, "Sub", d, ctx.i64(1, "one"))
            idx = binary(ctx, "Maximum", binary(ctx, "Minimum", idx, last), ctx.i64(0, "zero"))
        else:
            idx = binary(ctx, "FloorMod", idx, d)
        x = gather(ctx, x, idx, k)
    return x


@register("Pad")
def lift_pad(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    mode = node.attr("mode", "constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    t, r = ctx.dtype(x), ctx.rank(x)
    pads = _paddings(ctx, node, x)
    const = ctx.constant_value(node.inputs[1])
    if const is None or (np.asarray(const) < 0).any():  # negative pads crop first
        x = _crop(ctx, x, binary(ctx, "Minimum", pads, ctx.i64(0, "zero")))
        pads = binary(ctx, "Maximum", pads, ctx.i64(0, "zero"))
    if mode == "constant":
        cv = ctx.input(node, 2)
        cv = ctx.const(np.zeros((), t.numpy), "zero") if cv is None else scalar_input(ctx, cv, t)
        return [op(ctx, "PadV2", [x, pads, cv], t, T=t, Tpaddings=I64)]
    if mode == "reflect":
        return [op(ctx, "MirrorPad", [x, pads], t, T=t, Tpaddings=I64, mode="REFLECT")]
    if mode in ("edge", "wrap"):
        if r is None:
            raise ctx.unsupported(f"Pad mode {mode} needs the input rank")
        return [_index_pad(ctx, x, pads, r, mode)]
    raise ctx.unsupported(f"Pad mode {mode!r}")


@register("CenterCropPad")
def lift_centercroppad(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    # per axis diff = target - dim: crop (diff < 0) or zero-pad (diff > 0) by trunc(diff / 2)
    # before and the rest after, as Pad with negative pads
    x, target = node.inputs[0], i64_input(ctx, node.inputs[1])
    axes = node.attr("axes", None)
    shp = shape_of(ctx, x)
    if axes is None:
        dims = shp
    else:
        pos = wrap_negative(ctx, ctx.i64(list(axes), "axes"), rank_of(ctx, x))
        dims = gather(ctx, shp, pos, 0)
    diff = binary(ctx, "Sub", target, dims)
    before = binary(ctx, "TruncateDiv", diff, ctx.i64(2, "two"))
    pairs = op(ctx, "Pack", [before, binary(ctx, "Sub", diff, before)], I64, N=2, T=I64, axis=1)
    pads = pairs if axes is None else _rows_for_axes(ctx, x, pairs, list(axes))
    x = _crop(ctx, x, binary(ctx, "Minimum", pads, ctx.i64(0, "zero")))
    t = ctx.dtype(x)
    grow = binary(ctx, "Maximum", pads, ctx.i64(0, "zero"))
    return [op(ctx, "PadV2", [x, grow, ctx.const(np.zeros((), t.numpy), "zero")], t, T=t, Tpaddings=I64)]
