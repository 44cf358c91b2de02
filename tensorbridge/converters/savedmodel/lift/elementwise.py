"""Lift: element-wise binary and variadic arithmetic, comparison, logic, bitwise ops, Where,
Identity, Cast/CastLike and Clip.

ONNX's multidirectional broadcasting is numpy's, as is TF's for these ops, so binary ops map
one to one. Where the two differ (FORMATS.md 8): integer Div truncates in ONNX (TF
``TruncateDiv``; TF ``FloorDiv`` floors); ``Mod`` fmod=0 is the floor modulo (TF ``FloorMod``),
fmod=1 the C fmod (TF ``TruncateMod``); ``Pow`` takes an exponent of another type.
"""

from __future__ import annotations

from functools import reduce

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import FLOATS, INTS, SIGNED, UNSIGNED, dtype, int_attr, op, scalar, str_attr, t1, t2, via

D = ir.DType
_ALL_NUM = FLOATS | INTS
_BINARY = {"Add": "AddV2", "Sub": "Sub", "Mul": "Mul", "BitwiseAnd": "BitwiseAnd",
           "BitwiseOr": "BitwiseOr", "BitwiseXor": "BitwiseXor"}
_COMPARE = {"Equal": "Equal", "Less": "Less", "Greater": "Greater", "LessOrEqual": "LessEqual",
            "GreaterOrEqual": "GreaterEqual"}
_LOGIC = {"And": "LogicalAnd", "Or": "LogicalOr", "Xor": "NotEqual"}


def _binary(tf_op: str):
    def lift(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
        return [t2(ctx, tf_op, node.inputs[0], node.inputs[1])]

    lift.__qualname__ = f"lift_{tf_op}"
    return lift


def _compare(tf_op: str):
    def lift(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
        a, b = node.inputs[0], node.inputs[1]
        return [op(ctx, tf_op, [a, b], D.BOOL, T=dtype(ctx, a))]

    lift.__qualname__ = f"lift_{tf_op}"
    return lift


def _logic(tf_op: str):
    def lift(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
        extra = {"T": D.BOOL} if tf_op == "NotEqual" else {}
        return [op(ctx, tf_op, [node.inputs[0], node.inputs[1]], D.BOOL, **extra)]

    lift.__qualname__ = f"lift_{tf_op}"
    return lift


for _onnx, _tf in _BINARY.items():
    TF_LIFT.register(_onnx)(_binary(_tf))
for _onnx, _tf in _COMPARE.items():
    TF_LIFT.register(_onnx)(_compare(_tf))
for _onnx, _tf in _LOGIC.items():
    TF_LIFT.register(_onnx)(_logic(_tf))


@TF_LIFT.register("Identity")
def lift_identity(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return [t1(ctx, "Identity", node.inputs[0])]


@TF_LIFT.register("Div")
def lift_div(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """Floats: RealDiv; integers truncate toward zero in ONNX: TruncateDiv."""
    a, b = node.inputs[0], node.inputs[1]
    return [t2(ctx, "RealDiv" if dtype(ctx, a) in FLOATS else "TruncateDiv", a, b)]


@TF_LIFT.register("Mod")
def lift_mod(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """fmod=0: result takes the divisor's sign (FloorMod); fmod=1: the dividend's (TruncateMod;
    for unsigned types the two agree)."""
    a, b = node.inputs[0], node.inputs[1]
    t = dtype(ctx, a)
    if not int_attr(ctx, node, "fmod", 0) or t in UNSIGNED:
        return [t2(ctx, "FloorMod", a, b)]
    kinds = {D.FLOAT, D.DOUBLE, D.INT32, D.INT64}
    return [via(ctx, [a, b], kinds, lambda xs, _: t2(ctx, "TruncateMod", xs[0], xs[1]))]


@TF_LIFT.register("Pow")
def lift_pow(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """Pow(X: T, Y: T1) -> T. Same-kind exponent: cast to T. Integer base, float exponent: the
    power in double, truncated to T (what the ONNX reference and ORT do); a wider float exponent:
    the power in its type, rounded to T."""
    x, y = node.inputs[0], node.inputs[1]
    t, ty = dtype(ctx, x), dtype(ctx, y)
    if (t in INTS and ty in FLOATS) or (t in FLOATS and ty in FLOATS and ty.bits > t.bits):
        w = D.DOUBLE if t in INTS else ty
        return [ctx.cast(t2(ctx, "Pow", ctx.cast(x, w), ctx.cast(y, w)), t)]
    kinds = FLOATS | SIGNED
    wider = {D.UINT8: D.INT32, D.UINT16: D.INT32, D.UINT32: D.INT64, D.UINT64: D.INT64}
    return [via(ctx, [x, ctx.cast(y, t)], kinds, lambda xs, _: t2(ctx, "Pow", xs[0], xs[1]), wider=wider)]


@TF_LIFT.register("BitShift")
def lift_bitshift(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    direction = str_attr(ctx, node, "direction", "")
    if direction not in ("LEFT", "RIGHT"):
        raise ctx.unsupported(f"BitShift direction {direction!r}")
    tf_op = "LeftShift" if direction == "LEFT" else "RightShift"
    return [t2(ctx, tf_op, node.inputs[0], node.inputs[1])]


@TF_LIFT.register("Where")
def lift_where(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """Where broadcasts like numpy: SelectV2 (not v1 Select, FORMATS.md 8)."""
    c, x, y = node.inputs
    return [op(ctx, "SelectV2", [c, x, y], dtype(ctx, x), T=dtype(ctx, x))]


def _fold(ctx: LiftContext, node: ir.Node, tf_op: str) -> ir.Value:
    xs = list(node.inputs)
    if len(xs) == 1:
        return t1(ctx, "Identity", xs[0])
    return reduce(lambda a, b: t2(ctx, tf_op, a, b), xs)


@TF_LIFT.register("Max")
def lift_max(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return [_fold(ctx, node, "Maximum")]


@TF_LIFT.register("Min")
def lift_min(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return [_fold(ctx, node, "Minimum")]


@TF_LIFT.register("Sum")
def lift_sum(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return [_fold(ctx, node, "AddV2")]


@TF_LIFT.register("Mean")
def lift_mean(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """The broadcast sum, left to right, divided by the number of inputs."""
    total = _fold(ctx, node, "AddV2")
    if len(node.inputs) == 1:
        return [total]
    return [t2(ctx, "RealDiv", total, scalar(ctx, len(node.inputs), dtype(ctx, total), "count"))]


# float8 types TF's Cast kernel converts to and from float/half/bfloat16 (round to nearest even);
# TF has the other sub-byte and fnuz types but no Cast kernel for them
_F8 = {D.FLOAT8E4M3FN: 448.0, D.FLOAT8E5M2: 57344.0}
_F8_PARTNERS = {D.FLOAT, D.FLOAT16, D.BFLOAT16}


def cast_to(ctx: LiftContext, x: ir.Value, to: ir.DType, saturate: bool) -> ir.Value:
    src = dtype(ctx, x)
    if src is to:
        return t1(ctx, "Identity", x)
    if D.STRING in (src, to):
        raise ctx.unsupported("casts from or to string format numbers differently in TensorFlow")
    for t in (src, to):
        if t.bits < 16 and t not in _F8 and t not in INTS and t is not D.BOOL:
            raise ctx.unsupported(f"TensorFlow has no Cast kernel for {t}")
    if not to.tf_code:
        raise ctx.unsupported(f"TensorFlow has no {to} type")
    if to in _F8:
        if src not in _F8_PARTNERS:
            x = ctx.cast(x, D.FLOAT)
        if saturate:  # out-of-range values and infinities become +-max
            t = dtype(ctx, x)
            lim = _F8[to]
            x = t2(ctx, "Maximum", x, scalar(ctx, -lim, t, "lo"))
            x = t2(ctx, "Minimum", x, scalar(ctx, lim, t, "hi"))
        return ctx.cast(x, to)
    if src in _F8 and to not in _F8_PARTNERS:
        return ctx.cast(ctx.cast(x, D.FLOAT), to)
    return ctx.cast(x, to)


@TF_LIFT.register("Cast")
def lift_cast(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """Float -> int truncates toward zero and -> bool is ``!= 0`` in both (FORMATS.md 8);
    ``saturate`` (float8 targets) clamps to the type's range first, as TF's Cast does not."""
    to = D.from_onnx(int_attr(ctx, node, "to", 0))
    return [cast_to(ctx, node.inputs[0], to, bool(int_attr(ctx, node, "saturate", 1)))]


@TF_LIFT.register("CastLike")
def lift_castlike(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    to = dtype(ctx, node.inputs[1])
    return [cast_to(ctx, node.inputs[0], to, bool(int_attr(ctx, node, "saturate", 1)))]


@TF_LIFT.register("BitCast")
def lift_bitcast(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """Same-width reinterpretation: TF Bitcast (same shape when the widths match). bool <-> 8-bit
    ints is a Cast: TF's bools are the bytes 0/1, and any other byte reads as true in both."""
    x = node.inputs[0]
    src, to = dtype(ctx, x), D.from_onnx(int_attr(ctx, node, "to", 0))
    if src is to:
        return [t1(ctx, "Identity", x)]
    if D.BOOL in (src, to) and {src, to} <= {D.BOOL, D.INT8, D.UINT8}:
        return [ctx.cast(x, to)]
    ok = FLOATS | INTS | {D.COMPLEX64, D.COMPLEX128}
    if src not in ok or to not in ok or src.bits != to.bits:
        raise ctx.unsupported(f"BitCast {src} -> {to}: TensorFlow's Bitcast has no kernel for it")
    return [op(ctx, "Bitcast", [x], to, T=src, type=to)]


@TF_LIFT.register("Clip")
def lift_clip(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """min(max(x, lo), hi) with either bound optional (lo > hi gives hi, as in ONNX)."""
    x, lo, hi = (ctx.input(node, i) for i in range(3))
    dtype(ctx, x)
    y = x if lo is None else t2(ctx, "Maximum", x, lo)
    y = y if hi is None else t2(ctx, "Minimum", y, hi)
    return [t1(ctx, "Identity", y) if y is x else y]
