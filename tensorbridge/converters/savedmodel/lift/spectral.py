"""Lift: DFT (ONNX opset 20+: dft_length and axis as inputs), with numpy.fft's semantics.

The signal ([..., 1] real or [..., 2] complex, last dim) is transposed so the transformed axis
is innermost once the component dim is split off (the axis may be a runtime input), made a
complex tensor (complex64 for complex float32 data, else complex128), zero-padded and cut
to dft_length, transformed with TF's FFT / IFFT (1/n scaled, as numpy) or, for an inverse
one-sided transform, IRFFT (numpy.fft.irfft), and split back into [..., 2].
"""

from __future__ import annotations

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import dtype, int_attr, op, t1, t2

D = ir.DType
I32 = D.INT32


def _last(ctx: LiftContext, x: ir.Value, r: int, t: ir.DType, start: int, size: ir.Value | int) -> ir.Value:
    """x[..., start:start+size] of a rank-r x (size -1: to the end; may be an int32 scalar)."""
    sizes = ctx.i32([-1] * (r - 1) + [size], "size") if isinstance(size, int) else op(
        ctx, "ConcatV2", [ctx.i32([-1] * (r - 1), "all"), _vec(ctx, size), ctx.i32(0, "axis")], I32,
        T=I32, N=2, Tidx=I32)
    begin = ctx.i32([0] * (r - 1) + [start], "begin")
    return op(ctx, "Slice", [x, begin, sizes], t, T=t, Index=I32)


def _vec(ctx: LiftContext, s: ir.Value) -> ir.Value:
    return op(ctx, "Reshape", [s, ctx.i32([1], "one")], I32, T=I32, Tshape=I32)


def _fit(ctx: LiftContext, x: ir.Value, r: int, t: ir.DType, have: ir.Value, n: ir.Value) -> ir.Value:
    """The innermost dim of x zero-padded and then cut from ``have`` to ``n``."""
    extra = t2(ctx, "Maximum", t2(ctx, "Sub", n, have), ctx.i32(0, "zero"))
    pads = op(ctx, "ConcatV2", [ctx.i32([0] * (2 * r - 1), "p0"), _vec(ctx, extra), ctx.i32(0, "axis")], I32,
              T=I32, N=2, Tidx=I32)
    pads = op(ctx, "Reshape", [pads, ctx.i32([r, 2], "r2")], I32, T=I32, Tshape=I32)
    padded = op(ctx, "Pad", [x, pads], t, T=t, Tpaddings=I32)
    return _last(ctx, padded, r, t, 0, n)


def _perm(ctx: LiftContext, axis: ir.Value | None, axis_c, r: int) -> ir.Value:
    """The permutation swapping the DFT axis with axis r-2 (computed at run time if need be)."""
    if axis is None or axis_c is not None:
        a = (int(axis_c) if axis is not None else -2) % r
        perm = list(range(r))
        perm[a], perm[r - 2] = r - 2, a
        return ctx.i32(perm, "perm")
    a = t2(ctx, "FloorMod", ctx.cast(op(ctx, "Reshape", [axis, ctx.i32([], "s")], dtype(ctx, axis),
                                        T=dtype(ctx, axis), Tshape=I32), I32), ctx.i32(r, "rank"))
    idx = ctx.i32(list(range(r)), "idx")
    is_a = op(ctx, "Equal", [idx, a], D.BOOL, T=I32)
    is_b = op(ctx, "Equal", [idx, ctx.i32(r - 2, "b")], D.BOOL, T=I32)
    swapped = op(ctx, "SelectV2", [is_b, a, idx], I32, T=I32)
    return op(ctx, "SelectV2", [is_a, ctx.i32(r - 2, "b"), swapped], I32, T=I32)


def _length(ctx: LiftContext, n_in: ir.Value | None, have: ir.Value, irfft: bool) -> ir.Value:
    """dft_length as an int32 scalar: given, else the signal length (2 (len - 1) for IRFFT)."""
    if n_in is not None:
        tn = dtype(ctx, n_in)
        return ctx.cast(op(ctx, "Reshape", [n_in, ctx.i32([], "s")], tn, T=tn, Tshape=I32), I32)
    if irfft:
        return t2(ctx, "Mul", t2(ctx, "Sub", have, ctx.i32(1, "one")), ctx.i32(2, "two"))
    return have


@TF_LIFT.register("DFT", since=20)
def lift_dft(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, n_in, axis_in = (ctx.input(node, i) for i in range(3))
    t, shape = dtype(ctx, x), ctx.shape(x)
    if shape is None or shape[-1] not in (1, 2):
        raise ctx.unsupported("DFT needs an input of known rank with a static component dim")
    r, parts = len(shape), shape[-1]
    inverse, onesided = int_attr(ctx, node, "inverse", 0), int_attr(ctx, node, "onesided", 0)
    # numpy.fft (the reference) transforms complex float32 data in complex64, real data exactly
    # enough that e.g. the DC term's imaginary part is 0: double for real signals does the same
    single = t is not D.DOUBLE and parts == 2
    w, c = (D.FLOAT, D.COMPLEX64) if single else (D.DOUBLE, D.COMPLEX128)
    perm = _perm(ctx, axis_in, None if axis_in is None else ctx.constant_value(axis_in), r)
    y = ctx.cast(op(ctx, "Transpose", [x, perm], t, T=t, Tperm=I32), w)
    re = op(ctx, "Squeeze", [_last(ctx, y, r, w, 0, 1)], w, T=w, squeeze_dims=[-1])
    im = (op(ctx, "Squeeze", [_last(ctx, y, r, w, 1, 1)], w, T=w, squeeze_dims=[-1]) if parts == 2
          else t1(ctx, "ZerosLike", re))
    shape_t = op(ctx, "Shape", [re], I32, T=w, out_type=I32)
    have = op(ctx, "StridedSlice", [shape_t, ctx.i32([-1], "b"), ctx.i32([2**30], "e"), ctx.i32([1], "s")],
              I32, T=I32, Index=I32, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
              shrink_axis_mask=1)
    n = _length(ctx, n_in, have, bool(inverse and onesided))
    if inverse and onesided:
        z = op(ctx, "Complex", [re, im], c, T=w, Tout=c)
        real = op(ctx, "IRFFT", [z, _vec(ctx, n)], w, Treal=w, Tcomplex=c)
        out = op(ctx, "ExpandDims", [real, ctx.i32(-1, "last")], w, T=w, Tdim=I32)
    else:
        z = op(ctx, "Complex", [_fit(ctx, re, r - 1, w, have, n), _fit(ctx, im, r - 1, w, have, n)], c,
               T=w, Tout=c)
        z = op(ctx, "IFFT" if inverse else "FFT", [z], c, Tcomplex=c)
        if onesided and not inverse:
            half = t2(ctx, "AddV2", t2(ctx, "FloorDiv", n, ctx.i32(2, "two")), ctx.i32(1, "one"))
            z = _last(ctx, z, r - 1, c, 0, half)
        halves = [op(ctx, name, [z], w, T=c, Tout=w) for name in ("Real", "Imag")]
        out = op(ctx, "Pack", halves, w, T=w, N=2, axis=-1)
    out = op(ctx, "Transpose", [out, perm], w, T=w, Tperm=I32)
    return [ctx.cast(out, t)]
