"""shape-inference rules for the ops that move dims around (Shape, Reshape, Transpose, Concat,
Split, Slice, Gather, Squeeze/Unsqueeze, Expand, Tile, Pad, Resize, ...), and the tracking of
small integer values (shape vectors) through them. See ``shape_inference`` for the contract.
"""

from __future__ import annotations

import math
from collections import Counter

from .. import ir
from .shape_inference_rules import (
    Dim,
    Dims,
    InferContext,
    ShapeConflict,
    Types,
    axis,
    broadcast,
    product,
    rule,
    tensor,
)

I64 = ir.DType.INT64


@rule("Shape")
def shape_op(node: ir.Node, ctx: InferContext) -> Types:
    x = ctx.shape(0)
    if x is None:
        return [tensor(I64, (None,))]
    dims = x[slice(*_clamped(node.attr("start", 0), node.attr("end", None), len(x)))]
    ctx.set_values(0, dims)
    return [tensor(I64, (len(dims),))]


def _clamped(start: int, end: int | None, rank: int) -> tuple[int, int]:
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = rank if end is None else end
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return start, end


@rule("Size")
def size_op(node: ir.Node, ctx: InferContext) -> Types:
    x = ctx.shape(0)
    if x is not None and all(isinstance(d, int) for d in x):
        ctx.set_values(0, (math.prod(x),))  # type: ignore[arg-type]
    return [tensor(I64, ())]


@rule("Constant")
def constant(node: ir.Node, ctx: InferContext) -> Types:
    t = node.attr("value")
    if not isinstance(t, ir.Tensor):
        return [None]  # value_ints, value_float, ...: the importer normally folds these
    if t.dtype.is_integer and len(t.shape) <= 1 and math.prod(t.shape) <= 64:
        ctx.set_values(0, tuple(int(v) for v in t.numpy().reshape(-1)))
    return [tensor(t.dtype, tuple(t.shape))]


@rule("ConstantOfShape")
def constant_of_shape(node: ir.Node, ctx: InferContext) -> Types:
    value = node.attr("value")
    dtype = value.dtype if isinstance(value, ir.Tensor) else ir.DType.FLOAT
    dims = ctx.values(0)
    if dims is None:
        s = ctx.shape(0)
        rank = s[0] if s is not None and len(s) == 1 else None
        return [tensor(dtype, (None,) * rank if isinstance(rank, int) else None)]
    return [tensor(dtype, dims)]


@rule("Reshape")
def reshape(node: ir.Node, ctx: InferContext) -> Types:
    x, target = ctx.shape(0), ctx.values(1)
    if target is None:
        s = ctx.shape(1)
        rank = s[0] if s is not None and len(s) == 1 else None
        return [tensor(ctx.dtype(0), (None,) * rank if isinstance(rank, int) else None)]
    keep_zero = node.attr("allowzero", 0)
    out: list[Dim] = []
    for i, d in enumerate(target):
        if d == 0 and not keep_zero:
            out.append(x[i] if x is not None and i < len(x) else None)
        else:
            out.append(d)
    if -1 in out:
        i = out.index(-1)
        out[i] = _inferred_dim(x, out[:i] + out[i + 1:])
    return [tensor(ctx.dtype(0), tuple(out))]


def _inferred_dim(x: ir.Shape | None, others: list[Dim]) -> Dim:
    """Reshape's -1: the input's element count over the others', symbols cancelled."""
    if x is None or None in x or None in others:
        return None
    num, den = Counter(d for d in x if isinstance(d, str)), Counter(d for d in others
                                                                   if isinstance(d, str))
    if num != den:
        return None
    n = math.prod(d for d in x if isinstance(d, int))
    m = math.prod(d for d in others if isinstance(d, int))
    if m == 0 or n % m:
        return None
    return n // m


@rule("Flatten")
def flatten(node: ir.Node, ctx: InferContext) -> Types:
    x = ctx.shape(0)
    if x is None:
        return [tensor(ctx.dtype(0), (None, None))]
    a = node.attr("axis", 1)
    a = a + len(x) if a < 0 else a
    return [tensor(ctx.dtype(0), (product(x[:a]), product(x[a:])))]


@rule("Transpose")
def transpose(node: ir.Node, ctx: InferContext) -> Types:
    x = ctx.shape(0)
    if x is None:
        return [tensor(ctx.dtype(0), None)]
    perm = node.attr("perm", None) or list(range(len(x)))[::-1]
    if sorted(perm) != list(range(len(x))):
        raise ShapeConflict(f"perm {list(perm)} does not fit rank {len(x)}")
    return [tensor(ctx.dtype(0), tuple(x[p] for p in perm))]


@rule("Concat")
def concat(node: ir.Node, ctx: InferContext) -> Types:
    shapes = [v.shape if v is not None else None for v in node.inputs]
    if not shapes or any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1:
        return [tensor(ctx.dtype(0), None)]
    rank = len(shapes[0])
    a = axis(node.attr("axis", 0), rank)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[i] for s in shapes]
        out.append(_sum(dims) if i == a else _same(dims))
    vals = [ctx.values(k) for k in range(len(shapes))]
    if rank == 1 and all(v is not None for v in vals):
        ctx.set_values(0, tuple(d for v in vals for d in v))  # type: ignore[union-attr]
    return [tensor(ctx.dtype(0), tuple(out))]


def _sum(dims: list[Dim]) -> Dim:
    return sum(dims) if all(isinstance(d, int) for d in dims) else None  # type: ignore[arg-type]


def _same(dims: list[Dim]) -> Dim:
    """The dim all inputs share (a static one wins over symbols/unknowns)."""
    static = [d for d in dims if isinstance(d, int)]
    if static:
        return static[0]
    return dims[0] if all(d == dims[0] for d in dims) else None


@rule("Split")
def split(node: ir.Node, ctx: InferContext) -> Types:
    x, n = ctx.shape(0), len(node.outputs)
    if x is None:
        return [tensor(ctx.dtype(0), None)] * n
    a = axis(node.attr("axis", 0), len(x))
    sizes = ctx.ints(1) if ctx.input(1) is not None else None
    d = x[a]
    if sizes is None and ctx.input(1) is None and isinstance(d, int):
        chunk = -(-d // n)
        sizes = [chunk] * (n - 1) + [d - chunk * (n - 1)]
    dims = sizes if sizes is not None and len(sizes) == n else [None] * n
    return [tensor(ctx.dtype(0), x[:a] + (s,) + x[a + 1:]) for s in dims]


@rule("Slice")
def slice_op(node: ir.Node, ctx: InferContext) -> Types:
    x = ctx.shape(0)
    starts, ends = ctx.ints(1), ctx.ints(2)
    if x is None or starts is None or ends is None:
        return [tensor(ctx.dtype(0), None if x is None else (None,) * len(x))]
    axes = ctx.ints(3) if ctx.input(3) is not None else list(range(len(starts)))
    steps = ctx.ints(4) if ctx.input(4) is not None else [1] * len(starts)
    if axes is None or steps is None or 0 in steps:
        return [tensor(ctx.dtype(0), (None,) * len(x))]
    out = list(x)
    vals = ctx.values(0)
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        a = axis(a, len(x))
        out[a] = _slice_len(x[a], s, e, st)
        if vals is not None and a == 0 and len(x) == 1:
            vals = vals[slice(*slice(s, e, st).indices(len(vals)))]
    if vals is not None and len(x) == 1:
        ctx.set_values(0, vals)
    return [tensor(ctx.dtype(0), tuple(out))]


def _slice_len(d: Dim, start: int, end: int, step: int) -> Dim:
    if isinstance(d, int):
        return len(range(*slice(start, end, step).indices(d)))
    if start == 0 and step == 1 and end >= 2**31 - 1:
        return d  # the whole axis
    return None


@rule("Gather")
def gather(node: ir.Node, ctx: InferContext) -> Types:
    x, idx = ctx.shape(0), ctx.shape(1)
    if x is None or idx is None:
        return [tensor(ctx.dtype(0), None)]
    a = axis(node.attr("axis", 0), len(x))
    vals, picks = ctx.values(0), ctx.ints(1)
    if vals is not None and picks is not None and len(x) == 1:
        got = tuple(vals[i] for i in picks if -len(vals) <= i < len(vals))
        if len(got) == len(picks):
            ctx.set_values(0, got)
    return [tensor(ctx.dtype(0), x[:a] + tuple(idx) + x[a + 1:])]


@rule("GatherElements")
def gather_elements(node: ir.Node, ctx: InferContext) -> Types:
    return [tensor(ctx.dtype(0), ctx.shape(1))]


@rule("Squeeze")
def squeeze(node: ir.Node, ctx: InferContext) -> Types:
    x = ctx.shape(0)
    if x is None:
        return [tensor(ctx.dtype(0), None)]
    axes = ctx.ints(1) if ctx.input(1) is not None else None
    if axes is None and ctx.input(1) is not None:
        return [tensor(ctx.dtype(0), None)]
    if axes is None:
        if not all(isinstance(d, int) for d in x):
            return [tensor(ctx.dtype(0), None)]
        picked = {i for i, d in enumerate(x) if d == 1}
    else:
        picked = {axis(a, len(x)) for a in axes}
    if len(x) == 1 and picked == {0}:
        ctx.set_values(0, ctx.values(0))
    return [tensor(ctx.dtype(0), tuple(d for i, d in enumerate(x) if i not in picked))]


@rule("Unsqueeze")
def unsqueeze(node: ir.Node, ctx: InferContext) -> Types:
    x, axes = ctx.shape(0), ctx.ints(1)
    if x is None or axes is None:
        return [tensor(ctx.dtype(0), None)]
    rank = len(x) + len(axes)
    picked = {axis(a, rank) for a in axes}
    it = iter(x)
    if not x:
        ctx.set_values(0, ctx.values(0))
    return [tensor(ctx.dtype(0), tuple(1 if i in picked else next(it) for i in range(rank)))]


@rule("Expand")
def expand(node: ir.Node, ctx: InferContext) -> Types:
    target = ctx.values(1)
    if target is None:
        return [tensor(ctx.dtype(0), None)]
    return [tensor(ctx.dtype(0), broadcast([ctx.shape(0), target]))]


@rule("Tile")
def tile(node: ir.Node, ctx: InferContext) -> Types:
    x, reps = ctx.shape(0), ctx.ints(1)
    if x is None or reps is None or len(reps) != len(x):
        return [tensor(ctx.dtype(0), None if x is None else (None,) * len(x))]
    return [tensor(ctx.dtype(0), tuple(d if r == 1 else d * r if isinstance(d, int) else None
                                       for d, r in zip(x, reps, strict=True)))]


@rule("Pad")
def pad(node: ir.Node, ctx: InferContext) -> Types:
    x, pads = ctx.shape(0), ctx.ints(1)
    if x is None or pads is None:
        return [tensor(ctx.dtype(0), None if x is None else (None,) * len(x))]
    axes = ctx.ints(3) if ctx.input(3) is not None else list(range(len(x)))
    if axes is None or len(pads) != 2 * len(axes):
        return [tensor(ctx.dtype(0), (None,) * len(x))]
    out = list(x)
    for k, a in enumerate(axes):
        a = axis(a, len(x))
        extra = pads[k] + pads[k + len(axes)]
        out[a] = x[a] + extra if isinstance(x[a], int) else x[a] if extra == 0 else None
    return [tensor(ctx.dtype(0), tuple(out))]


@rule("Resize")
def resize(node: ir.Node, ctx: InferContext) -> Types:
    x = ctx.shape(0)
    if x is None:
        return [tensor(ctx.dtype(0), None)]
    policy = node.attr("keep_aspect_ratio_policy", "stretch")
    mode = node.attr("coordinate_transformation_mode", "half_pixel")
    if policy not in ("stretch", b"stretch") or mode in ("tf_crop_and_resize", b"tf_crop_and_resize"):
        return [tensor(ctx.dtype(0), (None,) * len(x))]
    axes = list(node.attr("axes", None) or range(len(x)))
    sizes = ctx.ints(3) if ctx.input(3) is not None else None
    scales = _floats(ctx.input(2))
    out: list[Dim] = [None] * len(x) if sizes is None and scales is None else list(x)
    for k, a in enumerate(axes):
        a = axis(a, len(x))
        if sizes is not None and len(sizes) == len(axes):
            out[a] = sizes[k]
        elif scales is not None and len(scales) == len(axes):
            out[a] = math.floor(x[a] * scales[k]) if isinstance(x[a], int) else (
                x[a] if scales[k] == 1 else None)
    return [tensor(ctx.dtype(0), tuple(out))]


def _floats(v: ir.Value | None) -> list[float] | None:
    if v is None or v.const is None or not v.dtype or not v.dtype.is_floating:
        return None
    arr = v.const.numpy().reshape(-1)
    return [float(s) for s in arr] if arr.size else None


@rule("Range")
def range_op(node: ir.Node, ctx: InferContext) -> Types:
    return [tensor(ctx.dtype(0), (None,))]  # length depends on values: rank only


__all__ = ["Dims"]
