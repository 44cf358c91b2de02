"""ONNX Resize along one axis as taps: for each output position, the input indices it reads
and their weights (numpy, float32 like onnxruntime's CPU kernel), for static sizes; and the
checks for when TF's own resize kernels compute the same (ties, on_table).

resize.py turns the taps into GatherV2s and a weighted sum per resized axis; ONNX's nearest,
linear and cubic modes are separable, so applying the axes one after another is the same
resize (up to float rounding of the weighted sums). Where onnxruntime and ONNX's reference
implementation differ, this follows the reference (the backend tests' expected outputs):
``length_resized`` is ``scale * length_original`` (not the integer output size) in
align_corners and tf_crop_and_resize, which differs when that product is not integral.
Antialiasing (downscaling) stretches the linear/cubic kernel by 1/scale and normalizes it, as
the reference does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

F = np.float32


@dataclass(frozen=True)
class Axis:
    size: int  # input length
    out: int  # output length
    scale: float  # ONNX scale (given, or out / size for sizes)
    roi: tuple[float, float] = (0.0, 1.0)  # tf_crop_and_resize start, end


def coordinates(mode: str, ax: Axis) -> np.ndarray:
    """x_original for every output x (onnx/reference/ops/op_resize.py's transforms)."""
    x, scale, size, out = np.arange(ax.out, dtype=F), F(ax.scale), F(ax.size), F(ax.out)
    length = scale * size  # the reference's output_width (float)
    half = F(0.5)
    if mode == "half_pixel":
        return (x + half) / scale - half
    if mode == "half_pixel_symmetric":
        adjustment = out / (scale * size)
        offset = size / 2 * (1 - adjustment)
        return offset + (x + half) / scale - half
    if mode == "pytorch_half_pixel":  # the spec's 0 (and onnxruntime's); the reference has -0.5
        return (x + half) / scale - half if length > 1 else np.zeros(ax.out, F)
    if mode == "align_corners":
        return x * (size - 1) / (length - 1) if length != 1 else np.zeros(ax.out, F)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_crop_and_resize":
        start, end = F(ax.roi[0]), F(ax.roi[1])
        if length != 1:
            return start * (size - 1) + x * (end - start) * (size - 1) / (length - 1)
        return np.full(ax.out, half * (start + end) * (size - 1), F)
    raise ValueError(f"coordinate_transformation_mode={mode}")


def _round(c: np.ndarray, rule: str) -> np.ndarray:
    frac = c - np.floor(c)
    if rule == "floor":
        return np.floor(c)
    if rule == "ceil":
        return np.ceil(c)
    if rule == "round_prefer_ceil":
        return np.where(frac == 0.5, np.ceil(c), np.round(c))
    if rule == "round_prefer_floor":
        return np.where(frac == 0.5, np.floor(c), np.round(c))
    raise ValueError(f"nearest_mode={rule}")


def ties(size: int, out: int, mode: str) -> bool:
    """True when some output sample lands exactly halfway between two input samples."""
    x = np.arange(out, dtype=np.int64)
    if mode == "align_corners":
        return out > 1 and bool(((2 * x * (size - 1)) % (2 * (out - 1)) == out - 1).any())
    return bool((((2 * x + 1) * size) % (2 * out) == 0).any())  # half_pixel


def on_table(size: int | None, out: int | None) -> bool:
    """ResizeBicubic looks its weights up in a 1024-entry table: exact only when every
    align_corners sample offset is a multiple of 1/1024."""
    if size is None or out is None:
        return False
    x = np.arange(out, dtype=np.int64)
    return out == 1 or bool(((x * (size - 1) * 1024) % (out - 1) == 0).all())


def _kernel(d: np.ndarray, a: float, mode: str) -> np.ndarray:
    """The linear (triangle) or cubic convolution kernel at distances ``d``."""
    d = np.abs(d)
    if mode == "linear":
        return np.clip(1 - d, 0, 1)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _antialias(c: np.ndarray, scale: float, mode: str, a: float):
    """(raw taps [out, T], weights): the kernel stretched by 1/scale (the reference's
    _linear_coeffs_antialias / _cubic_coeffs_antialias), taps around x_ori."""
    s = min(scale, 1.0)
    left = np.where(c == np.floor(c), c - 1, np.floor(c)).astype(np.float64)
    ratio = c.astype(np.float64) - left  # in (0, 1]
    first = int(np.floor((-1 if mode == "linear" else -2) / s) + 1)
    offsets = np.arange(first, 2 - first)
    w = _kernel((offsets[None, :] - ratio[:, None]) * s, a, mode)
    return left[:, None].astype(np.int64) + offsets[None, :], w / w.sum(axis=1, keepdims=True)


def _cubic(r: np.ndarray, a: float) -> np.ndarray:
    """The 4 weights (taps floor-1 .. floor+2) of the cubic convolution kernel."""
    a = F(a)
    r = r.astype(F)
    w0 = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a
    w1 = ((a + 2) * r - (a + 3)) * r * r + 1
    w2 = ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1
    w3 = ((a * (2 - r) - 5 * a) * (2 - r) + 8 * a) * (2 - r) - 4 * a
    return np.stack([w0, w1, w2, w3], axis=1).astype(F)


def taps(mode: str, cmode: str, ax: Axis, nearest_mode: str = "round_prefer_floor", a: float = -0.75,
         exclude_outside: bool = False, antialias: bool = False,
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(indices [out, T] int32, weights [out, T] float32, outside [out] bool or None): the
    output is ``sum_t w * x[idx]``; an ``outside`` position (tf_crop_and_resize beyond the
    input) is the extrapolation value instead."""
    c = coordinates(cmode, ax)
    last = ax.size - 1
    outside = None
    if cmode == "tf_crop_and_resize":
        outside = (c < 0) | (c > last)
    if mode == "nearest":
        idx = np.clip(_round(c, nearest_mode), 0, last).astype(np.int32)[:, None]
        w = np.ones((ax.out, 1), F)
    elif antialias and mode in ("linear", "cubic"):
        raw, w = _antialias(c, ax.scale, mode, a)
        if exclude_outside:
            w = np.where((raw < 0) | (raw > last), 0.0, w)
            w = w / w.sum(axis=1, keepdims=True)
        idx, w = np.clip(raw, 0, last).astype(np.int32), w.astype(F)
    elif mode == "linear":
        c = np.clip(c, 0, last)
        lo = np.floor(c)
        frac = (c - lo).astype(F)
        idx = np.stack([lo, np.minimum(lo + 1, last)], axis=1).astype(np.int32)
        w = np.stack([1 - frac, frac], axis=1).astype(F)
    elif mode == "cubic":
        lo = np.floor(c)
        w = _cubic(c - lo, a)
        raw = lo[:, None].astype(np.int64) + np.arange(-1, 3)[None, :]
        if exclude_outside:
            w = np.where((raw < 0) | (raw > last), F(0), w)
            w = (w / w.sum(axis=1, keepdims=True)).astype(F)
        idx = np.clip(raw, 0, last).astype(np.int32)
    else:
        raise ValueError(f"mode={mode}")
    if outside is not None:
        w = np.where(outside[:, None], F(0), w).astype(F)
    return idx, w, outside
