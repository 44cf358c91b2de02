"""Lift: GridSample and RoiAlign, as ONNX defines them: sample coordinates computed element-wise,
the corner taps fetched by one GatherV2 (batch_dims=1 over the flattened spatial axes) and
summed with their weights.

GridSample (any number of spatial axes): per axis, the normalized grid coordinate is mapped to
pixels (align_corners or not); nearest rounds half to even; a coordinate outside
[x_min, x_max] (the borders: [0, d-1] aligned, [-0.5, d-0.5] not) is clamped to [0, d-1]
(border) or reflected back (reflection), then the taps (1 nearest, 2 linear, 4 cubic with
Keys' a=-0.75) are padded: zero weight outside (zeros), clamped (border) or mirrored
(reflection). Taps of all axes combine by broadcasting into [N, *out, T, ..., T].

RoiAlign: every ROI samples a grid of roi_bin_grid_h x roi_bin_grid_w points per output bin;
with sampling_ratio=0 that count is ceil(roi_size / output_size) and depends on the ROI, so the
grid is sized to its maximum over the ROIs at run time (a Range) and the points past a ROI's own
count are masked out (average: sum / count; max: ONNX's max over points of the max over the four
weighted corners). TF's CropAndResize samples differently and is not used.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import LiftContext
from .array import I32, binary, cast, concat, gather, need_rank, op, register, reshape, select, shape_of
from .conv import channels_first, channels_last, text, transpose

D = ir.DType
BOOL = D.BOOL
_FLOATS = (D.FLOAT, D.DOUBLE, D.FLOAT16, D.BFLOAT16)
_A = -0.75  # GridSample's cubic coefficient


# ---- small element-wise helpers ----------------------------------------------------------
def _c(ctx: LiftContext, value, t: ir.DType, name: str = "c") -> ir.Value:
    return ctx.const(np.asarray(value, dtype=t.numpy), name, t)


def _u(ctx: LiftContext, name: str, x: ir.Value) -> ir.Value:
    return op(ctx, name, [x], ctx.dtype(x), T=ctx.dtype(x))


def _add(ctx, a, b):
    return binary(ctx, "AddV2", a, b)


def _sub(ctx, a, b):
    return binary(ctx, "Sub", a, b)


def _mul(ctx, a, b):
    return binary(ctx, "Mul", a, b)


def _clamp(ctx: LiftContext, x: ir.Value, lo: ir.Value, hi: ir.Value) -> ir.Value:
    return binary(ctx, "Minimum", binary(ctx, "Maximum", x, lo), hi)


def _and(ctx, a, b):
    return op(ctx, "LogicalAnd", [a, b], BOOL)


def _or(ctx, a, b):
    return op(ctx, "LogicalOr", [a, b], BOOL)


def _expand(ctx: LiftContext, x: ir.Value, axis: int) -> ir.Value:
    return op(ctx, "ExpandDims", [x, ctx.i32(axis, "axis")], ctx.dtype(x), T=ctx.dtype(x), Tdim=I32)


def _sum(ctx: LiftContext, x: ir.Value, axes: list[int]) -> ir.Value:
    return op(ctx, "Sum", [x, ctx.i32(axes, "axes")], ctx.dtype(x), T=ctx.dtype(x), Tidx=I32, keep_dims=False)


def _max(ctx: LiftContext, x: ir.Value, axes: list[int]) -> ir.Value:
    return op(ctx, "Max", [x, ctx.i32(axes, "axes")], ctx.dtype(x), T=ctx.dtype(x), Tidx=I32, keep_dims=False)


def _dim(ctx: LiftContext, x: ir.Value, axis: int) -> int | ir.Value:
    """x's dim ``axis`` as a Python int when static, else an int32 scalar."""
    d = (x.shape or [None] * (axis + 1))[axis]
    if isinstance(d, int):
        return d
    return cast(ctx, gather(ctx, shape_of(ctx, x), ctx.i64(axis, "axis"), 0), I32)


def _dim_as(ctx: LiftContext, d: int | ir.Value, t: ir.DType) -> ir.Value:
    return _c(ctx, d, t, "dim") if isinstance(d, int) else cast(ctx, d, t)


def _times(ctx: LiftContext, a: int | ir.Value, b: int | ir.Value) -> int | ir.Value:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    return _mul(ctx, _dim_as(ctx, a, I32), _dim_as(ctx, b, I32))


def _compute_type(*types: ir.DType) -> ir.DType:
    return D.DOUBLE if D.DOUBLE in types else D.FLOAT


def _flat_params(ctx: LiftContext, x: ir.Value, keep: int) -> ir.Value:
    """x reshaped to its first ``keep`` dims and one flattened rest."""
    head = gather(ctx, shape_of(ctx, x), ctx.i64(list(range(keep)), "head"), 0)
    return reshape(ctx, x, concat(ctx, [head, ctx.i64([-1], "rest")]))


# ---- GridSample --------------------------------------------------------------------------
def _grid_mode(ctx: LiftContext, node: ir.Node) -> tuple[str, str, bool]:
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(m := text(node.attr("mode", "linear")), m)
    pad = text(node.attr("padding_mode", "zeros"))
    if mode not in ("nearest", "linear", "cubic") or pad not in ("zeros", "border", "reflection"):
        raise ctx.unsupported(f"GridSample mode={mode}, padding_mode={pad}")
    return mode, pad, bool(node.attr("align_corners", 0))


def _reflect(ctx: LiftContext, x: ir.Value, lo: ir.Value, hi: ir.Value) -> ir.Value:
    """x reflected at lo and hi (repeatedly) until inside [lo, hi]."""
    below, above = binary(ctx, "Less", x, lo), binary(ctx, "Greater", x, hi)
    dx = select(ctx, below, _sub(ctx, lo, x), _sub(ctx, x, hi))
    span = _sub(ctx, hi, lo)
    n = _u(ctx, "Floor", binary(ctx, "RealDiv", dx, span))
    r = _sub(ctx, dx, _mul(ctx, n, span))
    t = ctx.dtype(x)
    even = binary(ctx, "Equal", binary(ctx, "FloorMod", n, _c(ctx, 2, t)), _c(ctx, 0, t))
    from_lo = binary(ctx, "Equal", below, even)  # below & even, or above & odd: lo + r
    fx = select(ctx, from_lo, _add(ctx, lo, r), _sub(ctx, hi, r))
    return select(ctx, _or(ctx, below, above), fx, x)


def _reflect_index(ctx: LiftContext, i: ir.Value, d: ir.Value, align: bool) -> ir.Value:
    """Integer taps mirrored into [0, d): about -0.5 and d-0.5, or about 0 and d-1 (align)."""
    one = _c(ctx, 1, I32)
    last = _sub(ctx, d, one) if align else d
    period = binary(ctx, "Maximum", _add(ctx, last, last), one)  # d=1 aligned: period 1
    m = binary(ctx, "FloorMod", i, period)
    back = _sub(ctx, period, m) if align else _sub(ctx, _sub(ctx, period, one), m)
    return select(ctx, binary(ctx, "Less", m, d), m, back)


def _axis_coord(ctx: LiftContext, g: ir.Value, d: int | ir.Value, mode: str, pad: str, align: bool):
    """Pixel coordinate of normalized ``g`` on an axis of size d (range-fixed as ONNX does)."""
    t = ctx.dtype(g)
    df = _dim_as(ctx, d, t)
    one, half = _c(ctx, 1, t), _c(ctx, 0.5, t)
    if align:
        x = _mul(ctx, _mul(ctx, _add(ctx, g, one), half), _sub(ctx, df, one))
    else:
        x = _mul(ctx, _sub(ctx, _mul(ctx, _add(ctx, g, one), df), one), half)
    if mode == "nearest":
        x = _u(ctx, "Rint", x)
    lo = _c(ctx, 0, t) if align else _c(ctx, -0.5, t)
    hi = _sub(ctx, df, one) if align else _sub(ctx, df, half)
    if pad == "border":
        out = _or(ctx, binary(ctx, "Less", x, lo), binary(ctx, "Greater", x, hi))
        return select(ctx, out, _clamp(ctx, x, _c(ctx, 0, t), _sub(ctx, df, one)), x)
    if pad == "reflection":
        return _reflect(ctx, x, lo, hi)
    return x


def _axis_taps(ctx: LiftContext, x: ir.Value, d: int | ir.Value, mode: str, pad: str, align: bool):
    """(tap indices [.., T] int32 in range, weights [.., T] or None, valid [.., T] or None)."""
    t = ctx.dtype(x)
    di = _dim_as(ctx, d, I32)
    x0 = _u(ctx, "Floor", x)
    # far outside, every tap is padding: clamp so the int32 cast is safe
    x0 = _clamp(ctx, x0, _c(ctx, -4, t), _add(ctx, _dim_as(ctx, d, t), _c(ctx, 3, t)))
    offsets = {"nearest": [0], "linear": [0, 1], "cubic": [-1, 0, 1, 2]}[mode]
    idx = _add(ctx, _expand(ctx, cast(ctx, x0, I32), -1), ctx.i32(offsets, "offsets"))
    frac = _expand(ctx, _sub(ctx, x, x0), -1)
    w = None
    if mode == "linear":
        w = _add(ctx, _c(ctx, [1, 0], t), _mul(ctx, frac, _c(ctx, [-1, 1], t)))
    elif mode == "cubic":
        s = _add(ctx, _c(ctx, [1, 0, 1, 2], t), _mul(ctx, frac, _c(ctx, [1, 1, -1, -1], t)))
        s2 = _mul(ctx, s, s)
        near = _add(ctx, _mul(ctx, _sub(ctx, _mul(ctx, _c(ctx, _A + 2, t), s), _c(ctx, _A + 3, t)), s2),
                    _c(ctx, 1, t))
        far = _sub(ctx, _mul(ctx, _add(ctx, _mul(ctx, _sub(ctx, _mul(ctx, _c(ctx, _A, t), s),
                                                            _c(ctx, 5 * _A, t)), s), _c(ctx, 8 * _A, t)), s),
                   _c(ctx, 4 * _A, t))
        w = select(ctx, ctx.const(np.array([False, True, True, False]), "inner"), near, far)
    zero = _c(ctx, 0, I32)
    last = _sub(ctx, di, _c(ctx, 1, I32))
    valid = None
    if pad == "zeros":
        valid = _and(ctx, binary(ctx, "GreaterEqual", idx, zero), binary(ctx, "Less", idx, di))
    elif pad == "reflection":
        idx = _reflect_index(ctx, idx, di, align)
    return _clamp(ctx, idx, zero, last), w, valid


def _spread(ctx: LiftContext, v: ir.Value, i: int, n: int) -> ir.Value:
    """[.., T] -> [.., 1 (i times), T, 1 (n-1-i times)]."""
    for _ in range(n - 1 - i):
        v = _expand(ctx, v, -1)
    for _ in range(i):
        v = _expand(ctx, v, i - n - 1)
    return v


def _combine(ctx: LiftContext, parts: list, strides: list):
    """Flat tap indices, weights and validity over all axes, broadcast to [N, *out, T, .., T]."""
    n = len(parts)
    flat = w = valid = None
    for i, (idx, wi, vi) in enumerate(parts):
        term = _spread(ctx, idx if isinstance(strides[i], int) and strides[i] == 1
                       else _mul(ctx, idx, _dim_as(ctx, strides[i], I32)), i, n)
        flat = term if flat is None else _add(ctx, flat, term)
        if vi is not None:
            vi = _spread(ctx, vi, i, n)
            valid = vi if valid is None else _and(ctx, valid, vi)
        if wi is not None:
            wi = _spread(ctx, wi, i, n)
            w = wi if w is None else _mul(ctx, w, wi)
    return flat, w, valid


@register("GridSample")
def lift_grid_sample(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, grid = node.inputs[0], node.inputs[1]
    mode, pad, align = _grid_mode(ctx, node)
    n = need_rank(ctx, x, "GridSample") - 2
    xt = ctx.dtype(x)
    ct = _compute_type(xt, ctx.dtype(grid))
    if n < 1:
        raise ctx.unsupported("GridSample needs at least one spatial axis")
    if mode != "nearest" and xt not in _FLOATS:
        raise ctx.unsupported(f"{mode} GridSample of {xt} (runtimes round integer results differently)")
    g = cast(ctx, grid, ct)
    dims = [_dim(ctx, x, 2 + i) for i in range(n)]
    strides = [1] * n
    for i in range(n - 2, -1, -1):
        strides[i] = _times(ctx, strides[i + 1], dims[i + 1])
    parts = []
    for i in range(n):  # grid's last axis lists the spatial axes innermost first
        gi = gather(ctx, g, ctx.i64(n - 1 - i, "axis"), n + 1)
        coord = _axis_coord(ctx, gi, dims[i], mode, pad, align)
        parts.append(_axis_taps(ctx, coord, dims[i], mode, pad, align))
    flat, w, valid = _combine(ctx, parts, strides)
    params = _flat_params(ctx, x, 2)
    v = op(ctx, "GatherV2", [params, flat, ctx.i32(2, "axis")], xt, Tparams=xt, Tindices=I32, Taxis=I32,
           batch_dims=1)  # [N, C, *out, T, .., T]
    taps = list(range(2 + n, 2 + 2 * n))
    if mode == "nearest":
        if valid is not None:
            v = select(ctx, _expand(ctx, valid, 1), v, op(ctx, "ZerosLike", [v], xt, T=xt))
        return [op(ctx, "Squeeze", [v], xt, T=xt, squeeze_dims=taps)]
    if valid is not None:
        w = _mul(ctx, w, cast(ctx, valid, ct))
    y = _sum(ctx, _mul(ctx, cast(ctx, v, ct), _expand(ctx, w, 1)), taps)
    return [cast(ctx, y, xt)]


# ---- RoiAlign ----------------------------------------------------------------------------
def _column(ctx: LiftContext, rois: ir.Value, k: int) -> ir.Value:
    """rois[:, k] as [R, 1, 1, 1, 1]."""
    return reshape(ctx, gather(ctx, rois, ctx.i64(k, "col"), 1), ctx.i64([-1, 1, 1, 1, 1], "per_roi"))


def _roi_grid(ctx: LiftContext, size: ir.Value, out: int, ratio: int):
    """Per ROI: the sample count along an axis ([R,1,1,1,1] int32) and the grid size G."""
    if ratio > 0:
        return _c(ctx, ratio, I32), ratio
    n = cast(ctx, _u(ctx, "Ceil", binary(ctx, "RealDiv", size, _c(ctx, out, ctx.dtype(size)))), I32)
    most = binary(ctx, "Maximum", _max(ctx, n, [0, 1, 2, 3, 4]), _c(ctx, 1, I32))
    return n, most


def _points(ctx: LiftContext, start, size, count, grid, out: int, axis: int):
    """Sample coordinates start + p * bin + (i + 0.5) * bin / count along one axis, as
    [R, out, 1, G, 1] (axis 0) or [R, 1, out, 1, G] (axis 1), and the in-count mask."""
    t = ctx.dtype(start)
    shape_p, shape_i = [1] * 5, [1] * 5
    shape_p[1 + axis], shape_i[3 + axis] = -1, -1
    bin_ = binary(ctx, "RealDiv", size, _c(ctx, out, t))
    p = _c(ctx, np.arange(out).reshape(shape_p), t, "bins")
    if isinstance(grid, int):
        i = ctx.i32(np.arange(grid).reshape(shape_i), "samples")
    else:
        i = reshape(ctx, op(ctx, "Range", [_c(ctx, 0, I32), grid, _c(ctx, 1, I32)], I32, Tidx=I32),
                    ctx.i64(shape_i, "shape"))
    safe = cast(ctx, binary(ctx, "Maximum", count, _c(ctx, 1, I32)), t)
    step = binary(ctx, "RealDiv", _mul(ctx, _add(ctx, cast(ctx, i, t), _c(ctx, 0.5, t)), bin_), safe)
    return _add(ctx, _add(ctx, start, _mul(ctx, p, bin_)), step), binary(ctx, "Less", i, count)


def _bilinear_axis(ctx: LiftContext, v: ir.Value, d: int | ir.Value):
    """(outside, low, high (int32), weight of high) of coordinates v on an axis of size d."""
    t = ctx.dtype(v)
    df = _dim_as(ctx, d, t)
    one = _c(ctx, 1, t)
    outside = _or(ctx, binary(ctx, "Less", v, _c(ctx, -1, t)), binary(ctx, "Greater", v, df))
    v = binary(ctx, "Maximum", v, _c(ctx, 0, t))
    low = _u(ctx, "Floor", v)
    last = _sub(ctx, df, one)
    at_end = binary(ctx, "GreaterEqual", low, last)
    frac = select(ctx, at_end, _c(ctx, 0, t), _sub(ctx, v, low))
    low = _clamp(ctx, low, _c(ctx, 0, t), last)
    high = _clamp(ctx, _add(ctx, low, one), _c(ctx, 0, t), last)
    return outside, cast(ctx, low, I32), cast(ctx, high, I32), frac


def _roi_taps(ctx: LiftContext, x: ir.Value, yy: ir.Value, xx: ir.Value, batch: ir.Value):
    """Row indices into x as [N*H*W, C] and weights, both [R, PH, PW, G, G, 4]."""
    h, w = _dim(ctx, x, 2), _dim(ctx, x, 3)
    out_y, y0, y1, ly = _bilinear_axis(ctx, yy, h)
    out_x, x0, x1, lx = _bilinear_axis(ctx, xx, w)
    t = ctx.dtype(yy)
    one = _c(ctx, 1, t)
    hy, hx = _sub(ctx, one, ly), _sub(ctx, one, lx)
    keep = cast(ctx, op(ctx, "LogicalNot", [_or(ctx, out_y, out_x)], BOOL), t)
    wi = _dim_as(ctx, w, I32)
    base = _mul(ctx, cast(ctx, batch, I32), _dim_as(ctx, _times(ctx, h, w), I32))
    rows = [_add(ctx, _mul(ctx, y, wi), base) for y in (y0, y1)]
    idx = [_add(ctx, rows[0], x0), _add(ctx, rows[0], x1), _add(ctx, rows[1], x0), _add(ctx, rows[1], x1)]
    wts = [_mul(ctx, _mul(ctx, a, b), keep) for a, b in ((hy, hx), (hy, lx), (ly, hx), (ly, lx))]
    pack = lambda vs: op(ctx, "Pack", vs, ctx.dtype(vs[0]), T=ctx.dtype(vs[0]), N=4, axis=-1)  # noqa: E731
    return pack(idx), pack(wts)


def _pool(ctx: LiftContext, mode: str, prod: ir.Value, inside: ir.Value, gh, gw) -> ir.Value:
    """[R, PH, PW, G, G, 4, C] weighted corners -> [R, PH, PW, C], over each ROI's own points."""
    t = ctx.dtype(prod)
    per_roi = ctx.i64([-1, 1, 1, 1], "per_roi")
    if mode == "max":  # ONNX: the max over points of the max over the 4 weighted corners
        best = select(ctx, _expand(ctx, inside, -1), _max(ctx, prod, [5]), _c(ctx, -np.inf, t))
        some = _and(ctx, *(binary(ctx, "Greater", reshape(ctx, g, per_roi), _c(ctx, 0, I32))
                           for g in (gh, gw)))
        return select(ctx, some, _max(ctx, best, [3, 4]), _c(ctx, 0, t))  # no point at all: 0
    keep = _expand(ctx, cast(ctx, _expand(ctx, inside, -1), t), -1)
    total = _sum(ctx, _mul(ctx, prod, keep), [3, 4, 5])
    count = cast(ctx, binary(ctx, "Maximum", _mul(ctx, gh, gw), _c(ctx, 1, I32)), t)
    return binary(ctx, "RealDiv", total, reshape(ctx, count, per_roi))


@register("RoiAlign")
def lift_roi_align(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, rois, batch = node.inputs[0], node.inputs[1], node.inputs[2]
    xt = ctx.dtype(x)
    if need_rank(ctx, x, "RoiAlign") != 4 or xt not in _FLOATS:
        raise ctx.unsupported(f"RoiAlign of a rank-{ctx.rank(x)} {xt} input")
    ct = _compute_type(xt, ctx.dtype(rois))
    ph, pw = int(node.attr("output_height", 1)), int(node.attr("output_width", 1))
    ratio, scale = int(node.attr("sampling_ratio", 0)), float(node.attr("spatial_scale", 1.0))
    cmode = text(node.attr("coordinate_transformation_mode", "half_pixel"))
    mode = text(node.attr("mode", "avg"))
    if cmode not in ("half_pixel", "output_half_pixel") or mode not in ("avg", "max"):
        raise ctx.unsupported(f"RoiAlign mode={mode}, coordinate_transformation_mode={cmode}")
    half = cmode == "half_pixel"
    r = cast(ctx, rois, ct)
    off = _c(ctx, 0.5 if half else 0.0, ct)
    sx, sy, ex, ey = (_sub(ctx, _mul(ctx, _column(ctx, r, k), _c(ctx, scale, ct)), off) for k in range(4))
    size_w, size_h = _sub(ctx, ex, sx), _sub(ctx, ey, sy)
    if not half:  # malformed ROIs become 1x1
        size_w, size_h = (binary(ctx, "Maximum", s, _c(ctx, 1, ct)) for s in (size_w, size_h))
    gh, grid_h = _roi_grid(ctx, size_h, ph, ratio)
    gw, grid_w = _roi_grid(ctx, size_w, pw, ratio)
    yy, in_y = _points(ctx, sy, size_h, gh, grid_h, ph, 0)
    xx, in_x = _points(ctx, sx, size_w, gw, grid_w, pw, 1)
    b = reshape(ctx, batch, ctx.i64([-1, 1, 1, 1, 1], "per_roi"))
    idx, wts = _roi_taps(ctx, x, yy, xx, b)  # [R, PH, PW, G, G, 4]
    inside = _and(ctx, in_y, in_x)  # [R, 1, 1, G, G]
    c = gather(ctx, shape_of(ctx, x), ctx.i64([1], "c"), 0)
    table = reshape(ctx, transpose(ctx, x, channels_last(4), xt), concat(ctx, [ctx.i64([-1], "rows"), c]))
    v = cast(ctx, op(ctx, "GatherV2", [table, idx, ctx.i32(0, "axis")], xt, Tparams=xt, Tindices=I32,
                     Taxis=I32, batch_dims=0), ct)  # [R, PH, PW, G, G, 4, C]
    y = _pool(ctx, mode, _mul(ctx, v, _expand(ctx, wts, -1)), inside, gh, gw)
    return [transpose(ctx, cast(ctx, y, xt), channels_first(4), xt)]
