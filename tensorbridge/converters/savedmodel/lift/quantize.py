"""Lift: QuantizeLinear, DequantizeLinear (per tensor, per axis, blocked), DynamicQuantizeLinear
and QLinearMatMul.

Integer quantization rounds half to even (TF ``Round``) and saturates to the type's range,
computed in float32 (which holds every 8/16-bit integer exactly), so the final Cast is exact.
float8 outputs reuse Cast's saturating conversion; types TF has no Cast kernel for (int4, uint4,
int2, uint2, float4, the fnuz float8 types) are refused there.
"""

from __future__ import annotations

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import dtype, int_attr, norm_axis, op, scalar, t1, t2
from .elementwise import cast_to
from .matmul import integer_matmul, per_row

D = ir.DType
_RANGES = {D.UINT8: (0, 255), D.INT8: (-128, 127), D.UINT16: (0, 65535), D.INT16: (-32768, 32767)}
_F8 = (D.FLOAT8E4M3FN, D.FLOAT8E5M2, D.FLOAT8E4M3FNUZ, D.FLOAT8E5M2FNUZ)


def _per_element(ctx: LiftContext, node: ir.Node, p: ir.Value, x: ir.Value) -> ir.Value:
    """A scale or zero point made broadcastable to ``x``: scalars as they are, a per-axis
    vector reshaped onto ``axis``, blocked parameters repeated block_size times along it."""
    rank = ctx.rank(p)
    if rank == 0 or (ctx.shape(p) is not None and rank == 1 and ctx.shape(p)[0] == 1):
        return p
    if ctx.rank(x) is None:
        raise ctx.unsupported("per-axis or blocked quantization of an input of unknown rank")
    axis, block = norm_axis(ctx, x, int_attr(ctx, node, "axis", 1)), int_attr(ctx, node, "block_size", 0)
    if not 0 <= axis < ctx.rank(x):  # only a per-tensor (size-1) parameter ignores the axis
        return p
    t = dtype(ctx, p)
    if not block:  # (also right for a size-1 parameter of unknown rank: -1 becomes 1)
        dims = [1] * ctx.rank(x)
        dims[axis] = -1
        return op(ctx, "Reshape", [p, ctx.i32(dims, "per_axis")], t, T=t, Tshape=D.INT32)
    shape = op(ctx, "Shape", [x], D.INT32, T=dtype(ctx, x), out_type=D.INT32)
    n = op(ctx, "StridedSlice", [shape, ctx.i32([axis], "b"), ctx.i32([axis + 1], "e"), ctx.i32([1], "s")],
           D.INT32, T=D.INT32, Index=D.INT32, begin_mask=0, end_mask=0, ellipsis_mask=0,
           new_axis_mask=0, shrink_axis_mask=1)
    idx = op(ctx, "Range", [ctx.i32(0, "zero"), n, ctx.i32(1, "one")], D.INT32, Tidx=D.INT32)
    idx = t2(ctx, "FloorDiv", idx, ctx.i32(block, "block"))
    return op(ctx, "GatherV2", [p, idx, ctx.i32(axis, "axis")], t, Tparams=t, Tindices=D.INT32,
              Taxis=D.INT32, batch_dims=0)


def _compute_type(*types: ir.DType) -> ir.DType:
    return D.DOUBLE if D.DOUBLE in types else D.FLOAT


@TF_LIFT.register("DequantizeLinear")
def lift_dequantize_linear(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """(x - zero_point) * scale in float32 (double for a double scale), cast to the output type."""
    x, scale, zp = (ctx.input(node, i) for i in range(3))
    out = int_attr(ctx, node, "output_dtype", 0)
    out = D.from_onnx(out) if out else dtype(ctx, scale)
    w = _compute_type(dtype(ctx, scale))
    dx = cast_to(ctx, x, w, False)
    if zp is not None and dtype(ctx, x) not in _F8:
        dx = t2(ctx, "Sub", dx, cast_to(ctx, _per_element(ctx, node, zp, x), w, False))
    y = t2(ctx, "Mul", dx, ctx.cast(_per_element(ctx, node, scale, x), w))
    return [cast_to(ctx, y, out, True)]


def _saturate_int(ctx: LiftContext, q: ir.Value, zp: ir.Value | None, to: ir.DType) -> ir.Value:
    """clip(round_half_even(q) + zero_point, range of ``to``) as ``to``; q is float32/double."""
    t = dtype(ctx, q)
    r = t1(ctx, "Round", q)
    if zp is not None:
        r = t2(ctx, "AddV2", r, ctx.cast(zp, t))
    lo, hi = _RANGES[to]
    r = t2(ctx, "Minimum", t2(ctx, "Maximum", r, scalar(ctx, lo, t, "lo")), scalar(ctx, hi, t, "hi"))
    return ctx.cast(r, to)


@TF_LIFT.register("QuantizeLinear")
def lift_quantize_linear(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """saturate(round(x / scale) + zero_point); the output type is the zero point's, else
    output_dtype, else uint8."""
    x, scale, zp = (ctx.input(node, i) for i in range(3))
    out = int_attr(ctx, node, "output_dtype", 0)
    to = dtype(ctx, zp) if zp is not None else D.from_onnx(out) if out else D.UINT8
    prec = int_attr(ctx, node, "precision", 0)
    tx, ts = dtype(ctx, x), dtype(ctx, scale)
    w = D.from_onnx(prec) if prec else tx if tx is ts else _compute_type(tx, ts)
    q = t2(ctx, "RealDiv", ctx.cast(x, w), ctx.cast(_per_element(ctx, node, scale, x), w))
    if to in _RANGES:
        q = ctx.cast(q, _compute_type(w))
        return [_saturate_int(ctx, q, None if zp is None else _per_element(ctx, node, zp, x), to)]
    if to in _F8:
        return [cast_to(ctx, q, to, bool(int_attr(ctx, node, "saturate", 1)))]
    raise ctx.unsupported(f"TensorFlow has no Cast kernel for {to} (quantization to {to})")


@TF_LIFT.register("DynamicQuantizeLinear")
def lift_dynamic_quantize_linear(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """uint8 quantization over [min(0, min x), max(0, max x)], as the ONNX reference computes it."""
    x = node.inputs[0]
    f = D.FLOAT
    every = op(ctx, "Range", [ctx.i32(0, "zero"), op(ctx, "Rank", [x], D.INT32, T=f), ctx.i32(1, "one")],
               D.INT32, Tidx=D.INT32)
    zero = scalar(ctx, 0, f, "zero")
    hi = t2(ctx, "Maximum", op(ctx, "Max", [x, every], f, T=f, Tidx=D.INT32, keep_dims=False), zero)
    lo = t2(ctx, "Minimum", op(ctx, "Min", [x, every], f, T=f, Tidx=D.INT32, keep_dims=False), zero)
    span = t2(ctx, "Sub", hi, lo)
    same = op(ctx, "Equal", [hi, lo], D.BOOL, T=f)
    span = op(ctx, "SelectV2", [same, scalar(ctx, 1, f, "one"), span], f, T=f)
    scale = t2(ctx, "RealDiv", span, scalar(ctx, 255, f, "qrange"))
    zp0 = t2(ctx, "Sub", zero, t2(ctx, "RealDiv", lo, scale))
    zp = t1(ctx, "Round", t2(ctx, "Minimum", t2(ctx, "Maximum", zp0, zero), scalar(ctx, 255, f, "qmax")))
    y = _saturate_int(ctx, t2(ctx, "RealDiv", x, scale), zp, D.UINT8)
    return [y, scale, ctx.cast(zp, D.UINT8)]




@TF_LIFT.register("QLinearMatMul")
def lift_qlinear_matmul(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """The int32 product of the zero-point-shifted operands, times a_scale * b_scale / y_scale
    (that factor in the scales' type, the product in double, as the ONNX reference), requantized
    to y_zero_point's type."""
    a, sa, za, b, sb, zb, sy, zy = (ctx.input(node, i) for i in range(8))
    to = dtype(ctx, zy) if zy is not None else dtype(ctx, a)
    if to not in _RANGES:
        raise ctx.unsupported(f"QLinearMatMul to {to}")
    acc = ctx.cast(integer_matmul(ctx, a, za, b, zb), D.DOUBLE)
    factor = t2(ctx, "RealDiv", t2(ctx, "Mul", per_row(ctx, sa), sb), sy)
    q = t2(ctx, "Mul", acc, ctx.cast(factor, D.DOUBLE))
    return [_saturate_int(ctx, q, zy, to)]
