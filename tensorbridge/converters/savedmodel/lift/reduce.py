"""Lift: reductions (ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare), ArgMax/ArgMin,
CumSum/CumProd and TopK.

TF reductions take the axes as a tensor, so constant and runtime axes both work. The traps
(FORMATS.md 8): TF ``keep_dims`` defaults to false; empty axes are a no-op in TF, while ONNX
reduces over all axes unless ``noop_with_empty_axes=1``. Each ONNX reduction is
``post(reduce(pre(x)))``, so the no-op case (empty axes) gives ``post(pre(x))``: ReduceSumSquare
acting as Square, as ONNX specifies.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import FLOATS, INTS, SIGNED, UNSIGNED, dtype, int_attr, norm_axis, op, t1, t2, via

D = ir.DType
_TO_DOUBLE = {**{t: D.DOUBLE for t in INTS}, D.FLOAT16: D.FLOAT, D.BFLOAT16: D.FLOAT}
# ONNX op -> (pre, TF reduction, post)
_REDUCE = {
    "ReduceSum": (None, "Sum", None), "ReduceMean": (None, "Mean", None),
    "ReduceMax": (None, "Max", None), "ReduceMin": (None, "Min", None),
    "ReduceProd": (None, "Prod", None), "ReduceL1": ("Abs", "Sum", None),
    "ReduceL2": ("Square", "Sum", "Sqrt"), "ReduceLogSum": (None, "Sum", "Log"),
    "ReduceSumSquare": ("Square", "Sum", None),
}


def _axes(ctx: LiftContext, node: ir.Node) -> ir.Value:
    """The int64 axes TF should reduce over: ONNX's, or all axes when they are empty and
    noop_with_empty_axes=0 (at run time for runtime axes)."""
    x, axes = node.inputs[0], ctx.input(node, 1)
    noop = int_attr(ctx, node, "noop_with_empty_axes", 0)
    const = ctx.constant_value(axes) if axes is not None else np.zeros(0, np.int64)
    if const is not None:
        if const.size or noop:
            return ctx.i64(const.reshape(-1), "axes")
        if ctx.rank(x) is not None:
            return ctx.i64(np.arange(ctx.rank(x)), "axes")
    if const is None:
        ta = dtype(ctx, axes)
        axes = ctx.cast(op(ctx, "Reshape", [axes, ctx.i32([-1], "flat")], ta, T=ta, Tshape=D.INT32), D.INT64)
        if noop:
            return axes
    rank = op(ctx, "Rank", [x], D.INT32, T=dtype(ctx, x))
    every = op(ctx, "Range", [ctx.i64(0, "zero"), ctx.cast(rank, D.INT64), ctx.i64(1, "one")], D.INT64,
               Tidx=D.INT64)
    if const is not None:
        return every
    # runtime axes: [axes..., 0..rank-1][:n] with n = len(axes), or rank when axes are empty
    size = op(ctx, "Size", [axes], D.INT64, T=D.INT64, out_type=D.INT64)
    empty = op(ctx, "Equal", [size, ctx.i64(0, "zero")], D.BOOL, T=D.INT64)
    n = op(ctx, "SelectV2", [empty, ctx.cast(rank, D.INT64), size], D.INT64, T=D.INT64)
    both = op(ctx, "ConcatV2", [axes, every, ctx.i32(0, "axis")], D.INT64, T=D.INT64, N=2, Tidx=D.INT32)
    begin = ctx.i64([0], "begin")
    end = op(ctx, "Reshape", [n, ctx.i32([1], "one")], D.INT64, T=D.INT64, Tshape=D.INT32)
    return op(ctx, "Slice", [both, begin, end], D.INT64, T=D.INT64, Index=D.INT64)


def _tf_reduce(ctx: LiftContext, name: str, x: ir.Value, axes: ir.Value, keep: bool) -> ir.Value:
    t = dtype(ctx, x)
    if t is D.BOOL and name in ("Max", "Min"):
        return op(ctx, "Any" if name == "Max" else "All", [x, axes], t, Tidx=D.INT64, keep_dims=keep)
    return op(ctx, name, [x, axes], t, T=t, Tidx=D.INT64, keep_dims=keep)


def _reduction(pre: str | None, name: str, post: str | None):
    def lift(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
        x, keep = node.inputs[0], bool(int_attr(ctx, node, "keepdims", 1))
        axes = _axes(ctx, node)

        def compute(xs: list[ir.Value], t: ir.DType) -> ir.Value:
            y = xs[0]
            if pre == "Abs" and t in UNSIGNED:
                pass
            elif pre is not None:
                y = t1(ctx, pre, y)
            y = _tf_reduce(ctx, name, y, axes, keep)
            return t1(ctx, post, y) if post is not None else y

        if post is None and name != "Mean":
            return [compute([x], dtype(ctx, x))]
        # Log/Sqrt need floats; an integer mean is the double mean truncated (TF's integer Mean
        # would accumulate in the integer type and overflow)
        return [via(ctx, [x], FLOATS, compute, wider=_TO_DOUBLE)]

    lift.__qualname__ = f"lift_reduce_{name}_{post}"
    return lift


for _onnx, (_pre, _name, _post) in _REDUCE.items():
    TF_LIFT.register(_onnx)(_reduction(_pre, _name, _post))


@TF_LIFT.register("ReduceLogSumExp")
def lift_reduce_log_sum_exp(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """log(sum(exp(x - m))) + m with m the (finite) max, as the ONNX reference computes it."""
    keep = bool(int_attr(ctx, node, "keepdims", 1))
    axes = _axes(ctx, node)

    def finite_max(x: ir.Value, t: ir.DType, keep_dims: bool) -> ir.Value:
        m = _tf_reduce(ctx, "Max", x, axes, keep_dims)
        ok = op(ctx, "IsFinite", [m], D.BOOL, T=t)
        return op(ctx, "SelectV2", [ok, m, t1(ctx, "ZerosLike", m)], t, T=t)

    def compute(xs: list[ir.Value], t: ir.DType) -> ir.Value:
        x = xs[0]
        e = t1(ctx, "Exp", t2(ctx, "Sub", x, finite_max(x, t, True)))
        s = t1(ctx, "Log", _tf_reduce(ctx, "Sum", e, axes, keep))
        return t2(ctx, "AddV2", s, finite_max(x, t, keep))

    return [via(ctx, [node.inputs[0]], FLOATS, compute, wider=_TO_DOUBLE)]


def _arg(tf_op: str):
    def lift(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
        """TF returns the first index on ties; select_last_index searches the reversed axis
        and maps the index back (dim - 1 - i); keepdims re-inserts the axis."""
        x = node.inputs[0]
        t = dtype(ctx, x)
        axis = int_attr(ctx, node, "axis", 0)
        last = int_attr(ctx, node, "select_last_index", 0)
        ax = ctx.i64(axis, "axis")
        src = op(ctx, "ReverseV2", [x, ctx.i64([axis], "rev")], t, T=t, Tidx=D.INT64) if last else x
        y = op(ctx, tf_op, [src, ax], D.INT64, T=t, Tidx=D.INT64, output_type=D.INT64)
        if last:
            shape = op(ctx, "Shape", [x], D.INT64, T=t, out_type=D.INT64)
            dim = op(ctx, "GatherV2", [shape, ctx.i64(norm_axis(ctx, x, axis), "axis_n"), ctx.i32(0, "zero")],
                     D.INT64, Tparams=D.INT64, Tindices=D.INT64, Taxis=D.INT32, batch_dims=0)
            y = t2(ctx, "Sub", t2(ctx, "Sub", dim, ctx.i64(1, "one")), y)
        if int_attr(ctx, node, "keepdims", 1):
            y = op(ctx, "ExpandDims", [y, ax], D.INT64, T=D.INT64, Tdim=D.INT64)
        return [y]

    lift.__qualname__ = f"lift_{tf_op}"
    return lift


TF_LIFT.register("ArgMax")(_arg("ArgMax"))
TF_LIFT.register("ArgMin")(_arg("ArgMin"))


def _cumulative(tf_op: str):
    def lift(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
        """TF Cumsum/Cumprod have the same exclusive/reverse flags and take the axis as a tensor."""
        x, axis = node.inputs[0], node.inputs[1]
        t, ta = dtype(ctx, x), dtype(ctx, axis)
        if ctx.rank(axis) != 0:  # a [1] axis, as some exporters write it: TF wants a scalar
            axis = op(ctx, "Reshape", [axis, ctx.i32([], "scalar")], ta, T=ta, Tshape=D.INT32)
        return [op(ctx, tf_op, [x, axis], t, T=t, Tidx=ta,
                   exclusive=bool(int_attr(ctx, node, "exclusive", 0)),
                   reverse=bool(int_attr(ctx, node, "reverse", 0)))]

    lift.__qualname__ = f"lift_{tf_op}"
    return lift


TF_LIFT.register("CumSum")(_cumulative("Cumsum"))
TF_LIFT.register("CumProd")(_cumulative("Cumprod"))


def _transpose(ctx: LiftContext, x: ir.Value, perm: list[int] | None) -> ir.Value:
    if perm is None:
        return x
    t = dtype(ctx, x)
    return op(ctx, "Transpose", [x, ctx.i32(perm, "perm")], t, T=t, Tperm=D.INT32)


@TF_LIFT.register("TopK")
def lift_topk(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """TopKV2 finds the k largest along the last axis, lower index first among equals (as ONNX).
    Other axes are swapped to the end and back; the smallest are the largest of an
    order-reversing map (-x for floats, ~x for integers: no overflow), undone after."""
    x, k = node.inputs[0], node.inputs[1]
    t = dtype(ctx, x)
    axis = norm_axis(ctx, x, int_attr(ctx, node, "axis", -1))
    rank = ctx.rank(x)
    perm = None
    if rank is None or axis != rank - 1:
        if rank is None:
            raise ctx.unsupported("TopK on an input of unknown rank")
        perm = list(range(rank))
        perm[axis], perm[-1] = perm[-1], perm[axis]
    flip = None if int_attr(ctx, node, "largest", 1) else ("Invert" if t in SIGNED | UNSIGNED else "Neg")
    if flip is not None and t not in FLOATS | INTS:
        raise ctx.unsupported(f"TopK smallest on {t}")
    src = _transpose(ctx, x, perm)
    src = t1(ctx, flip, src) if flip else src
    kc = ctx.constant_value(k)
    k32 = (ctx.i32(int(kc.reshape(-1)[0]), "k") if kc is not None else
           ctx.cast(op(ctx, "Reshape", [k, ctx.i32([], "scalar")], D.INT64, T=D.INT64, Tshape=D.INT32),
                    D.INT32))
    values, idx = ctx.tf_multi("TopKV2", [src, k32], 2, T=t, sorted=True, index_type=D.INT64)
    values.type, idx.type = ir.TensorType(t), ir.TensorType(D.INT64)
    values = t1(ctx, flip, values) if flip else values
    return [_transpose(ctx, values, perm), _transpose(ctx, idx, perm)]
