"""Lift: ConvInteger and QLinearConv (integer convolutions), Col2Im and MaxUnpool.

ConvInteger / QLinearConv: the zero-point-shifted integers are convolved in double with the
float Conv lowering of conv.py (NHWC between Transposes; TF has no integer Conv3D or depthwise
kernels). Every product and partial sum is an integer below 2^53, so double is exact and the
final Cast to int32 gives the ONNX reference's int32 accumulation. QLinearConv then scales by
x_scale * w_scale / y_scale (float32, as the reference) in double, rounds half to even and
saturates to y_zero_point's type (quantize.py's requantization).

Col2Im: each column entry goes to one image cell (or none, in the padding), a map computed
from the constant image/block shapes; UnsortedSegmentSum adds the entries per cell.
MaxUnpool: indices are flat into the inferred unpooled tensor, and a later entry overwrites an
earlier one (the reference's loop): UnsortedSegmentMax of the entry positions picks the last
writer per cell, a Gather fetches its value; the result is zero-padded at the end of each
spatial dim up to output_shape.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import dtype, op, t2
from .conv import (
    conv_nhwc,
    ints,
    to_nchw,
    ttype,
)
from .quantize import _RANGES, _saturate_int

D = ir.DType
I32 = D.INT32


# ---- integer convolutions ----------------------------------------------------------------
def _shifted(ctx: LiftContext, v: ir.Value, zp: ir.Value | None, is_filter: bool) -> ir.Value:
    """``v - zero_point`` in double (typed with ``v``'s shape); a filter's per-channel zero
    point [M] applies along axis 0. Of a constant filter, a detached constant Value (conv.py's
    filter helpers read it as one, and no unused initializer is left behind)."""
    arr, zarr = ctx.constant_value(v), None if zp is None else ctx.constant_value(zp)
    rank = ctx.rank(v)
    if arr is not None and (zp is None or zarr is not None):
        out = arr.astype(np.float64)
        if zarr is not None:
            z = zarr.astype(np.float64)
            z = z.reshape([-1] + [1] * (rank - 1)) if is_filter and z.ndim == 1 else z.reshape(-1)[0]
            out = np.ascontiguousarray(out - z)
        if not is_filter:
            return ctx.const(out, "shifted")
        return ir.Value(f"{v.name}_shifted", const=ir.as_tensor(out))
    y = ctx.cast(v, D.DOUBLE)
    if zp is not None:
        z = ctx.cast(zp, D.DOUBLE)
        if is_filter and ctx.rank(zp) == 1:
            z = op(ctx, "Reshape", [z, ctx.i32([-1] + [1] * (rank - 1), "per_channel")], D.DOUBLE,
                   T=D.DOUBLE, Tshape=I32)
        elif ctx.rank(zp) != 0:
            z = op(ctx, "Reshape", [z, ctx.i32([], "scalar")], D.DOUBLE, T=D.DOUBLE, Tshape=I32)
        y = ctx.tf("Sub", [y, z], T=D.DOUBLE, types=ttype(D.DOUBLE, v.shape))
    return y


def double_conv(ctx: LiftContext, node: ir.Node, x: ir.Value, xd: ir.Value, w: ir.Value) -> ir.Value:
    """Conv (node's attributes) of NCHW ``xd`` (double; ``x`` gives its shape) and filter ``w``
    (double, [M, C/group, k...] of static shape), as lift_conv emits it; NCHW double."""
    r, t = ctx.rank(x), D.DOUBLE
    if r not in (3, 4, 5) or w.shape is None or not ir.is_static(w.shape):
        raise ctx.unsupported(f"{node.op_type} needs a 1-D/2-D/3-D input and a filter of static shape")
    return to_nchw(ctx, node, conv_nhwc(ctx, node, x, xd, w, t), r, t)


def _integer_acc(ctx: LiftContext, node: ir.Node, x, zx, w, zw) -> ir.Value:
    for v in (x, w):
        if dtype(ctx, v) not in (D.UINT8, D.INT8):
            raise ctx.unsupported(f"{node.op_type} on {v.dtype}")
    if ctx.rank(w) is None:
        raise ctx.unsupported(f"{node.op_type} needs a filter of known rank")
    return double_conv(ctx, node, x, _shifted(ctx, x, zx, False), _shifted(ctx, w, zw, True))


@TF_LIFT.register("ConvInteger")
def lift_conv_integer(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, w, zx, zw = (ctx.input(node, i) for i in range(4))
    return [ctx.cast(_integer_acc(ctx, node, x, zx, w, zw), I32)]


def _channel_param(ctx: LiftContext, p: ir.Value, r: int) -> ir.Value:
    """A per-output-channel parameter [M] as [1, M, 1...] for an NCHW rank-``r`` result."""
    if ctx.rank(p) != 1:
        return p
    t = dtype(ctx, p)
    return op(ctx, "Reshape", [p, ctx.i32([1, -1] + [1] * (r - 2), "per_channel")], t, T=t, Tshape=I32)


@TF_LIFT.register("QLinearConv")
def lift_qlinear_conv(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, sx, zx, w, sw, zw, sy, zy, b = (ctx.input(node, i) for i in range(9))
    to = dtype(ctx, zy) if zy is not None else dtype(ctx, x)
    if to not in _RANGES:
        raise ctx.unsupported(f"QLinearConv to {to}")
    acc = _integer_acc(ctx, node, x, zx, w, zw)
    r = ctx.rank(x)
    if b is not None:
        acc = t2(ctx, "AddV2", acc, _channel_param(ctx, ctx.cast(b, D.DOUBLE), r))
    factor = t2(ctx, "RealDiv", t2(ctx, "Mul", sx, _channel_param(ctx, sw, r)), sy)
    q = t2(ctx, "Mul", acc, ctx.cast(factor, D.DOUBLE))
    return [_saturate_int(ctx, q, zy, to)]


# ---- Col2Im -------------------------------------------------------------------------------
def _at(ctx: LiftContext, v: ir.Value, i: int) -> ir.Value:
    """Element ``i`` of int32 vector ``v``, a scalar."""
    return op(ctx, "StridedSlice", [v, ctx.i32([i], "b"), ctx.i32([i + 1], "e"), ctx.i32([1], "s")], I32,
              T=I32, Index=I32, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
              shrink_axis_mask=1)


def _unravel(ctx: LiftContext, flat: ir.Value, dims: list[ir.Value]) -> list[ir.Value]:
    """Row-major multi-index of ``flat`` over the scalar ``dims``."""
    out = []
    for d in reversed(dims):
        out.append(t2(ctx, "FloorMod", flat, d))
        flat = t2(ctx, "FloorDiv", flat, d)
    return out[::-1]


def _col2im_cells(ctx: LiftContext, node: ir.Node, image: ir.Value, block: ir.Value, n: int):
    """(cells, K * L, prod(image)): for every (block offset k, block position l) of the [K, L]
    columns, its flat image cell, or prod(image) (a spare cell) when it falls in the padding."""
    d, s, p = ints(node, "dilations", n, 1), ints(node, "strides", n, 1), ints(node, "pads", 2 * n, 0)
    extent = ctx.i32([p[i] + p[n + i] - 1 + d[i] for i in range(n)], "extent")
    span = t2(ctx, "Sub", t2(ctx, "AddV2", image, extent), t2(ctx, "Mul", block, ctx.i32(d, "dilations")))
    counts = t2(ctx, "AddV2", t2(ctx, "FloorDiv", span, ctx.i32(s, "strides")), ctx.i32(1, "one"))
    zero, one, axis = ctx.i32(0, "zero"), ctx.i32(1, "one"), ctx.i32(0, "axis")
    prod = [op(ctx, "Prod", [v, axis], I32, T=I32, Tidx=I32, keep_dims=False) for v in (block, counts, image)]
    offs, poss = (_unravel(ctx, op(ctx, "Range", [zero, total, one], I32, Tidx=I32),
                           [_at(ctx, v, i) for i in range(n)])
                  for total, v in ((prod[0], block), (prod[1], counts)))
    flat, inside = zero, None
    for i in range(n):
        col = op(ctx, "ExpandDims", [t2(ctx, "Mul", offs[i], ctx.i32(d[i], "d")), one], I32, T=I32, Tdim=I32)
        row = t2(ctx, "Sub", t2(ctx, "Mul", poss[i], ctx.i32(s[i], "s")), ctx.i32(p[i], "pad"))
        coord = t2(ctx, "AddV2", col, op(ctx, "ExpandDims", [row, zero], I32, T=I32, Tdim=I32))
        size = _at(ctx, image, i)
        ok = op(ctx, "LogicalAnd", [op(ctx, "GreaterEqual", [coord, zero], D.BOOL, T=I32),
                                    op(ctx, "Less", [coord, size], D.BOOL, T=I32)], D.BOOL)
        inside = ok if inside is None else op(ctx, "LogicalAnd", [inside, ok], D.BOOL)
        flat = t2(ctx, "AddV2", t2(ctx, "Mul", flat, size), coord)
    spare = op(ctx, "ZerosLike", [flat], I32, T=I32)
    cells = op(ctx, "SelectV2", [inside, flat, t2(ctx, "AddV2", spare, prod[2])], I32, T=I32)
    return op(ctx, "Reshape", [cells, ctx.i32([-1], "flat")], I32, T=I32, Tshape=I32), \
        t2(ctx, "Mul", prod[0], prod[1]), prod[2]


def _dims(ctx: LiftContext, x: ir.Value, first: int) -> ir.Value:
    """Shape(x)[:first] as an int32 vector."""
    s = op(ctx, "Shape", [x], I32, T=dtype(ctx, x), out_type=I32)
    return op(ctx, "Slice", [s, ctx.i32([0], "begin"), ctx.i32([first], "size")], I32, T=I32, Index=I32)


@TF_LIFT.register("Col2Im")
def lift_col2im(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """Sum of the columns into the image cells; image_shape and block_shape may be runtime
    inputs (of static length)."""
    x, image_in, block_in = (ctx.input(node, i) for i in range(3))
    t, shape = dtype(ctx, x), ctx.shape(image_in)
    if t in (D.BOOL, D.STRING):
        raise ctx.unsupported(f"Col2Im sums its columns: not defined on {t}")
    if ctx.rank(x) != 3 or shape is None or len(shape) != 1 or not isinstance(shape[0], int):
        raise ctx.unsupported("Col2Im needs a rank-3 input and an image_shape of static length")
    image, block = ctx.cast(image_in, I32), ctx.cast(block_in, I32)
    cells, k_l, size = _col2im_cells(ctx, node, image, block, int(shape[0]))
    rows_shape = op(ctx, "Pack", [ctx.i32(-1, "all"), k_l], I32, T=I32, N=2, axis=0)
    rows = op(ctx, "Reshape", [x, rows_shape], t, T=t, Tshape=I32)  # [N*C, K*L]
    cols = op(ctx, "Transpose", [rows, ctx.i32([1, 0], "perm")], t, T=t, Tperm=I32)
    spare = t2(ctx, "AddV2", size, ctx.i32(1, "one"))
    summed = op(ctx, "UnsortedSegmentSum", [cols, cells, spare], t, T=t, Tindices=I32, Tnumsegments=I32)
    keep = op(ctx, "Pack", [size, ctx.i32(-1, "all")], I32, T=I32, N=2, axis=0)
    summed = op(ctx, "Slice", [summed, ctx.i32([0, 0], "begin"), keep], t, T=t, Index=I32)
    out = op(ctx, "Transpose", [summed, ctx.i32([1, 0], "perm")], t, T=t, Tperm=I32)  # [N*C, cells]
    blocks = op(ctx, "Prod", [block, ctx.i32(0, "axis")], I32, T=I32, Tidx=I32, keep_dims=False)
    per = op(ctx, "Pack", [ctx.i32(1, "one"), blocks], I32, T=I32, N=2, axis=0)
    nc = t2(ctx, "FloorDiv", _dims(ctx, x, 2), per)
    full = op(ctx, "ConcatV2", [nc, image, ctx.i32(0, "axis")], I32, T=I32, N=2, Tidx=I32)
    return [op(ctx, "Reshape", [out, full], t, T=t, Tshape=I32)]


# ---- MaxUnpool ----------------------------------------------------------------------------
def _unpool_shape(ctx: LiftContext, node: ir.Node, x: ir.Value) -> ir.Value:
    """The inferred output shape [N, C, (in-1)*stride - pads + kernel ...] (int32)."""
    kernel = [int(k) for k in node.attr("kernel_shape")]
    n = len(kernel)
    strides, pads = ints(node, "strides", n, 1), ints(node, "pads", 2 * n, 0)
    s = op(ctx, "Shape", [x], I32, T=dtype(ctx, x), out_type=I32)
    scaled = t2(ctx, "Mul", s, ctx.i32([1, 1, *strides], "strides"))
    extra = [k - s_ - pads[i] - pads[n + i] for i, (k, s_) in enumerate(zip(kernel, strides))]
    return t2(ctx, "AddV2", scaled, ctx.i32([0, 0, *extra], "extent"))


@TF_LIFT.register("MaxUnpool")
def lift_max_unpool(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, idx, out_shape = (ctx.input(node, i) for i in range(3))
    t, r = dtype(ctx, x), ctx.rank(x)
    if r is None or r < 3 or not node.attr("kernel_shape"):
        raise ctx.unsupported("MaxUnpool needs an input of known rank and kernel_shape")
    shape = _unpool_shape(ctx, node, x)
    total = op(ctx, "Prod", [shape, ctx.i32(0, "axis")], I32, T=I32, Tidx=I32, keep_dims=False)
    flat_x = op(ctx, "Reshape", [x, ctx.i32([-1], "flat")], t, T=t, Tshape=I32)
    ti = dtype(ctx, idx)
    flat_i = op(ctx, "Reshape", [idx, ctx.i32([-1], "flat")], ti, T=ti, Tshape=I32)
    count = op(ctx, "Size", [flat_x], I32, T=t, out_type=I32)
    order = op(ctx, "Range", [ctx.i32(0, "zero"), count, ctx.i32(1, "one")], I32, Tidx=I32)
    last = op(ctx, "UnsortedSegmentMax", [order, flat_i, total], I32, T=I32, Tindices=ti, Tnumsegments=I32)
    written = op(ctx, "GreaterEqual", [last, ctx.i32(0, "zero")], D.BOOL, T=I32)
    src = t2(ctx, "Maximum", last, ctx.i32(0, "zero"))
    vals = op(ctx, "GatherV2", [flat_x, src, ctx.i32(0, "axis")], t, Tparams=t, Tindices=I32, Taxis=I32,
              batch_dims=0)
    y = op(ctx, "SelectV2", [written, vals, op(ctx, "ZerosLike", [vals], t, T=t)], t, T=t)
    y = op(ctx, "Reshape", [y, shape], t, T=t, Tshape=I32)
    if out_shape is None:
        return [y]
    target = ctx.cast(out_shape, I32)
    after = t2(ctx, "Sub", target, shape)
    grow = op(ctx, "Pack", [ctx.i32([0] * r, "before"), after], I32, T=I32, N=2, axis=1)
    return [op(ctx, "Pad", [y, grow], t, T=t, Tpaddings=I32)]
