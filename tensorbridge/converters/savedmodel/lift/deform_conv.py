"""Lift: DeformConv (2-D), as the ONNX reference computes it.

Every kernel tap (ki, kj) of output cell (i, j) samples its offset-group's input channels at
(i*stride - pad + ki*dilation + offset_h, j*stride - pad + kj*dilation + offset_w), bilinearly
with zeros outside the image (GridSample, align_corners=1). Positions are summed in double and
rounded to the compute type as the reference's GridSample stores them (float32); the four corner
pixels are Gathers on the flattened image (batch_dims over N and the offset group),
interpolated along the width and then the height (the reference's order). The sampled columns
[N, C*K, P], times the mask, meet the filter [group, M/group, C/group*K] in one batched MatMul.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import dtype, op, scalar, t1, t2
from .conv import ints

D = ir.DType
I32 = D.INT32


def _static(ctx: LiftContext, v: ir.Value, first: int, what: str) -> list[int]:
    """The dims of a rank-4 ``v`` from ``first`` on, which must be static."""
    shape = ctx.shape(v)
    if shape is None or len(shape) != 4 or not ir.is_static(shape[first:]):
        raise ctx.unsupported(f"DeformConv lifts 2-D convolutions (as the ONNX reference) of a {what} "
                              f"with static dims from axis {first} on")
    return [int(d) for d in shape[first:]]


def _bases(kernel, out, strides, dilations, pads) -> tuple[np.ndarray, np.ndarray]:
    """The undeformed sampling rows and columns, each [K, P] (K kernel taps, P output cells)."""
    ki, kj = np.meshgrid(np.arange(kernel[0]), np.arange(kernel[1]), indexing="ij")
    oi, oj = np.meshgrid(np.arange(out[0]), np.arange(out[1]), indexing="ij")
    rows = ki.reshape(-1, 1) * dilations[0] + oi.reshape(1, -1) * strides[0] - pads[0]
    cols = kj.reshape(-1, 1) * dilations[1] + oj.reshape(1, -1) * strides[1] - pads[1]
    return rows.astype(np.float64), cols.astype(np.float64)


def _corner(ctx: LiftContext, flat_x: ir.Value, row: ir.Value, col: ir.Value, h: int, w: int,
            t: ir.DType) -> ir.Value:
    """The flattened-image values [N, G, C/G, KP] at integral (row, col) [N, G, KP], zero
    outside the image."""
    zero = scalar(ctx, 0, t, "zero")
    inside, clipped = None, []
    for v, n in ((row, h), (col, w)):
        last = scalar(ctx, n - 1, t, "last")
        ok = op(ctx, "LogicalAnd", [op(ctx, "GreaterEqual", [v, zero], D.BOOL, T=t),
                                    op(ctx, "LessEqual", [v, last], D.BOOL, T=t)], D.BOOL)
        inside = ok if inside is None else op(ctx, "LogicalAnd", [inside, ok], D.BOOL)
        clipped.append(t2(ctx, "Minimum", t2(ctx, "Maximum", v, zero), last))
    idx = ctx.cast(t2(ctx, "AddV2", t2(ctx, "Mul", clipped[0], scalar(ctx, w, t, "width")), clipped[1]), I32)
    g = op(ctx, "GatherV2", [flat_x, idx, ctx.i32(3, "axis")], t, Tparams=t, Tindices=I32, Taxis=I32,
           batch_dims=2)
    keep = op(ctx, "ExpandDims", [ctx.cast(inside, t), ctx.i32(2, "axis")], t, T=t, Tdim=I32)
    return t2(ctx, "Mul", g, keep)


def _lerp(ctx: LiftContext, a: ir.Value, b: ir.Value, frac: ir.Value, t: ir.DType) -> ir.Value:
    """(1 - frac) * a + frac * b, frac [N, G, KP] broadcast over the channel axis 2."""
    f = op(ctx, "ExpandDims", [frac, ctx.i32(2, "axis")], t, T=t, Tdim=I32)
    one_minus = t2(ctx, "Sub", scalar(ctx, 1, t, "one"), f)
    return t2(ctx, "AddV2", t2(ctx, "Mul", one_minus, a), t2(ctx, "Mul", f, b))


def _sample(ctx: LiftContext, x, offset, t, dims, kernel, out, attrs, og) -> ir.Value:
    """Bilinear samples [N, G, C/G, K*P] at the deformed positions."""
    c, h, w = dims
    k, p = kernel[0] * kernel[1], out[0] * out[1]
    off = op(ctx, "Reshape", [ctx.cast(offset, D.DOUBLE), ctx.i32([-1, og, k, 2, p], "offset")], D.DOUBLE,
             T=D.DOUBLE, Tshape=I32)
    dh, dw = ctx.tf_multi("Unpack", [off], 2, T=D.DOUBLE, num=2, axis=3)
    for v in (dh, dw):
        v.type = ir.TensorType(D.DOUBLE, None)
    rows, cols = _bases(kernel, out, *attrs)
    pos = [ctx.cast(t2(ctx, "AddV2", d, ctx.const(b, "base")), t) for d, b in ((dh, rows), (dw, cols))]
    pos = [op(ctx, "Reshape", [v, ctx.i32([-1, og, k * p], "flat")], t, T=t, Tshape=I32) for v in pos]
    lo = [t1(ctx, "Floor", v) for v in pos]
    frac = [t2(ctx, "Sub", v, f) for v, f in zip(pos, lo)]
    flat_x = op(ctx, "Reshape", [x, ctx.i32([-1, og, c // og, h * w], "image")], t, T=t, Tshape=I32)
    below, right = (t2(ctx, "AddV2", v, scalar(ctx, 1, t, "next")) for v in lo)
    lines = []
    for row in (lo[0], below):
        a, b = (_corner(ctx, flat_x, row, col, h, w, t) for col in (lo[1], right))
        lines.append(_lerp(ctx, a, b, frac[1], t))  # along the width, then the height
    return _lerp(ctx, lines[0], lines[1], frac[0], t)


@TF_LIFT.register("DeformConv")
def lift_deform_conv(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, w, offset, b, mask = (ctx.input(node, i) for i in range(5))
    tx = dtype(ctx, x)
    if tx not in (D.FLOAT, D.DOUBLE, D.FLOAT16):
        raise ctx.unsupported(f"DeformConv on {tx}")
    t = D.DOUBLE if tx is D.DOUBLE else D.FLOAT
    c, h, wd = _static(ctx, x, 1, "input")
    m, cg, kh, kw = _static(ctx, w, 0, "filter")
    group, og = int(node.attr("group", 1)), int(node.attr("offset_group", 1))
    strides, dilations = ints(node, "strides", 2, 1), ints(node, "dilations", 2, 1)
    pads = ints(node, "pads", 4, 0)
    out = [(n + pads[i] + pads[i + 2] - (k - 1) * dilations[i] - 1) // strides[i] + 1
           for i, (n, k) in enumerate(((h, kh), (wd, kw)))]
    if c != cg * group or m % group or c % og:
        raise ctx.unsupported("DeformConv channel counts do not match group/offset_group")
    k, p = kh * kw, out[0] * out[1]
    cols = _sample(ctx, ctx.cast(x, t), offset, t, (c, h, wd), (kh, kw), out, (strides, dilations, pads), og)
    if mask is not None:
        mk = op(ctx, "Reshape", [ctx.cast(mask, t), ctx.i32([-1, og, 1, k * p], "mask")], t, T=t, Tshape=I32)
        cols = t2(ctx, "Mul", cols, mk)
    cols = op(ctx, "Reshape", [cols, ctx.i32([-1, group, cg * k, p], "cols")], t, T=t, Tshape=I32)
    wg = op(ctx, "Reshape", [ctx.cast(w, t), ctx.i32([1, group, m // group, cg * k], "filter")], t, T=t,
            Tshape=I32)
    y = op(ctx, "BatchMatMulV2", [wg, cols], t, T=t, adj_x=False, adj_y=False)
    y = op(ctx, "Reshape", [y, ctx.i32([-1, m, *out], "nchw")], t, T=t, Tshape=I32)
    if b is not None:
        bias = op(ctx, "Reshape", [ctx.cast(b, t), ctx.i32([1, m, 1, 1], "bias")], t, T=t, Tshape=I32)
        y = t2(ctx, "AddV2", bias, y)
    return [ctx.cast(y, tx)]
