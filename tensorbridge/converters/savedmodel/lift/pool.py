"""Lift: MaxPool, AveragePool, LpPool (1-D/2-D/3-D, NHWC TF pooling between Transposes) and
the global pools.

TF pools only channels-last and knows only SAME/VALID, so ONNX pads (and ceil_mode's extra
end cells) become an explicit Pad before a VALID pool: the lowest value of the type for
MaxPool (FORMATS.md 8: pads act as -inf in both), zeros for the others. AveragePool's divisor
is ONNX's (onnxruntime's): with count_include_pad the window cells inside the pads, else the
cells inside the input, never ceil_mode's overhang; when that is not the kernel size
everywhere, the VALID average over the zero-padded input is scaled by K / count (a constant
from static shapes; <= 2 ulp from ONNX's sum / count). A dynamic SAME_UPPER without
count_include_pad is TF's AvgPool SAME exactly. Dilated MaxPool is Dilation2D with a zero
structuring element (exact); dilated AveragePool/LpPool sum with a ones depthwise filter.
MaxPool's Indices come from MaxPoolWithArgmax (2-D, static shapes), re-indexed to NCHW.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from .conv import (
    I32,
    channels_last,
    expand_1d,
    ints,
    pad,
    resolve_pads,
    spatial_in,
    squeeze_1d,
    strided_attrs,
    to_nchw,
    transpose,
    ttype,
)


def _geometry(ctx: LiftContext, node: ir.Node, x: ir.Value):
    """(n, kernel, strides, dilations, pads incl. ceil_mode's extra end cells, or "SAME")."""
    r = ctx.rank(x)
    if r not in (3, 4, 5):
        raise ctx.unsupported(f"{node.op_type} needs a 1-D/2-D/3-D input of known rank")
    n = r - 2
    kernel = [int(k) for k in node.attr("kernel_shape")]
    strides, dilations = ints(node, "strides", n, 1), ints(node, "dilations", n, 1)
    ceil, sizes = bool(node.attr("ceil_mode", 0)), spatial_in(x)
    pads = resolve_pads(ctx, node, sizes, kernel, strides, dilations, ceil)
    if pads != "SAME" and ceil:
        if None in sizes:
            raise ctx.unsupported("ceil_mode needs static spatial dims")
        pads = [(b, e + _ceil_extra(i, k, s, d, b, e))
                for i, k, s, d, (b, e) in zip(sizes, kernel, strides, dilations, pads)]
    return n, kernel, strides, dilations, pads


def _ceil_extra(size, k, s, d, b, e) -> int:
    eff = (k - 1) * d + 1
    out = -(-(size + b + e - eff) // s) + 1
    if (out - 1) * s >= size + b:  # the last window would start in the end padding
        out -= 1
    return max((out - 1) * s + eff - (size + b + e), 0)


def _counts(sizes, kernel, strides, dilations, pads, ends, include_pad: bool) -> np.ndarray:
    """Per output cell: how many window cells ONNX divides by (outer product over dims)."""
    grids = []
    for size, k, s, d, (b, e), e0 in zip(sizes, kernel, strides, dilations, pads, ends):
        eff = (k - 1) * d + 1
        out = (size + b + e - eff) // s + 1
        lo, hi = (-b, size + e0) if include_pad else (0, size)
        pos = np.arange(out)[:, None] * s - b + np.arange(k)[None, :] * d
        grids.append(((pos >= lo) & (pos < hi)).sum(axis=1))
    return math.prod(np.ix_(*grids)) if len(grids) > 1 else grids[0]


def _to_nhwc(ctx, x, dtype):
    xl = transpose(ctx, x, channels_last(ctx.rank(x)), dtype)
    return expand_1d(ctx, xl, dtype) if ctx.rank(x) == 3 else xl


def _to_nchw(ctx, node, y, rank, dtype, out=0):
    y = squeeze_1d(ctx, y, dtype) if rank == 3 else y
    return to_nchw(ctx, node, y, rank, dtype, out)


def _as_2d(n, kernel, strides, dilations, pads):
    if n != 1:
        return kernel, strides, dilations, pads
    return [1, *kernel], [1, *strides], [1, *dilations], pads if pads == "SAME" else [(0, 0), *pads]


def _pool(ctx, op2d, xl, kernel, strides, padding, dtype):
    op = op2d if len(kernel) == 2 else f"{op2d}3D"
    return ctx.tf(op, [xl], T=dtype, ksize=[1, *kernel, 1], strides=[1, *strides, 1],
                  padding=padding, types=ttype(dtype))


def _lowest(dtype: ir.DType):
    dt = dtype.numpy
    return -np.inf if np.issubdtype(dt, np.floating) else np.iinfo(dt).min


def _channels(ctx, x) -> int:
    c = (x.shape or (None, None))[1]
    if not isinstance(c, int):
        raise ctx.unsupported("dilated pooling needs a static channel count")
    return c


@TF_LIFT.register("MaxPool")
def lift_max_pool(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = ctx.input(node, 0)
    dtype, r = ctx.dtype(x), ctx.rank(x)
    n, kernel, strides, dilations, pads = _geometry(ctx, node, x)
    kernel, strides, dilations, pads = _as_2d(n, kernel, strides, dilations, pads)
    idx_out = node.outputs[1] if len(node.outputs) > 1 else None
    wants_indices = idx_out is not None and (idx_out.has_uses() or idx_out.is_graph_output)
    xl = _to_nhwc(ctx, x, dtype)
    if wants_indices:
        y, idx = _max_with_argmax(ctx, node, xl, kernel, strides, dilations, pads, dtype)
        return [_to_nchw(ctx, node, y, r, dtype), _to_nchw(ctx, node, idx, r, ir.DType.INT64, 1)]
    if pads == "SAME":
        y = _pool(ctx, "MaxPool", xl, kernel, strides, "SAME", dtype)
    elif set(dilations) == {1}:
        y = _pool(ctx, "MaxPool", pad(ctx, xl, pads, dtype, _lowest(dtype)), kernel, strides, "VALID", dtype)
    elif len(kernel) == 2:
        zeros = ctx.const(np.zeros([*kernel, _channels(ctx, x)], dtype.numpy), "structure")
        y = ctx.tf("Dilation2D", [pad(ctx, xl, pads, dtype, _lowest(dtype)), zeros], T=dtype,
                   strides=[1, *strides, 1], rates=[1, *dilations, 1], padding="VALID", types=ttype(dtype))
    else:
        padded = pad(ctx, xl, pads, dtype, _lowest(dtype))
        y = _tree(ctx, "Maximum", _windows(ctx, x, padded, kernel, strides, dilations, pads, dtype), dtype)
    return [_to_nchw(ctx, node, y, r, dtype)] + [None] * (len(node.outputs) - 1)


def _windows(ctx, x, xl, kernel, strides, dilations, pads, dtype) -> list[ir.Value]:
    """Dilated 3-D pooling, which TF lacks: one strided slice of the padded input per kernel
    cell (the cell's value in every output window), to be reduced element-wise."""
    sizes = spatial_in(x)
    if None in sizes:
        raise ctx.unsupported("dilated 3-D pooling needs static spatial dims")
    n = len(kernel)
    outs = [(size + b + e - (k - 1) * d - 1) // s + 1
            for size, (b, e), k, d, s in zip(sizes, pads, kernel, dilations, strides)]
    masks = dict(begin_mask=1 | (1 << (n + 1)), end_mask=1 | (1 << (n + 1)))
    steps = ctx.i32([1, *strides, 1], "strides")
    parts = []
    for cell in itertools.product(*(range(k) for k in kernel)):
        first = [c * d for c, d in zip(cell, dilations)]
        last = [f + (o - 1) * s + 1 for f, o, s in zip(first, outs, strides)]
        begin, end = ctx.i32([0, *first, 0], "begin"), ctx.i32([0, *last, 0], "end")
        parts.append(ctx.tf("StridedSlice", [xl, begin, end, steps], types=ttype(dtype),
                            **strided_attrs(dtype, **masks)))
    return parts


def _tree(ctx, op: str, parts: list[ir.Value], dtype) -> ir.Value:
    while len(parts) > 1:
        pairs = [ctx.tf(op, [a, b], T=dtype, types=ttype(dtype)) for a, b in zip(parts[::2], parts[1::2])]
        parts = pairs + parts[len(pairs) * 2:]
    return parts[0]


def _max_with_argmax(ctx, node, xl, kernel, strides, dilations, pads, dtype):
    """MaxPoolWithArgmax over the -inf-padded input; its flat NHWC index -> ONNX's NCHW one
    (row-major, or column-major with storage_order=1), in unpadded coordinates."""
    x = node.inputs[0]
    sizes = [*spatial_in(x)] if len(kernel) == len(spatial_in(x)) else [1, *spatial_in(x)]
    c = (x.shape or (None, None))[1]
    if len(kernel) != 2 or pads == "SAME" or set(dilations) != {1} or None in sizes or not isinstance(c, int):
        raise ctx.unsupported("MaxPool Indices need a 2-D pool without dilation, static H, W, C")
    (pt, _), (pl, _) = pads
    hp, wp = sizes[0] + sum(pads[0]), sizes[1] + sum(pads[1])
    y, arg = ctx.tf_node("MaxPoolWithArgmax", [pad(ctx, xl, pads, dtype, _lowest(dtype))], num_outputs=2,
                         types=[*ttype(dtype), *ttype(ir.DType.INT64)], T=dtype, Targmax=ir.DType.INT64,
                         ksize=[1, *kernel, 1], strides=[1, *strides, 1], padding="VALID",
                         include_batch_in_index=True).outputs
    h, w = sizes
    i64 = ir.DType.INT64

    def arith(op, a, k):
        return ctx.tf(op, [a, ctx.const(np.int64(k), "k")], T=i64, types=ttype(i64))

    ch = arith("FloorMod", arg, c)
    pix = arith("FloorDiv", arg, c)
    col = arith("Sub", arith("FloorMod", pix, wp), pl)
    rest = arith("FloorDiv", pix, wp)
    row = arith("Sub", arith("FloorMod", rest, hp), pt)
    plane = ctx.tf("AddV2", [arith("Mul", arith("FloorDiv", rest, hp), c), ch], T=i64, types=ttype(i64))
    inner, outer, size = (row, col, w) if not node.attr("storage_order", 0) else (col, row, h)
    flat = ctx.tf("AddV2", [arith("Mul", inner, size), outer], T=i64, types=ttype(i64))
    base = arith("Mul", plane, h * w)
    return y, ctx.tf("AddV2", [base, flat], T=i64, types=ttype(i64))


def _window_sum_avg(ctx, node, x, kernel, strides, dilations, pads, dtype):
    """The VALID average over the zero-padded input (dilated: the window sum)."""
    xl = pad(ctx, _to_nhwc(ctx, x, dtype), pads, dtype)
    if set(dilations) == {1}:
        return _pool(ctx, "AvgPool", xl, kernel, strides, "VALID", dtype), False
    if len(kernel) != 2:
        parts = _windows(ctx, x, xl, kernel, strides, dilations, pads, dtype)
        return ctx.tf("AddN", parts, T=dtype, N=len(parts), types=ttype(dtype)), True
    ones = ctx.const(np.ones([*kernel, _channels(ctx, x), 1], dtype.numpy), "ones")
    return ctx.tf("DepthwiseConv2dNative", [xl, ones], T=dtype, strides=[1, *strides, 1], padding="VALID",
                  dilations=[1, *dilations, 1], types=ttype(dtype)), True


@TF_LIFT.register("AveragePool")
def lift_average_pool(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = ctx.input(node, 0)
    dtype, r = ctx.dtype(x), ctx.rank(x)
    include = bool(node.attr("count_include_pad", 0))
    n, kernel, strides, dilations, pads = _geometry(ctx, node, x)
    if pads == "SAME":
        if include:
            raise ctx.unsupported("count_include_pad with a dynamic SAME pad")
        k2, s2, _, _ = _as_2d(n, kernel, strides, dilations, pads)
        y = _pool(ctx, "AvgPool", _to_nhwc(ctx, x, dtype), k2, s2, "SAME", dtype)
        return [_to_nchw(ctx, node, y, r, dtype)]
    sizes = spatial_in(x)
    ends = resolve_pads(ctx, node, sizes, kernel, strides, dilations)  # without the ceil extra
    if any(b or e for b, e in pads) and None in sizes:
        raise ctx.unsupported("padded AveragePool needs static spatial dims")
    k2, s2, d2, p2 = _as_2d(n, kernel, strides, dilations, pads)
    y, is_sum = _window_sum_avg(ctx, node, x, k2, s2, d2, p2, dtype)
    total = math.prod(kernel)
    counts = None if None in sizes else _counts(sizes, kernel, strides, dilations, pads,
                                                [e for _, e in ends], include)
    if counts is None or is_sum or (counts != total).any():
        if counts is None:
            raise ctx.unsupported("dilated AveragePool needs static spatial dims")
        scale = (1.0 / counts) if is_sum else (total / counts)
        shape = [1, *([1] if n == 1 else []), *counts.shape, 1]
        y = ctx.tf("Mul", [y, ctx.const(scale.reshape(shape).astype(dtype.numpy), "divisor")], T=dtype,
                   types=ttype(dtype))
    return [_to_nchw(ctx, node, y, r, dtype)]


@TF_LIFT.register("LpPool")
def lift_lp_pool(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """(sum over the window of |x|^p)^(1/p); pads are zeros, which add nothing."""
    x = ctx.input(node, 0)
    dtype, r, p = ctx.dtype(x), ctx.rank(x), int(node.attr("p", 2))
    n, kernel, strides, dilations, pads = _geometry(ctx, node, x)
    if pads == "SAME":
        raise ctx.unsupported("LpPool with a dynamic SAME pad")
    powered = _power(ctx, x, p, dtype)
    y, is_sum = _window_sum_avg(ctx, node, powered, *_as_2d(n, kernel, strides, dilations, pads), dtype)
    if not is_sum:
        y = ctx.tf("Mul", [y, ctx.const(np.asarray(math.prod(kernel), dtype.numpy), "k")], T=dtype,
                   types=ttype(dtype))
    return [_to_nchw(ctx, node, _root(ctx, y, p, dtype), r, dtype)]


def _power(ctx, x, p, dtype):
    if p == 2:
        return ctx.tf("Square", [x], T=dtype, types=ttype(dtype, x.shape))
    a = ctx.tf("Abs", [x], T=dtype, types=ttype(dtype, x.shape))
    if p == 1:
        return a
    p_value = ctx.const(np.asarray(p, dtype.numpy), "p")
    return ctx.tf("Pow", [a, p_value], T=dtype, types=ttype(dtype, x.shape))


def _root(ctx, y, p, dtype):
    if p == 1:
        return y
    if p == 2:
        return ctx.tf("Sqrt", [y], T=dtype, types=ttype(dtype))
    inv_p = ctx.const(np.asarray(1.0 / p, dtype.numpy), "inv_p")
    return ctx.tf("Pow", [y, inv_p], T=dtype, types=ttype(dtype))


# ---- global pools ---------------------------------------------------------------------------
def _global(ctx: LiftContext, node: ir.Node, op: str, p: int | None = None) -> list[ir.Value]:
    """Reduce over the spatial axes. Under prepare_layout the reduction reads an NHWC
    Transpose (which cancels with the one before it) and the [N, C] result is reshaped to
    [N, C, 1, ...], which has the same memory order: no Transpose after."""
    x = ctx.input(node, 0)
    dtype, r = ctx.dtype(x), ctx.rank(x)
    if r is None or r < 3:
        raise ctx.unsupported(f"{node.op_type} needs an input of known rank >= 3")
    src = _power(ctx, x, p, dtype) if p is not None else x
    nhwc = getattr(ctx, "onnx_layout", False)
    axes = list(range(1, r - 1)) if nhwc else list(range(2, r))
    if nhwc:
        src = transpose(ctx, src, channels_last(r), dtype)
    y = ctx.tf(op, [src, ctx.i32(axes, "axes")], T=dtype, Tidx=I32, keep_dims=not nhwc, types=ttype(dtype))
    if nhwc:
        for _ in range(r - 2):
            y = ctx.tf("ExpandDims", [y, ctx.i32(-1, "axis")], T=dtype, Tdim=I32, types=ttype(dtype))
    return [_root(ctx, y, p, dtype) if p is not None else y]


@TF_LIFT.register("GlobalAveragePool")
def lift_global_average_pool(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return _global(ctx, node, "Mean")


@TF_LIFT.register("GlobalMaxPool")
def lift_global_max_pool(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return _global(ctx, node, "Max")


@TF_LIFT.register("GlobalLpPool")
def lift_global_lp_pool(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return _global(ctx, node, "Sum", p=int(node.attr("p", 2)))
