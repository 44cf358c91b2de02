"""Lift: STFT and MelWeightMatrix (signal family; DFT and the windows are in spectral.py/math.py).

STFT: frame f is signal[:, f*step : f*step + window_length] (zero-filled past the end), a
Gather of a [frames, window_length] index grid; frames = 1 + (length - frame_length) // step.
Each frame times the window is transformed as DFT does (spectral.py's padding/cutting to
frame_length; real signals in complex128, complex float32 ones in complex64) and, onesided,
cut to frame_length // 2 + 1 bins.

MelWeightMatrix: the reference's formula step by step in its types: the edge frequencies'
mels in their own float type, the rest in double, and its integer bin rounding
(floor((dft_length + 1) * hz / sample_rate) as numpy's float floor_divide computes it, then
truncation), then triangles rising over [left, center] and falling over [center, right).
"""

from __future__ import annotations

import math

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import dtype, int_attr, op, scalar, t1, t2
from .spectral import _fit, _last

D = ir.DType
I32 = D.INT32


def _scalar_i32(ctx: LiftContext, v: ir.Value) -> ir.Value:
    t = dtype(ctx, v)
    return ctx.cast(op(ctx, "Reshape", [v, ctx.i32([], "scalar")], t, T=t, Tshape=I32), I32)


def _dim(ctx: LiftContext, v: ir.Value, axis: int) -> ir.Value:
    s = op(ctx, "Shape", [v], I32, T=dtype(ctx, v), out_type=I32)
    bounds = [ctx.i32([axis], "b"), ctx.i32([axis + 1], "e"), ctx.i32([1], "s")]
    return op(ctx, "StridedSlice", [s, *bounds], I32, T=I32, Index=I32, begin_mask=0, end_mask=0,
              ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=1)


def _frames(ctx: LiftContext, x: ir.Value, t: ir.DType, step: ir.Value, size: ir.Value,
            count: ir.Value) -> ir.Value:
    """[B, count, size, C] frames of x [B, L, C], starting every ``step``, zeros past the end."""
    zero, one = ctx.i32(0, "zero"), ctx.i32(1, "one")
    grow = op(ctx, "Pack", [ctx.i32([0, 0], "none"), op(ctx, "Pack", [zero, size], I32, T=I32, N=2, axis=0),
                            ctx.i32([0, 0], "none")], I32, T=I32, N=3, axis=0)
    padded = op(ctx, "Pad", [x, grow], t, T=t, Tpaddings=I32)
    starts = t2(ctx, "Mul", op(ctx, "Range", [zero, count, one], I32, Tidx=I32), step)
    offsets = op(ctx, "Range", [zero, size, one], I32, Tidx=I32)
    idx = t2(ctx, "AddV2", op(ctx, "ExpandDims", [starts, one], I32, T=I32, Tdim=I32),
             op(ctx, "ExpandDims", [offsets, zero], I32, T=I32, Tdim=I32))
    return op(ctx, "GatherV2", [padded, idx, one], t, Tparams=t, Tindices=I32, Taxis=I32, batch_dims=0)


@TF_LIFT.register("STFT")
def lift_stft(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, step_in, window, length_in = (ctx.input(node, i) for i in range(4))
    t, shape = dtype(ctx, x), ctx.shape(x)
    if shape is None or len(shape) != 3 or shape[-1] not in (1, 2):
        raise ctx.unsupported("STFT needs a [batch, length, 1 or 2] signal with a static component dim")
    parts = shape[-1]
    have = _dim(ctx, x, 1)
    size = _dim(ctx, window, 0) if window is not None else None
    n = (_scalar_i32(ctx, length_in) if length_in is not None else size if size is not None else have)
    size = n if size is None else size
    step = _scalar_i32(ctx, step_in)
    count = t2(ctx, "AddV2", t2(ctx, "FloorDiv", t2(ctx, "Sub", have, n), step), ctx.i32(1, "one"))
    frames = _frames(ctx, x, t, step, size, count)
    if window is not None:
        frames = t2(ctx, "Mul", frames, op(ctx, "Reshape", [window, ctx.i32([1, 1, -1, 1], "window")], t, T=t,
                                           Tshape=I32))
    w, c = (D.FLOAT, D.COMPLEX64) if t is not D.DOUBLE and parts == 2 else (D.DOUBLE, D.COMPLEX128)
    frames = ctx.cast(frames, w)
    halves = ctx.tf_multi("Unpack", [frames], parts, T=w, num=parts, axis=-1)
    for v in halves:
        v.type = ir.TensorType(w, None)
    re = halves[0]
    im = halves[1] if parts == 2 else t1(ctx, "ZerosLike", re)
    z = op(ctx, "Complex", [_fit(ctx, re, 3, w, size, n), _fit(ctx, im, 3, w, size, n)], c, T=w, Tout=c)
    z = op(ctx, "FFT", [z], c, Tcomplex=c)
    if int_attr(ctx, node, "onesided", 1):
        bins = t2(ctx, "AddV2", t2(ctx, "FloorDiv", n, ctx.i32(2, "two")), ctx.i32(1, "one"))
        z = _last(ctx, z, 3, c, 0, bins)
    halves = [op(ctx, name, [z], w, T=c, Tout=w) for name in ("Real", "Imag")]
    out = op(ctx, "Pack", halves, w, T=w, N=2, axis=-1)
    return [ctx.cast(out, t)]


# ---- MelWeightMatrix ------------------------------------------------------------------------
def _mel(ctx: LiftContext, hz: ir.Value) -> ir.Value:
    """2595 * log1p(hz / 700) in hz's type, then / ln(10) in double."""
    t = dtype(ctx, hz)
    if t not in (D.FLOAT, D.DOUBLE, D.FLOAT16, D.BFLOAT16):
        raise ctx.unsupported(f"MelWeightMatrix edge frequencies of type {t}")
    v = op(ctx, "Reshape", [hz, ctx.i32([], "scalar")], t, T=t, Tshape=I32)
    # log1p of the float32 quotient in double, then rounded: closer to libm's log1pf than TF's
    v = ctx.cast(t1(ctx, "Log1p", ctx.cast(t2(ctx, "RealDiv", v, scalar(ctx, 700, t, "hz")), D.DOUBLE)), t)
    v = t2(ctx, "Mul", scalar(ctx, 2595, t, "k"), v)
    return t2(ctx, "RealDiv", ctx.cast(v, D.DOUBLE), scalar(ctx, math.log(10), D.DOUBLE, "ln10"))


def _numpy_floor_div(ctx: LiftContext, a: ir.Value, b: ir.Value) -> ir.Value:
    """numpy's float floor_divide: div = (a - fmod(a, b)) / b (one b moved when the remainder's
    sign differs from b's), floored, plus one when that drops more than a half."""
    f = D.DOUBLE
    zero = scalar(ctx, 0, f, "zero")
    mod = t2(ctx, "TruncateMod", a, b)
    div = t2(ctx, "RealDiv", t2(ctx, "Sub", a, mod), b)
    signs = [op(ctx, "Less", [v, zero], D.BOOL, T=f) for v in (b, mod)]
    differ = op(ctx, "NotEqual", signs, D.BOOL, T=D.BOOL, incompatible_shape_error=True)
    nonzero = op(ctx, "NotEqual", [mod, zero], D.BOOL, T=f, incompatible_shape_error=True)
    moved = op(ctx, "LogicalAnd", [nonzero, differ], D.BOOL)
    div = op(ctx, "SelectV2", [moved, t2(ctx, "Sub", div, scalar(ctx, 1, f, "one")), div], f, T=f)
    low = t1(ctx, "Floor", div)
    up = op(ctx, "Greater", [t2(ctx, "Sub", div, low), scalar(ctx, 0.5, f, "half")], D.BOOL, T=f)
    return op(ctx, "SelectV2", [up, t2(ctx, "AddV2", low, scalar(ctx, 1, f, "one")), low], f, T=f)


def _mel_bins(ctx: LiftContext, count: ir.Value, dft: ir.Value, rate: ir.Value, low: ir.Value,
              high: ir.Value) -> ir.Value:
    """The num_mel_bins + 2 triangle corners as int64 spectrogram bins."""
    f = D.DOUBLE
    lo_mel = _mel(ctx, low)
    step = t2(ctx, "RealDiv", t2(ctx, "Sub", _mel(ctx, high), lo_mel), ctx.cast(count, f))
    k = ctx.cast(op(ctx, "Range", [ctx.i32(0, "zero"), count, ctx.i32(1, "one")], I32, Tidx=I32), f)
    mel = t2(ctx, "AddV2", t2(ctx, "Mul", k, step), lo_mel)
    arg = t2(ctx, "RealDiv", mel, scalar(ctx, 2595, f, "k"))
    arg = t2(ctx, "Mul", arg, scalar(ctx, math.log(10), f, "ln10"))
    hz = t2(ctx, "Mul", scalar(ctx, 700, f, "hz"), t1(ctx, "Expm1", arg))
    scaled = t2(ctx, "Mul", ctx.cast(t2(ctx, "AddV2", dft, ctx.const(1, "one", D.INT64)), f), hz)
    return ctx.cast(_numpy_floor_div(ctx, scaled, ctx.cast(rate, f)), D.INT64)


def mel_weight_matrix(num_mel, dft, rate, low, high) -> np.ndarray:
    """The matrix (float64) in numpy, in the reference's types: constant inputs fold to this."""
    count = int(num_mel) + 2
    lo_mel, hi_mel = (2595 * np.log1p(hz / 700) / np.log(10) for hz in (low, high))
    hz = 700 * np.expm1((np.arange(count) * ((hi_mel - lo_mel) / count) + lo_mel) / 2595 * np.log(10))
    bins = (((dft + 1) * hz) // rate).astype(np.int64)
    j = np.arange(int(dft) // 2 + 1)[:, None]
    left, center, right = bins[:-2], bins[1:-1], bins[2:]
    rise, fall = center - left, right - center
    y = np.where(j == center, 1.0, 0.0)
    y = np.where((j >= left) & (j <= center) & (rise > 0), (j - left) / np.maximum(rise, 1), y)
    return np.where((j >= center) & (j < right) & (fall > 0), (right - j) / np.maximum(fall, 1), y)


@TF_LIFT.register("MelWeightMatrix")
def lift_mel_weight_matrix(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    inputs = [ctx.input(node, i) for i in range(5)]
    num_mel, dft, rate, low, high = inputs
    out = D.from_onnx(int_attr(ctx, node, "output_datatype", 1))
    values = [ctx.constant_value(v) for v in inputs]
    if all(v is not None for v in values):
        return [ctx.const(mel_weight_matrix(*values).astype(out.numpy), "mel_weights")]
    i64 = D.INT64
    num_mel, dft, rate = (ctx.cast(op(ctx, "Reshape", [v, ctx.i32([], "scalar")], dtype(ctx, v), T=v.dtype,
                                      Tshape=I32), i64) for v in (num_mel, dft, rate))
    count = ctx.cast(t2(ctx, "AddV2", num_mel, ctx.const(2, "two", i64)), I32)
    bins = _mel_bins(ctx, count, dft, rate, low, high)
    size = ctx.cast(op(ctx, "Reshape", [num_mel, ctx.i32([1], "vector")], i64, T=i64, Tshape=I32), I32)
    corner = [op(ctx, "Slice", [bins, ctx.i32([s], "begin"), size], i64, T=i64, Index=I32) for s in (0, 1, 2)]
    spec = t2(ctx, "AddV2", t2(ctx, "FloorDiv", dft, ctx.const(2, "two", i64)), ctx.const(1, "one", i64))
    j = op(ctx, "Range", [ctx.const(0, "zero", i64), spec, ctx.const(1, "one", i64)], i64, Tidx=i64)
    j = op(ctx, "ExpandDims", [j, ctx.i32(1, "col")], i64, T=i64, Tdim=I32)
    return [ctx.cast(_triangles(ctx, j, *corner), out)]


def _triangles(ctx: LiftContext, j: ir.Value, left: ir.Value, center: ir.Value, right: ir.Value) -> ir.Value:
    """[bins, mels] weights: (j - l) / (c - l) over [l, c] (1 at c when l == c), then
    (r - j) / (r - c) over [c, r)."""
    i64, f, b = D.INT64, D.DOUBLE, D.BOOL

    def cmp(name, a, c):
        return op(ctx, name, [a, c], b, T=i64)

    def both(a, c):
        return op(ctx, "LogicalAnd", [a, c], b)

    def ratio(num, den):
        return t2(ctx, "RealDiv", ctx.cast(num, f), ctx.cast(den, f))

    zero = scalar(ctx, 0, f, "zero")
    rise_den, fall_den = t2(ctx, "Sub", center, left), t2(ctx, "Sub", right, center)
    at_center = cmp("Equal", j, center)
    rising = both(both(cmp("GreaterEqual", j, left), cmp("LessEqual", j, center)),
                  cmp("Greater", rise_den, ctx.const(0, "zero", i64)))
    falling = both(both(cmp("GreaterEqual", j, center), cmp("Less", j, right)),
                   cmp("Greater", fall_den, ctx.const(0, "zero", i64)))
    safe = t2(ctx, "Maximum", rise_den, ctx.const(1, "one", i64))
    y = op(ctx, "SelectV2", [at_center, scalar(ctx, 1, f, "one"), zero], f, T=f)
    y = op(ctx, "SelectV2", [rising, ratio(t2(ctx, "Sub", j, left), safe), y], f, T=f)
    safe = t2(ctx, "Maximum", fall_den, ctx.const(1, "one", i64))
    return op(ctx, "SelectV2", [falling, ratio(t2(ctx, "Sub", right, j), safe), y], f, T=f)
