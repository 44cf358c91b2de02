"""Lift: activations (Relu, LeakyRelu, Elu, Selu, Celu, HardSigmoid, HardSwish, Gelu, Mish, Swish,
PRelu, ThresholdedRelu, Shrink) and Softmax/LogSoftmax/Hardmax (opset-13 semantics: one axis).

TF ops with ONNX's exact formula are used where they exist with the same parameters
(``LeakyRelu`` with ``alpha`` always written: TF's default is 0.2, FORMATS.md 8); the others are
composed from the formula in the ONNX spec. Half-precision inputs of composed formulas are
computed in float32 and rounded once, as the ONNX reference does.
"""

from __future__ import annotations

import math

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import FLOATS, INTS, dtype, norm_axis, op, scalar, str_attr, t1, t2, via

D = ir.DType
_F32 = {D.FLOAT, D.DOUBLE}
_TO_DOUBLE = {**{t: D.DOUBLE for t in INTS}, D.FLOAT16: D.FLOAT, D.BFLOAT16: D.FLOAT}


def _attr(ctx: LiftContext, node: ir.Node, name: str, default: float) -> float:
    return float(ctx.attr(node, name, default))


def _select(ctx: LiftContext, cond: ir.Value, a: ir.Value, b: ir.Value) -> ir.Value:
    return op(ctx, "SelectV2", [cond, a, b], dtype(ctx, a), T=dtype(ctx, a))


def _cmp(ctx: LiftContext, tf_op: str, a: ir.Value, b: ir.Value) -> ir.Value:
    return op(ctx, tf_op, [a, b], D.BOOL, T=dtype(ctx, a))


def _composed(fn):
    """Register-ready handler computing ``fn(ctx, node, x, t)`` in float32/float64."""
    def lift(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
        return [via(ctx, [node.inputs[0]], _F32, lambda xs, t: fn(ctx, node, xs[0], t))]

    lift.__qualname__ = f"lift_{fn.__name__.lstrip('_')}"
    return lift


@TF_LIFT.register("Relu")
def lift_relu(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return [t1(ctx, "Relu", node.inputs[0])]


@TF_LIFT.register("LeakyRelu")
def lift_leaky_relu(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return [t1(ctx, "LeakyRelu", node.inputs[0], alpha=_attr(ctx, node, "alpha", 0.01))]


def _elu(ctx, node, x, t):
    """x if x >= 0 else alpha * (exp(x) - 1); TF's Elu is the alpha = 1 case."""
    alpha = _attr(ctx, node, "alpha", 1.0)
    elu = t1(ctx, "Elu", x)
    if alpha == 1.0:
        return elu
    neg = _cmp(ctx, "Less", x, scalar(ctx, 0, t, "zero"))
    return _select(ctx, neg, t2(ctx, "Mul", elu, scalar(ctx, alpha, t, "alpha")), x)


def _selu(ctx, node, x, t):
    alpha = _attr(ctx, node, "alpha", 1.67326319217681884765625)
    gamma = _attr(ctx, node, "gamma", 1.05070102214813232421875)
    neg = t2(ctx, "Mul", t1(ctx, "Elu", x), scalar(ctx, alpha, t, "alpha"))
    y = _select(ctx, _cmp(ctx, "Greater", x, scalar(ctx, 0, t, "zero")), x, neg)
    return t2(ctx, "Mul", y, scalar(ctx, gamma, t, "gamma"))


def _celu(ctx, node, x, t):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    alpha = scalar(ctx, _attr(ctx, node, "alpha", 1.0), t, "alpha")
    zero = scalar(ctx, 0, t, "zero")
    e = t2(ctx, "Mul", t1(ctx, "Expm1", t2(ctx, "RealDiv", x, alpha)), alpha)
    return t2(ctx, "AddV2", t2(ctx, "Maximum", x, zero), t2(ctx, "Minimum", e, zero))


def _clamp01(ctx, x, t):
    return t2(ctx, "Maximum", t2(ctx, "Minimum", x, scalar(ctx, 1, t, "one")), scalar(ctx, 0, t, "zero"))


def _hard_sigmoid(ctx, node, x, t):
    """max(0, min(1, alpha * x + beta))."""
    alpha, beta = _attr(ctx, node, "alpha", 0.2), _attr(ctx, node, "beta", 0.5)
    y = t2(ctx, "AddV2", t2(ctx, "Mul", x, scalar(ctx, alpha, t, "alpha")), scalar(ctx, beta, t, "beta"))
    return _clamp01(ctx, y, t)


def _hard_swish(ctx, node, x, t):
    """x * max(0, min(1, x / 6 + 0.5))."""
    y = t2(ctx, "AddV2", t2(ctx, "Mul", x, scalar(ctx, 1 / 6, t, "alpha")), scalar(ctx, 0.5, t, "beta"))
    return t2(ctx, "Mul", x, _clamp01(ctx, y, t))


def _gelu(ctx, node, x, t):
    """approximate='none': x/2 * (1 + erf(x/sqrt 2)); 'tanh': x/2 * (1 + tanh(sqrt(2/pi) *
    (x + 0.044715 x^3)))."""
    mode = str_attr(ctx, node, "approximate", "none")
    if mode == "none":
        inner = t1(ctx, "Erf", t2(ctx, "Mul", x, scalar(ctx, 1 / math.sqrt(2), t, "rsqrt2")))
    elif mode == "tanh":
        cube = t2(ctx, "Mul", t2(ctx, "Mul", x, x), x)
        poly = t2(ctx, "AddV2", x, t2(ctx, "Mul", cube, scalar(ctx, 0.044715, t, "c")))
        inner = t1(ctx, "Tanh", t2(ctx, "Mul", poly, scalar(ctx, math.sqrt(2 / math.pi), t, "k")))
    else:
        raise ctx.unsupported(f"Gelu approximate={mode!r}")
    one_plus = t2(ctx, "AddV2", inner, scalar(ctx, 1, t, "one"))
    return t2(ctx, "Mul", t2(ctx, "Mul", x, scalar(ctx, 0.5, t, "half")), one_plus)


def _mish(ctx, node, x, t):
    return t2(ctx, "Mul", x, t1(ctx, "Tanh", t1(ctx, "Softplus", x)))


def _swish(ctx, node, x, t):
    """x * sigmoid(alpha * x)."""
    alpha = _attr(ctx, node, "alpha", 1.0)
    ax = x if alpha == 1.0 else t2(ctx, "Mul", x, scalar(ctx, alpha, t, "alpha"))
    return t2(ctx, "Mul", x, t1(ctx, "Sigmoid", ax))


for _fn, _name in ((_elu, "Elu"), (_selu, "Selu"), (_celu, "Celu"), (_hard_sigmoid, "HardSigmoid"),
                   (_hard_swish, "HardSwish"), (_gelu, "Gelu"), (_mish, "Mish"), (_swish, "Swish")):
    TF_LIFT.register(_name)(_composed(_fn))


@TF_LIFT.register("PRelu")
def lift_prelu(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """x < 0 ? slope * x : x, the slope broadcasting to x."""
    x, slope = node.inputs[0], node.inputs[1]
    neg = _cmp(ctx, "Less", x, scalar(ctx, 0, dtype(ctx, x), "zero"))
    return [_select(ctx, neg, t2(ctx, "Mul", x, slope), x)]


@TF_LIFT.register("ThresholdedRelu")
def lift_thresholded_relu(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    t = dtype(ctx, x)
    above = _cmp(ctx, "Greater", x, scalar(ctx, _attr(ctx, node, "alpha", 1.0), t, "alpha"))
    return [_select(ctx, above, x, t1(ctx, "ZerosLike", x))]


@TF_LIFT.register("Shrink")
def lift_shrink(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """x < -lambd ? x + bias : x > lambd ? x - bias : 0 (integers computed in double)."""
    bias, lambd = _attr(ctx, node, "bias", 0.0), _attr(ctx, node, "lambd", 0.5)

    def compute(xs, t):
        x = xs[0]
        lo = _cmp(ctx, "Less", x, scalar(ctx, -lambd, t, "neg_lambd"))
        hi = _cmp(ctx, "Greater", x, scalar(ctx, lambd, t, "lambd"))
        b = scalar(ctx, bias, t, "bias")
        inner = _select(ctx, hi, t2(ctx, "Sub", x, b), t1(ctx, "ZerosLike", x))
        return _select(ctx, lo, t2(ctx, "AddV2", x, b), inner)

    return [via(ctx, [node.inputs[0]], FLOATS - {D.FLOAT16, D.BFLOAT16}, compute, wider=_TO_DOUBLE)]


def _axis(ctx: LiftContext, node: ir.Node) -> tuple[ir.Value, bool]:
    """(the axis as an int64 [1] constant, whether it is the last axis)."""
    x = node.inputs[0]
    axis = int(ctx.attr(node, "axis", -1))
    last = axis == -1 or (ctx.rank(x) is not None and axis == ctx.rank(x) - 1)
    return ctx.i64([axis], "axis"), last


def _shifted(ctx: LiftContext, x: ir.Value, axes: ir.Value, t: ir.DType) -> ir.Value:
    m = ctx.tf("Max", [x, axes], T=t, Tidx=D.INT64, keep_dims=True, types=[ir.TensorType(t)])
    return t2(ctx, "Sub", x, m)


def _sum_exp(ctx: LiftContext, z: ir.Value, axes: ir.Value, t: ir.DType) -> tuple[ir.Value, ir.Value]:
    e = t1(ctx, "Exp", z)
    return e, ctx.tf("Sum", [e, axes], T=t, Tidx=D.INT64, keep_dims=True, types=[ir.TensorType(t)])


@TF_LIFT.register("Softmax")
def lift_softmax(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """TF Softmax works on the last axis; other axes: exp(x - max) / sum, as ONNX defines it."""
    x, (axes, last) = node.inputs[0], _axis(ctx, node)
    t = dtype(ctx, x)
    if last:
        return [t1(ctx, "Softmax", x)]
    e, s = _sum_exp(ctx, _shifted(ctx, x, axes, t), axes, t)
    return [t2(ctx, "RealDiv", e, s)]


def log_softmax(ctx: LiftContext, x: ir.Value, axis: int) -> ir.Value:
    """(x - max) - log(sum(exp(x - max))) along ``axis`` (TF LogSoftmax on the last axis)."""
    t = dtype(ctx, x)
    if axis == -1 or (ctx.rank(x) is not None and axis == ctx.rank(x) - 1):
        return t1(ctx, "LogSoftmax", x)
    axes = ctx.i64([axis], "axis")
    z = _shifted(ctx, x, axes, t)
    return t2(ctx, "Sub", z, t1(ctx, "Log", _sum_exp(ctx, z, axes, t)[1]))


@TF_LIFT.register("LogSoftmax")
def lift_log_softmax(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return [log_softmax(ctx, node.inputs[0], int(ctx.attr(node, "axis", -1)))]


@TF_LIFT.register("Hardmax")
def lift_hardmax(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """One-hot of the first index of the maximum along the axis."""
    x = node.inputs[0]
    t = dtype(ctx, x)
    axis = norm_axis(ctx, x, int(ctx.attr(node, "axis", -1)))
    idx = op(ctx, "ArgMax", [x, ctx.i64(axis, "axis")], D.INT64, T=t, Tidx=D.INT64, output_type=D.INT64)
    shape = op(ctx, "Shape", [x], D.INT32, T=t, out_type=D.INT32)
    depth = op(ctx, "GatherV2", [shape, ctx.i32(axis, "axis32"), ctx.i32(0, "zero")], D.INT32,
               Tparams=D.INT32, Tindices=D.INT32, Taxis=D.INT32, batch_dims=0)
    on, off = ctx.const(np.ones((), t.numpy), "on", t), ctx.const(np.zeros((), t.numpy), "off", t)
    return [op(ctx, "OneHot", [idx, depth, on, off], t, T=t, TI=D.INT64, axis=axis)]
