"""Splitting, tiling, padding, slicing and reversing (FORMATS.md 8: Split's axis comes first,
SplitV's one -1, Pad's [rank,2] paddings, MirrorPad SYMMETRIC, int32 index tensors)."""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from . import TF_IMPORT
from ._context import ImportContext, TfNode

INT64_MAX = int(np.iinfo(np.int64).max)
INT64_MIN = int(np.iinfo(np.int64).min)


def _const_ints(ctx: ImportContext, node: TfNode, i: int, what: str) -> list[int]:
    value = ctx.constant_value(ctx.input(node, i))
    if value is None:
        raise ctx.unsupported(f"input {i} ({what}) must be a constant", node)
    return [int(v) for v in np.asarray(value).reshape(-1)]


def _slice(ctx: ImportContext, x: ir.Value, starts, ends, axes, steps=None) -> ir.Value:
    ins = [x, ctx.i64(starts, "starts"), ctx.i64(ends, "ends"), ctx.i64(axes, "axes")]
    return ctx.b.op("Slice", ins + ([ctx.i64(steps, "steps")] if steps is not None else []))


def _split(ctx: ImportContext, x: ir.Value, n: int, axis: int, split=None) -> list[ir.Value]:
    """ONNX Split into n outputs (``num_outputs`` is also the Builder's own keyword, so the
    node is built directly)."""
    inputs = [x] if split is None else [x, ctx.i64(split, "split")]
    attrs = {"axis": axis} if split is not None else {"axis": axis, "num_outputs": n}
    node = ir.Node("Split", inputs, attrs, name=ctx.b.prefix + "Split", num_outputs=n)
    return list(ctx.b.add(node).outputs)


@TF_IMPORT.register("Split")
def import_split(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # Split(axis, value; num_split): the axis comes FIRST; TF requires an even split
    axis = _const_ints(ctx, node, 0, "the axis")[0]
    n = int(ctx.attr(node, "num_split"))
    x = ctx.input(node, 1)
    if n == 1:
        return [ctx.b.op("Identity", [x])]
    return _split(ctx, x, n, axis)


@TF_IMPORT.register("SplitV")
def import_splitv(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # SplitV(value, size_splits, axis): at most one size is -1 (the rest of the dim)
    x = ctx.input(node, 0)
    sizes = _const_ints(ctx, node, 1, "size_splits")
    axis = _const_ints(ctx, node, 2, "the axis")[0]
    if len(sizes) == 1:
        return [ctx.b.op("Identity", [x])]
    if -1 not in sizes:
        return _split(ctx, x, len(sizes), axis, sizes)
    # the outputs before the -1 are offsets from the start, those after it from the end
    k = sizes.index(-1)
    outs = []
    for i in range(len(sizes)):
        if i < k:
            start, end = sum(sizes[:i]), sum(sizes[:i + 1])
        elif i == k:
            start, end = sum(sizes[:k]), -sum(sizes[k + 1:]) or INT64_MAX
        else:
            start, end = -sum(sizes[i:]) or INT64_MAX, -sum(sizes[i + 1:]) or INT64_MAX
        outs.append(_slice(ctx, x, [start], [end], [axis]))
    return outs


@TF_IMPORT.register("Unpack")
def import_unpack(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    axis, n = int(ctx.attr(node, "axis", 0)), int(ctx.attr(node, "num"))
    x, axes = ctx.input(node, 0), ctx.i64([axis], "axis")
    parts = _split(ctx, x, n, axis) if n > 1 else [x]
    return [ctx.b.op("Squeeze", [p, axes]) for p in parts]


@TF_IMPORT.register("Tile")
def import_tile(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.b.op("Tile", [ctx.input(node, 0), ctx.as_int64(ctx.input(node, 1), "repeats")])]


@TF_IMPORT.register("BroadcastTo")
def import_broadcastto(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.b.op("Expand", [ctx.input(node, 0), ctx.as_int64(ctx.input(node, 1), "shape")])]


def _onnx_pads(ctx: ImportContext, paddings: ir.Value) -> ir.Value:
    """TF paddings [rank, 2] (before, after per dim) -> ONNX pads [b1..bn, e1..en] (int64)."""
    const = ctx.constant_value(paddings)
    if const is not None:
        return ctx.i64(np.asarray(const).T.reshape(-1), "pads")
    pairs = ctx.b.op("Transpose", [ctx.cast(paddings, ir.DType.INT64)], perm=[1, 0])
    return ctx.b.op("Reshape", [pairs, ctx.i64([-1])])


@TF_IMPORT.register("Pad", "PadV2")
def import_pad(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # Pad fills with 0 (ONNX's default); PadV2 takes constant_values as input 2 (a scalar)
    x, pads = ctx.input(node, 0), _onnx_pads(ctx, ctx.input(node, 1))
    fill = [ctx.input(node, 2)] if node.op == "PadV2" else []
    return [ctx.b.op("Pad", [x, pads, *fill], mode="constant")]


@TF_IMPORT.register("MirrorPad")
def import_mirrorpad(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    mode = ctx.attr(node, "mode")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    x = ctx.input(node, 0)
    if mode == "REFLECT":  # the edge is not repeated, as ONNX reflect
        return [ctx.b.op("Pad", [x, _onnx_pads(ctx, ctx.input(node, 1))], mode="reflect")]
    if mode != "SYMMETRIC":
        raise ctx.unsupported(f"MirrorPad mode {mode!r}", node)
    # SYMMETRIC repeats the edge: no ONNX mode, so concat reversed slices per padded axis
    pads = ctx.constant_value(ctx.input(node, 1))
    if pads is None:
        raise ctx.unsupported("SYMMETRIC MirrorPad with non-constant paddings", node)
    y = x
    for axis, (before, after) in enumerate(np.asarray(pads).reshape(-1, 2).tolist()):
        parts = [y]
        if before:  # y[before-1::-1]
            parts.insert(0, _slice(ctx, y, [before - 1], [INT64_MIN], [axis], [-1]))
        if after:  # y[:-after-1:-1]
            parts.append(_slice(ctx, y, [-1], [-after - 1], [axis], [-1]))
        if len(parts) > 1:
            y = ctx.b.op("Concat", parts, axis=axis)
    return [y if y is not x else ctx.b.op("Identity", [x])]


@TF_IMPORT.register("Slice")
def import_slice(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # Slice(input, begin, size): size -1 means "to the end" of that dim
    x, begin, size = ctx.inputs(node)
    b, s = ctx.constant_value(begin), ctx.constant_value(size)
    if b is not None and s is not None:
        b, s = np.asarray(b, np.int64).reshape(-1), np.asarray(s, np.int64).reshape(-1)
        ends = np.where(s == -1, INT64_MAX, b + s)
        return [ctx.b.op("Slice", [x, ctx.i64(b, "starts"), ctx.i64(ends, "ends")])]
    b64, s64 = ctx.as_int64(begin, "starts"), ctx.as_int64(size, "sizes")
    to_end = ctx.b.op("Equal", [s64, ctx.i64(-1, "minus_one")])
    ends = ctx.b.op("Where", [to_end, ctx.i64(INT64_MAX, "int64_max"),
                              ctx.b.op("Add", [b64, s64])])
    return [ctx.b.op("Slice", [x, b64, ends])]


@TF_IMPORT.register("ReverseV2")
def import_reversev2(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    x = ctx.input(node, 0)
    axes = _const_ints(ctx, node, 1, "the axes")
    if not axes:
        return [ctx.b.op("Identity", [x])]
    n = len(axes)
    return [_slice(ctx, x, [-1] * n, [INT64_MIN] * n, axes, [-1] * n)]
