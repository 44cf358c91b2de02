"""Lift: element-wise unary math (Abs ... Atanh, Erf, Sign, Floor/Ceil/Round, IsNaN/IsInf, Not,
BitwiseNot) and the window generators (Hann, Hamming, Blackman).

TF's kernels compute the same functions (TF ``Round`` is half-to-even like ONNX, FORMATS.md 8).
Where a TF kernel lacks an element type ONNX allows, the handler computes in an exact wider type
(``_mathutil.via``) or uses an identity that holds for the type (Abs of unsigned is x).
"""

from __future__ import annotations

import math

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import FLOATS, INTS, SIGNED, UNSIGNED, dtype, int_attr, op, scalar, t1, t2, via

D = ir.DType
_F = FLOATS
_FI = FLOATS | SIGNED
# ONNX op -> (TF op, element types its CPU kernel has)
_UNARY = {
    "Neg": ("Neg", _FI), "Exp": ("Exp", _F), "Log": ("Log", _F), "Sqrt": ("Sqrt", _F),
    "Reciprocal": ("Reciprocal", _F), "Sin": ("Sin", _F), "Cos": ("Cos", _F), "Tan": ("Tan", _F),
    "Asin": ("Asin", _F), "Acos": ("Acos", _F), "Atan": ("Atan", _F), "Sinh": ("Sinh", _F),
    "Cosh": ("Cosh", _F), "Asinh": ("Asinh", _F), "Acosh": ("Acosh", _F), "Atanh": ("Atanh", _F),
    "Erf": ("Erf", _F), "Floor": ("Floor", _F), "Ceil": ("Ceil", _F), "Round": ("Round", _F),
    "Tanh": ("Tanh", _F), "Sigmoid": ("Sigmoid", _F), "Softsign": ("Softsign", _F),
    "Softplus": ("Softplus", _F), "BitwiseNot": ("Invert", INTS),
}


def _unary(tf_op: str, kinds: frozenset):
    def lift(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
        return [via(ctx, [node.inputs[0]], kinds, lambda xs, t: t1(ctx, tf_op, xs[0]))]

    lift.__qualname__ = f"lift_{tf_op}"
    return lift


for _onnx, (_tf, _kinds) in _UNARY.items():
    TF_LIFT.register(_onnx)(_unary(_tf, _kinds))


@TF_LIFT.register("Abs")
def lift_abs(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    if dtype(ctx, x) in UNSIGNED:
        return [t1(ctx, "Identity", x)]
    return [via(ctx, [x], _FI, lambda xs, t: t1(ctx, "Abs", xs[0]))]


@TF_LIFT.register("Sign")
def lift_sign(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """Sign; for unsigned types it is min(x, 1)."""
    x = node.inputs[0]
    t = dtype(ctx, x)
    if t in UNSIGNED:
        return [t2(ctx, "Minimum", x, scalar(ctx, 1, t, "one"))]
    return [via(ctx, [x], _FI, lambda xs, t: t1(ctx, "Sign", xs[0]))]


@TF_LIFT.register("Not")
def lift_not(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return [op(ctx, "LogicalNot", [node.inputs[0]], D.BOOL)]


@TF_LIFT.register("IsNaN")
def lift_isnan(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    return [via(ctx, [x], _F, lambda xs, t: op(ctx, "IsNan", xs, D.BOOL, T=t))]


@TF_LIFT.register("IsInf")
def lift_isinf(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """IsInf, narrowed to +inf/-inf by detect_positive/detect_negative (x > 0 / x < 0)."""
    x = node.inputs[0]
    pos, neg = int_attr(ctx, node, "detect_positive", 1), int_attr(ctx, node, "detect_negative", 1)

    def compute(xs: list[ir.Value], t: ir.DType) -> ir.Value:
        inf = op(ctx, "IsInf", xs, D.BOOL, T=t)
        if pos and neg:
            return inf
        zero = scalar(ctx, 0, t, "zero")
        if pos or neg:
            side = op(ctx, "Greater" if pos else "Less", [xs[0], zero], D.BOOL, T=t)
            return op(ctx, "LogicalAnd", [inf, side], D.BOOL)
        return op(ctx, "Equal", [inf, op(ctx, "LogicalNot", [inf], D.BOOL)], D.BOOL, T=D.BOOL)

    return [via(ctx, [x], _F, compute)]


# window -> cosine-sum coefficients a_k of w[n] = sum_k (-1)^k a_k cos(2 pi k n / N')
_WINDOWS = {"HannWindow": (0.5, 0.5), "HammingWindow": (25 / 46, 21 / 46),
            "BlackmanWindow": (0.42, 0.5, 0.08)}


def _window(coeffs: tuple[float, ...]):
    def lift(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
        """Computed in double (as the ONNX reference) over n = 0..size-1, N' = size when
        periodic else size - 1, then cast to output_datatype."""
        size = node.inputs[0]
        out = D.from_onnx(int_attr(ctx, node, "output_datatype", 1))
        ts = dtype(ctx, size)
        size = op(ctx, "Reshape", [size, ctx.i32([], "scalar")], ts, T=ts, Tshape=D.INT32)
        n = op(ctx, "Range", [ctx.const(0, "zero", ts), size, ctx.const(1, "one", ts)], ts, Tidx=ts)
        n, big_n = ctx.cast(n, D.DOUBLE), ctx.cast(size, D.DOUBLE)
        if not int_attr(ctx, node, "periodic", 1):
            big_n = t2(ctx, "Sub", big_n, scalar(ctx, 1, D.DOUBLE, "one_d"))
        phase = t2(ctx, "RealDiv", n, big_n)
        y = scalar(ctx, coeffs[0], D.DOUBLE, "a0")
        for k, a in enumerate(coeffs[1:], start=1):
            w = scalar(ctx, 2 * k * math.pi, D.DOUBLE, "w")
            term = t1(ctx, "Cos", t2(ctx, "Mul", phase, w))
            term = t2(ctx, "Mul", term, scalar(ctx, a * (-1) ** k, D.DOUBLE, f"a{k}"))
            y = t2(ctx, "AddV2", term, y)
        return [ctx.cast(y, out)]

    return lift


for _name, _coeffs in _WINDOWS.items():
    TF_LIFT.register(_name)(_window(_coeffs))
