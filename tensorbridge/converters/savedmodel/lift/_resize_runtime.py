"""ONNX Resize computed in the TF graph at run time: any rank and axes, scales/sizes/roi that
are run-time values, unknown input dims (the general path of resize.py, when no TF resize
kernel matches and the taps cannot be constants).

The coordinate maps of all resized axes are computed at once, in float64 as ONNX's reference
implementation (onnx/reference/ops/op_resize.py) does, as an [n, M] grid (n resized axes, M the
largest output length; row k is valid up to that axis's output length):

    output length   sizes; floor(in * scale) from scales; keep_aspect_ratio_policy
                    not_larger / not_smaller: one scale min / max(sizes / in), int(scale * in + 0.5)
    x_original      per coordinate_transformation_mode, ``length`` = scale * in (a float):
                    half_pixel (y + .5) / scale - .5, half_pixel_symmetric (the same, shifted by
                    in / 2 * (1 - out / length)), pytorch_half_pixel (0 when length is 1, the
                    spec's), align_corners, asymmetric, tf_crop_and_resize (roi; beyond the input
                    the output is extrapolation_value)
    nearest         floor / ceil, or round halves down / up (an integral x_original is itself)
    linear, cubic   taps left + i, left = ceil(x) - 1, ratio = x - left in (0, 1]; weight
                    kernel(s * (i - ratio)); s = 1, or min(scale, 1) with antialias (the window
                    grows by 1/s, weights normalized); exclude_outside zeroes taps beyond the
                    input and renormalizes; other taps clamp to the edge

Then per resized axis, in ``axes`` order: a GatherV2 of its row's indices ([out] or [out, T],
sliced to its own output length and taps) along the axis and, for linear/cubic, an Einsum with
its [out, T] weights. An axis that keeps its size costs a gather (and Einsum) all the same:
whether it does is known only at run time. Linear and cubic compute in float32 (float64 for
double and integer inputs, whose results round half to even and saturate, as the reference's
saturate_cast).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorbridge import ir

from ._context import LiftContext
from .conv import I32, text, ttype

D = ir.DType.DOUBLE
F32 = ir.DType.FLOAT
BOOL = ir.DType.BOOL
_TO_F32 = (F32, ir.DType.FLOAT16, ir.DType.BFLOAT16)
_LETTERS = "abcdefghijklmn"  # Einsum letters of the data dims ('o', 't': output, taps)


class _G:
    """Small builder for the float64 coordinate math (python numbers become constants)."""

    def __init__(self, ctx: LiftContext) -> None:
        self.ctx = ctx
        self.consts: dict[tuple, ir.Value] = {}

    def const(self, x, np_type=np.float64, name: str = "c") -> ir.Value:
        """A constant, made once per value."""
        arr = np.asarray(x, np_type)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self.consts:
            self.consts[key] = self.ctx.const(arr, name)
        return self.consts[key]

    def i32(self, x, name: str = "c") -> ir.Value:
        return self.const(x, np.int32, name)

    def v(self, x) -> ir.Value:
        return x if isinstance(x, ir.Value) else self.const(x)

    def op(self, name: str, *xs, t: ir.DType = D, out: ir.DType | None = None, **attrs) -> ir.Value:
        return self.ctx.tf(name, [self.v(x) for x in xs], T=t, types=ttype(out or t), **attrs)

    def add(self, a, b):
        return self.op("AddV2", a, b)

    def sub(self, a, b):
        return self.op("Sub", a, b)

    def mul(self, a, b):
        return self.op("Mul", a, b)

    def div(self, a, b):
        return self.op("RealDiv", a, b)

    def cmp(self, name: str, a, b) -> ir.Value:
        return self.op(name, a, b, out=BOOL)

    def where(self, cond, a, b) -> ir.Value:
        return self.ctx.tf("SelectV2", [cond, self.v(a), self.v(b)], T=D, types=ttype(D))

    def clamp(self, x, hi) -> ir.Value:
        return self.op("Minimum", self.op("Maximum", x, 0.0), hi)

    def reduce(self, name: str, x, axis: int, t: ir.DType = D) -> ir.Value:
        return self.op(name, x, self.i32(axis, "axis"), t=t, Tidx=I32, keep_dims=True)

    def reshape(self, x: ir.Value, shape, t: ir.DType = D) -> ir.Value:
        return self.ctx.tf("Reshape", [x, self.i32(shape, "shape")], T=t, Tshape=I32, types=ttype(t))

    def gather(self, params: ir.Value, idx, axis: int, t: ir.DType = D) -> ir.Value:
        idx = idx if isinstance(idx, ir.Value) else self.i32(idx, "index")
        return self.ctx.tf("GatherV2", [params, idx, self.i32(axis, "axis")], Tparams=t,
                           Tindices=I32, Taxis=I32, batch_dims=0, types=ttype(t))


@dataclass
class _Axes:
    """The resized axes' run-time values: [n, 1] float64 columns."""

    axes: list[int]
    size: ir.Value  # input length
    scale: ir.Value
    length: ir.Value  # scale * size, the reference's float output width
    outd: ir.Value  # output length
    out: ir.Value  # output length, int32 [n]
    last: ir.Value  # size - 1


def _column(ctx: LiftContext, g: _G, v: ir.Value) -> ir.Value:
    """A 1-D run-time (or constant) tensor as an [n, 1] float64 column."""
    arr = ctx.constant_value(v)
    if arr is not None:
        return ctx.const(arr.astype(np.float64).reshape(-1, 1), "column")
    return g.reshape(ctx.cast(v, D), [-1, 1])


def _in_sizes(ctx: LiftContext, g: _G, x: ir.Value, axes: list[int]) -> ir.Value:
    dims = [x.shape[a] for a in axes]
    if all(isinstance(d, int) for d in dims):
        return ctx.const(np.asarray(dims, np.float64).reshape(-1, 1), "in_size")
    shape = ctx.tf("Shape", [x], T=ctx.dtype(x), out_type=I32, types=ttype(I32))
    return g.reshape(ctx.cast(g.gather(shape, axes, 0, I32), D), [-1, 1])


def _lengths(ctx: LiftContext, g: _G, node: ir.Node, x: ir.Value) -> _Axes:
    r = ctx.rank(x)
    if r is None:
        raise ctx.unsupported("Resize of an input of unknown rank")
    axes = [int(a) % r for a in (node.attr("axes") or range(r))]
    size = _in_sizes(ctx, g, x, axes)
    sizes = ctx.input(node, 3)
    if sizes is not None and ctx.constant_value(sizes) is not None and not ctx.constant_value(sizes).size:
        sizes = None
    if sizes is not None:
        want = _column(ctx, g, sizes)
        scale, outd = g.div(want, size), want
        policy = text(node.attr("keep_aspect_ratio_policy", "stretch"))
        if policy != "stretch":
            scale = g.reduce({"not_larger": "Min", "not_smaller": "Max"}[policy], scale, 0)
            scale = g.mul(scale, g.op("OnesLike", size))  # a row per axis in the grids
            outd = g.op("Floor", g.add(g.mul(scale, size), 0.5))
    else:
        if ctx.input(node, 2) is None:
            raise ctx.unsupported("Resize with neither scales nor sizes")
        scale = _column(ctx, g, ctx.input(node, 2))
        outd = g.op("Floor", g.mul(scale, size))
    out = ctx.cast(g.reshape(outd, [-1]), I32)
    return _Axes(axes, size, scale, g.mul(scale, size), outd, out, g.sub(size, 1.0))


def _roi(ctx: LiftContext, g: _G, node: ir.Node, p: _Axes) -> tuple[ir.Value, ir.Value]:
    """(roi end - start, roi start * (in - 1)) columns, computed in the roi's type as the
    reference does, then float64."""
    roi = ctx.input(node, 1)
    arr = ctx.constant_value(roi)
    if roi is None or (arr is not None and not arr.size):
        return g.v(1.0), g.v(0.0)
    rt = ctx.dtype(roi)
    pair = ctx.tf("Reshape", [roi, g.i32([2, -1, 1], "shape")], T=rt, Tshape=I32, types=ttype(rt))
    start, end = g.gather(pair, 0, 0, rt), g.gather(pair, 1, 0, rt)
    last = ctx.cast(p.last, rt)
    span = g.op("Sub", end, start, t=rt)
    return ctx.cast(span, D), ctx.cast(g.op("Mul", start, last, t=rt), D)


def _coordinates(ctx: LiftContext, g: _G, node: ir.Node, p: _Axes) -> tuple[ir.Value, ir.Value | None]:
    """(x_original [n, M], outside [n, M] bool or None)."""
    cmode = text(node.attr("coordinate_transformation_mode", "half_pixel"))
    most = ctx.cast(g.reduce("Max", p.out, 0, I32), D)
    y = ctx.tf("Range", [g.v(0.0), g.reshape(most, []), g.v(1.0)], Tidx=D, types=ttype(D))
    if cmode == "asymmetric":
        return g.div(y, p.scale), None
    if cmode in ("align_corners", "tf_crop_and_resize"):
        return _corners(ctx, g, node, p, y, cmode)
    half = g.div(g.add(y, 0.5), p.scale)
    if cmode == "tf_half_pixel_for_nn":
        return half, None
    c = g.sub(half, 0.5)
    if cmode == "pytorch_half_pixel":
        return g.where(g.cmp("Equal", p.length, 1.0), 0.0, c), None
    if cmode == "half_pixel_symmetric":
        offset = g.mul(g.div(p.size, 2.0), g.sub(1.0, g.div(p.outd, p.length)))
        return g.sub(g.add(offset, half), 0.5), None
    return c, None


def _corners(ctx: LiftContext, g: _G, node: ir.Node, p: _Axes, y: ir.Value, cmode: str):
    """align_corners and tf_crop_and_resize: y * (in - 1) / (length - 1) (times the roi span,
    plus its start), the middle when length is 1."""
    one = g.cmp("Equal", p.length, 1.0)
    if cmode == "align_corners":
        return g.where(one, 0.0, g.div(g.mul(y, p.last), g.sub(p.length, 1.0))), None
    span, base = _roi(ctx, g, node, p)
    single = g.div(g.mul(span, p.last), 2.0)
    c = g.add(g.where(one, single, g.div(g.mul(g.mul(y, span), p.last), g.sub(p.length, 1.0))), base)
    outside = ctx.tf("LogicalOr", [g.cmp("Less", c, 0.0), g.cmp("Greater", c, p.last)], types=ttype(BOOL))
    return c, outside


def _nearest(ctx: LiftContext, g: _G, node: ir.Node, c: ir.Value, p: _Axes) -> ir.Value:
    """The input index [n, M] int32 of every output position."""
    rule = text(node.attr("nearest_mode", "round_prefer_floor"))
    lo = g.op("Floor", c)
    if rule == "floor":
        idx = lo
    elif rule == "ceil":
        idx = g.op("Ceil", c)
    else:  # round: an exact half goes down (round_prefer_floor) or up
        frac = g.sub(c, lo)
        up = g.cmp("Greater" if rule == "round_prefer_floor" else "GreaterEqual", frac, 0.5)
        idx = g.add(lo, ctx.cast(up, D))
    return ctx.cast(g.clamp(idx, p.last), I32)


def _kernel(g: _G, d: ir.Value, mode: str, a: float) -> ir.Value:
    """The triangle (linear) or cubic convolution kernel at distances d >= 0."""
    if mode == "linear":
        return g.op("Relu", g.sub(1.0, d))
    near = g.add(g.mul(g.mul(g.sub(g.mul(a + 2, d), a + 3), d), d), 1.0)
    far = g.sub(g.mul(g.add(g.mul(g.sub(g.mul(a, d), 5 * a), d), 8 * a), d), 4 * a)
    return g.where(g.cmp("LessEqual", d, 1.0), near, g.where(g.cmp("Less", d, 2.0), far, 0.0))


def _concat(g: _G, a, b) -> ir.Value:
    """Two [n, 1] columns side by side."""
    return g.op("ConcatV2", a, b, g.i32(1, "axis"), N=2, Tidx=I32)


def _window(ctx: LiftContext, g: _G, support: int, s: ir.Value | None, p: _Axes):
    """(tap offsets i [T], per-axis Slice begin and size [n, 2] int32 of [M, T] rows): i in
    [1 - support, support] at scale 1; with antialias from floor(-support / s) + 1 to its
    negation + 1, T for the smallest s (each axis slices its own taps)."""
    n = len(p.axes)
    if s is None:
        offsets = g.v(np.arange(1 - support, support + 1, dtype=np.float64))
        begin, count = g.i32(np.zeros((n, 2)), "begin"), np.full((n, 1), 2.0 * support)
    else:
        first = g.add(g.op("Floor", g.div(-float(support), s)), 1.0)
        least = g.reduce("Min", first, 0)
        begin = ctx.cast(_concat(g, np.zeros((n, 1)), g.sub(first, least)), I32)
        count = g.sub(2.0, g.mul(2.0, first))
        least = g.reshape(least, [])
        offsets = ctx.tf("Range", [least, g.sub(2.0, least), g.v(1.0)], Tidx=D, types=ttype(D))
    size = ctx.cast(_concat(g, p.outd, count), I32)
    return offsets, begin, size


def _taps(ctx: LiftContext, g: _G, node: ir.Node, c: ir.Value, p: _Axes, mode: str):
    """(indices [n, M, T] int32, weights [n, M, T] float64, per-axis Slice begin and size)."""
    a = float(node.attr("cubic_coeff_a", -0.75))
    antialias = bool(node.attr("antialias", 0))
    left = g.sub(g.op("Ceil", c), 1.0)
    ratio = g.sub(c, left)
    s = g.op("Minimum", p.scale, 1.0) if antialias else None
    offsets, begin, size = _window(ctx, g, 1 if mode == "linear" else 2, s, p)
    expand = dict(t=D, Tdim=I32)
    dist = g.sub(offsets, g.op("ExpandDims", ratio, g.i32(-1, "axis"), **expand))
    if s is not None:
        dist = g.mul(dist, g.op("ExpandDims", s, g.i32(-1, "axis"), **expand))
    w = _kernel(g, g.op("Abs", dist), mode, a)
    if s is not None:
        w = g.div(w, g.reduce("Sum", w, -1))
    pos = g.add(g.op("ExpandDims", left, g.i32(-1, "axis"), **expand), offsets)
    last = g.op("ExpandDims", p.last, g.i32(-1, "axis"), **expand)
    if node.attr("exclude_outside", 0):
        inside = ctx.tf("LogicalAnd", [g.cmp("GreaterEqual", pos, 0.0), g.cmp("LessEqual", pos, last)],
                        types=ttype(BOOL))
        w = g.where(inside, w, 0.0)
        total = g.reduce("Sum", w, -1)
        w = g.div(w, g.where(g.cmp("Equal", total, 0.0), 1.0, total))
    return ctx.cast(g.clamp(pos, last), I32), w, (begin, size)


def _row(ctx: LiftContext, g: _G, grid: ir.Value, k: int, begin: ir.Value, size: ir.Value,
         t: ir.DType) -> ir.Value:
    """Row k of an [n, M] or [n, M, T] grid, sliced to that axis's [out_k] or [out_k, T_k]."""
    return ctx.tf("Slice", [g.gather(grid, k, 0, t), begin, size], T=t, Index=I32, types=ttype(t))


def _fill(ctx: LiftContext, node: ir.Node, t: ir.DType) -> ir.Value:
    e = np.float64(node.attr("extrapolation_value", 0.0))
    if t not in (*_TO_F32, D) and (t is BOOL or not np.issubdtype(t.numpy, np.number)):
        raise ctx.unsupported(f"tf_crop_and_resize of {t} (an extrapolation_value of that type)")
    if np.issubdtype(t.numpy, np.integer):
        info = np.iinfo(t.numpy)
        e = np.clip(np.round(e), info.min, info.max)
    return ctx.const(np.asarray(e).astype(t.numpy), "extrapolation")


def _compute_type(ctx: LiftContext, dtype: ir.DType, mode: str) -> ir.DType:
    if mode == "nearest":
        return dtype
    if dtype in _TO_F32:
        return F32
    if dtype is D or np.issubdtype(dtype.numpy, np.integer):
        return D
    raise ctx.unsupported(f"{mode} resize of {dtype}")


def _finish(ctx: LiftContext, g: _G, y: ir.Value, dtype: ir.DType, t: ir.DType) -> ir.Value:
    """Back to the input type: integers round half to even and saturate (the reference's)."""
    if t is dtype or dtype in _TO_F32:
        return ctx.cast(y, dtype)
    y = g.op("Round", y)
    info = np.iinfo(dtype.numpy)
    if info.bits < 64:
        y = g.op("ClipByValue", y, float(info.min), float(info.max))
    return ctx.cast(y, dtype)


_KNOWN = {"mode": ("nearest", "linear", "cubic"),
          "coordinate_transformation_mode": ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                                             "align_corners", "asymmetric", "tf_crop_and_resize",
                                             "tf_half_pixel_for_nn"),
          "nearest_mode": ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"),
          "keep_aspect_ratio_policy": ("stretch", "not_larger", "not_smaller")}


def _check(ctx: LiftContext, node: ir.Node) -> None:
    for name, values in _KNOWN.items():
        if node.attr(name) is not None and text(node.attr(name)) not in values:
            raise ctx.unsupported(f"Resize {name}={text(node.attr(name))}")


def resize_at_run_time(ctx: LiftContext, node: ir.Node, x: ir.Value) -> ir.Value:
    _check(ctx, node)
    mode = text(node.attr("mode", "nearest"))
    dtype, r = ctx.dtype(x), ctx.rank(x)
    t = _compute_type(ctx, dtype, mode)
    if r is not None and r > len(_LETTERS):
        raise ctx.unsupported(f"Resize of rank {r}")
    g = _G(ctx)
    p = _lengths(ctx, g, node, x)
    c, outside = _coordinates(ctx, g, node, p)
    if mode == "nearest":
        idx, w, window = _nearest(ctx, g, node, c, p), None, None
    else:
        idx, w, window = _taps(ctx, g, node, c, p, mode)
        w = ctx.cast(w, t)
    fill = _fill(ctx, node, t) if outside is not None else None
    y = ctx.cast(x, t)
    for k, axis in enumerate(p.axes):
        y = _along(ctx, g, y, k, axis, r, (idx, w, window, outside, fill), p.out)
    return _finish(ctx, g, y, dtype, t)


def _along(ctx: LiftContext, g: _G, y: ir.Value, k: int, axis: int, r: int, grids, out: ir.Value) -> ir.Value:
    """Resize ``y`` along ``axis`` by row k of the grids (indices, weights or None, their
    window or None, outside or None, the extrapolation value)."""
    idx, w, window, outside, fill = grids
    t = ctx.dtype(y)
    out_k, start = g.gather(out, [k], 0, I32), g.i32([0], "begin")
    if w is None:
        y = g.gather(y, _row(ctx, g, idx, k, start, out_k, I32), axis, t)
    else:
        begin, size = (g.gather(v, k, 0, I32) for v in window)
        y = g.gather(y, _row(ctx, g, idx, k, begin, size, I32), axis, t)
        pre, post = _LETTERS[:axis], _LETTERS[axis + 1:r]
        y = ctx.tf("Einsum", [y, _row(ctx, g, w, k, begin, size, t)], N=2, T=t, types=ttype(t),
                   equation=f"{pre}ot{post},ot->{pre}o{post}")
    if outside is not None:
        mask = g.reshape(_row(ctx, g, outside, k, start, out_k, BOOL), [-1] + [1] * (r - axis - 1), BOOL)
        y = ctx.tf("SelectV2", [mask, fill, y], T=t, types=ttype(t))
    return y
