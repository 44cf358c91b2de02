"""Lift: constants, shapes, ranges, joining, tiling and broadcasting; shared int64 index helpers.

Every index/shape tensor built here is int64 (TF's shape ops take int32 or int64; ONNX's are
int64), and every TF node's output gets its element type, since later steps read it (``dt``);
an input whose element type nothing recorded is refused, not guessed. Handlers register through
``register`` (TF_LIFT.register).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext

I64, I32, BOOL = ir.DType.INT64, ir.DType.INT32, ir.DType.BOOL


# ---- helpers shared by the array families ---------------------------------------------------
# The driver (driver.take_over) gives a lifted output the ONNX output's declared type when the
# handler left it less known, for every family; the array families register plainly.
register = TF_LIFT.register


def cast(ctx: LiftContext, v: ir.Value, to: ir.DType) -> ir.Value:
    ctx.dtype(v)
    return ctx.cast(v, to)


def op(ctx: LiftContext, tf_op: str, inputs: list[ir.Value], dtype: ir.DType, **attrs: Any) -> ir.Value:
    """A single-output TF op whose output element type is ``dtype``."""
    return ctx.tf(tf_op, inputs, types=[ir.TensorType(dtype, None)], **attrs)


def binary(ctx: LiftContext, tf_op: str, a: ir.Value, b: ir.Value) -> ir.Value:
    """An element-wise op of two same-typed values; comparisons give bool."""
    t = ctx.dtype(a)
    out = BOOL if tf_op in ("Less", "LessEqual", "Greater", "GreaterEqual", "Equal", "NotEqual") else t
    return op(ctx, tf_op, [a, b], out, T=t)


def select(ctx: LiftContext, cond: ir.Value, a: ir.Value, b: ir.Value) -> ir.Value:
    return op(ctx, "SelectV2", [cond, a, b], ctx.dtype(a), T=ctx.dtype(a))


def shape_of(ctx: LiftContext, x: ir.Value) -> ir.Value:
    """Shape(x) as int64 (a constant when x's shape is static)."""
    if ir.is_static(ctx.shape(x)):
        return ctx.i64(list(ctx.shape(x)), "shape")
    return op(ctx, "Shape", [x], I64, T=ctx.dtype(x), out_type=I64)


def rank_of(ctx: LiftContext, x: ir.Value) -> ir.Value:
    """rank(x) as an int64 scalar."""
    if ctx.rank(x) is not None:
        return ctx.i64(ctx.rank(x), "rank")
    return op(ctx, "Size", [shape_of(ctx, x)], I64, T=I64, out_type=I64)


def i64_input(ctx: LiftContext, v: ir.Value) -> ir.Value:
    """An integer tensor as int64 (a constant stays a constant)."""
    value = ctx.constant_value(v)
    if value is not None:
        return ctx.i64(np.asarray(value).astype(np.int64), "idx")
    return cast(ctx, v, I64)


def gather(ctx: LiftContext, x: ir.Value, idx: ir.Value, axis: int) -> ir.Value:
    """GatherV2 (indices must be in range: TF CPU rejects negative ones)."""
    return op(ctx, "GatherV2", [x, idx, ctx.i64(axis, "axis")], ctx.dtype(x), Tparams=ctx.dtype(x),
              Tindices=ctx.dtype(idx), Taxis=I64, batch_dims=0)


def axis_dim(ctx: LiftContext, x: ir.Value, axis: int) -> ir.Value:
    """x's dim ``axis`` (may be negative) as an int64 scalar (a constant when static)."""
    shape = ctx.shape(x)
    if shape is not None and isinstance(shape[axis], int):
        return ctx.i64(shape[axis], "dim")
    pos = ctx.i64(axis, "axis") if axis >= 0 else binary(ctx, "AddV2", rank_of(ctx, x), ctx.i64(axis))
    return gather(ctx, shape_of(ctx, x), pos, 0)


def wrap_negative(ctx: LiftContext, idx: ir.Value, dim: ir.Value) -> ir.Value:
    """where(idx < 0, idx + dim, idx), in idx's type; dim broadcasts against idx."""
    dim = cast(ctx, dim, ctx.dtype(idx))
    zero = ctx.const(np.zeros((), ctx.dtype(idx).numpy), "zero")
    return select(ctx, binary(ctx, "Less", idx, zero), binary(ctx, "AddV2", idx, dim), idx)


def reshape(ctx: LiftContext, x: ir.Value, shape: ir.Value) -> ir.Value:
    return op(ctx, "Reshape", [x, shape], ctx.dtype(x), T=ctx.dtype(x), Tshape=ctx.dtype(shape))


def concat(ctx: LiftContext, xs: list[ir.Value], axis: int = 0) -> ir.Value:
    t = ctx.dtype(xs[0])
    if len(xs) == 1:
        return op(ctx, "Identity", xs, t, T=t)
    return op(ctx, "ConcatV2", [*xs, ctx.i64(axis, "axis")], t, N=len(xs), T=t, Tidx=I64)


def int_range(ctx: LiftContext, start: ir.Value, limit: ir.Value) -> ir.Value:
    """Range(start, limit, 1) of int64 scalars."""
    return op(ctx, "Range", [start, limit, ctx.i64(1, "one")], I64, Tidx=I64)


def scalar_input(ctx: LiftContext, v: ir.Value, dtype: ir.DType) -> ir.Value:
    """A scalar or 1-element tensor as a scalar of ``dtype``."""
    return reshape(ctx, cast(ctx, v, dtype), ctx.i64([], "scalar"))


def need_rank(ctx: LiftContext, x: ir.Value, what: str) -> int:
    r = ctx.rank(x)
    if r is None:
        raise ctx.unsupported(f"{what} needs the input rank")
    return r


# ---- handlers -------------------------------------------------------------------------------
_CONST_ATTRS = {"value_float": np.float32, "value_floats": np.float32, "value_int": np.int64,
                "value_ints": np.int64}


@register("Constant")
def lift_constant(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    for name, a in node.attrs.items():
        if name == "value":
            return [ctx.const(a.value, "value")]
        if name in _CONST_ATTRS:
            return [ctx.const(np.asarray(a.value, _CONST_ATTRS[name]), "value")]
        if name in ("value_string", "value_strings"):
            data = np.asarray(a.value, dtype=object)
            return [ctx.const(data, "value", ir.DType.STRING)]
    raise ctx.unsupported("a Constant with a sparse or missing value")


@register("Shape")
def lift_shape(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    shp = op(ctx, "Shape", [x], I64, T=ctx.dtype(x), out_type=I64)
    start, end = node.attr("start", 0), node.attr("end", None)
    if start == 0 and end is None:
        return [shp]
    # ONNX clamps start/end (after adding the rank to negatives) to [0, rank]: Python slicing
    end_mask = 1 if end is None else 0
    return [op(ctx, "StridedSlice", [shp, ctx.i64([start]), ctx.i64([end or 0]), ctx.i64([1])], I64,
               T=I64, Index=I64, begin_mask=0, end_mask=end_mask, ellipsis_mask=0,
               new_axis_mask=0, shrink_axis_mask=0)]


@register("Size")
def lift_size(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    return [op(ctx, "Size", [x], I64, T=ctx.dtype(x), out_type=I64)]


@register("Concat")
def lift_concat(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return [concat(ctx, [v for v in node.inputs if v is not None], int(node.attr("axis")))]


_SIGNED = {ir.DType.UINT16: ir.DType.INT16}  # Tile has no uint16 kernel: tile the same bits


@register("Tile")
def lift_tile(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, reps = node.inputs[0], i64_input(ctx, node.inputs[1])
    t = ctx.dtype(x)
    via = _SIGNED.get(t, t)
    if via is not t:
        x = op(ctx, "Bitcast", [x], via, T=t, type=via)
    y = op(ctx, "Tile", [x, reps], via, T=via, Tmultiples=I64)
    return [y if via is t else op(ctx, "Bitcast", [y], t, T=via, type=t)]


@register("Expand")
def lift_expand(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    # bidirectional: the result has the broadcast shape of x's shape and the target
    x, target = node.inputs[0], i64_input(ctx, node.inputs[1])
    shp = op(ctx, "BroadcastArgs", [shape_of(ctx, x), target], I64, T=I64)
    return [op(ctx, "BroadcastTo", [x, shp], ctx.dtype(x), T=ctx.dtype(x), Tidx=I64)]


@register("Range")
def lift_range(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    # ONNX gives an empty range where TF refuses (start > limit with delta > 0, ...); TF has no
    # int16 Range kernel, so int16 counts in int32 (same values)
    t = ctx.dtype(node.inputs[0])
    via = ir.DType.INT32 if t is ir.DType.INT16 else t
    start, limit, delta = (scalar_input(ctx, v, via) for v in node.inputs[:3])
    zero = ctx.const(np.zeros((), via.numpy), "zero")
    up = binary(ctx, "Greater", delta, zero)
    limit = select(ctx, up, binary(ctx, "Maximum", limit, start), binary(ctx, "Minimum", limit, start))
    return [cast(ctx, op(ctx, "Range", [start, limit, delta], via, Tidx=via), t)]


@register("ConstantOfShape")
def lift_constantofshape(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    a = node.attrs.get("value")
    value = np.zeros((), np.float32) if a is None else a.value.numpy().reshape(())
    dims = i64_input(ctx, node.inputs[0])
    fill = ctx.const(value, "value")
    t = ctx.dtype(fill)
    return [op(ctx, "Fill", [dims, fill], t, T=t, index_type=I64)]


@register("EyeLike")
def lift_eyelike(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    dtype_code = node.attr("dtype", None)
    out = ctx.dtype(x) if dtype_code is None else _dtype_attr(dtype_code)
    shp = shape_of(ctx, x)
    rows = gather(ctx, shp, ctx.i64(0, "r"), 0)
    cols = gather(ctx, shp, ctx.i64(1, "c"), 0)
    diag = diagonal_offset(ctx, rows, cols)
    mask = binary(ctx, "Equal", diag, ctx.i64(int(node.attr("k", 0)), "k"))
    return [op(ctx, "Cast", [mask], out, SrcT=BOOL, DstT=out, Truncate=False)]


def diagonal_offset(ctx: LiftContext, rows: ir.Value, cols: ir.Value) -> ir.Value:
    """[rows, cols] int64 matrix of j - i."""
    zero = ctx.i64(0, "zero")
    i = reshape(ctx, int_range(ctx, zero, rows), ctx.i64([-1, 1]))
    j = reshape(ctx, int_range(ctx, zero, cols), ctx.i64([1, -1]))
    return binary(ctx, "Sub", j, i)


def _dtype_attr(code: Any) -> ir.DType:
    return code if isinstance(code, ir.DType) else ir.DType.from_onnx(int(code))

