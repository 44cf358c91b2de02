"""Element-wise math, comparison and logic (FORMATS.md 8: Div/FloorDiv/FloorMod, Select)."""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from . import TF_IMPORT
from ._context import ImportContext, TfNode

# TF op -> ONNX op with the same semantics (broadcasting like numpy in both)
_BINARY = {
    "Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div",
    "Div": "Div", "TruncateDiv": "Div", "Maximum": "Max", "Minimum": "Min", "Pow": "Pow",
    "Equal": "Equal", "Less": "Less", "LessEqual": "LessOrEqual", "Greater": "Greater",
    "GreaterEqual": "GreaterOrEqual", "LogicalAnd": "And", "LogicalOr": "Or",
}  # fmt: skip
_UNARY = {
    "Neg": "Neg", "Abs": "Abs", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Tanh": "Tanh",
    "Sigmoid": "Sigmoid", "Erf": "Erf", "Floor": "Floor", "Ceil": "Ceil", "Round": "Round",
    "Sign": "Sign", "Reciprocal": "Reciprocal", "Inv": "Reciprocal", "LogicalNot": "Not",
    "Sin": "Sin", "Cos": "Cos", "Tan": "Tan", "Softsign": "Softsign", "IsNan": "IsNaN",
}  # fmt: skip


@TF_IMPORT.register(*_BINARY)
def import_binary(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF Div on integers truncates toward zero, as ONNX Div does; RealDiv is float division
    return [ctx.b.op(_BINARY[node.op], [ctx.input(node, 0), ctx.input(node, 1)])]


@TF_IMPORT.register(*_UNARY)
def import_unary(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF Round is half-to-even, as ONNX Round is
    return [ctx.b.op(_UNARY[node.op], [ctx.input(node, 0)])]


@TF_IMPORT.register("NotEqual")
def import_notequal(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.b.op("Not", [ctx.b.op("Equal", [ctx.input(node, 0), ctx.input(node, 1)])])]


@TF_IMPORT.register("Rsqrt")
def import_rsqrt(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.b.op("Reciprocal", [ctx.b.op("Sqrt", [ctx.input(node, 0)])])]


@TF_IMPORT.register("Square")
def import_square(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    x = ctx.input(node, 0)
    return [ctx.b.op("Mul", [x, x])]


@TF_IMPORT.register("SquaredDifference")
def import_squareddifference(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    d = ctx.b.op("Sub", [ctx.input(node, 0), ctx.input(node, 1)])
    return [ctx.b.op("Mul", [d, d])]


@TF_IMPORT.register("FloorDiv")
def import_floordiv(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    x, y = ctx.input(node, 0), ctx.input(node, 1)
    dtype: ir.DType = ctx.attr(node, "T")
    q = ctx.b.op("Div", [x, y])
    if not dtype.is_integer:
        return [ctx.b.op("Floor", [q])]
    # truncated quotient; subtract 1 where the remainder is non-zero and its sign differs
    # from the divisor's (-7 // 2 = -4)
    r = ctx.b.op("Mod", [x, y], fmod=1)
    zero = ctx.const(np.zeros((), dtype.numpy), "zero")
    fix = ctx.b.op("And", [
        ctx.b.op("Not", [ctx.b.op("Equal", [r, zero])]),
        ctx.b.op("Xor", [ctx.b.op("Less", [r, zero]), ctx.b.op("Less", [y, zero])]),
    ])  # fmt: skip
    return [ctx.b.op("Sub", [q, ctx.cast(fix, dtype)])]


@TF_IMPORT.register("FloorMod")
def import_floormod(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    x, y = ctx.input(node, 0), ctx.input(node, 1)
    dtype: ir.DType = ctx.attr(node, "T")
    if dtype.is_integer:
        return [ctx.b.op("Mod", [x, y], fmod=0)]  # sign of the divisor, like TF
    # floats: ONNX Mod needs fmod=1 (sign of the dividend); TF's is x - floor(x / y) * y
    q = ctx.b.op("Floor", [ctx.b.op("Div", [x, y])])
    return [ctx.b.op("Sub", [x, ctx.b.op("Mul", [q, y])])]


@TF_IMPORT.register("TruncateMod")
def import_truncatemod(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.b.op("Mod", [ctx.input(node, 0), ctx.input(node, 1)], fmod=1)]


@TF_IMPORT.register("Cast")
def import_cast(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    dst: ir.DType = ctx.attr(node, "DstT")
    return [ctx.cast(ctx.input(node, 0), dst)]


@TF_IMPORT.register("SelectV2")
def import_selectv2(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.b.op("Where", ctx.inputs(node))]


@TF_IMPORT.register("Select")
def import_select(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # v1: a rank-1 condition picks whole rows of x/y; else the shapes match. Right-pad the
    # condition's shape with 1s up to x's rank so that ONNX Where broadcasts it per row.
    cond, x, y = ctx.inputs(node)
    cshape = ctx.b.op("Shape", [cond])
    extra = ctx.b.op("Sub", [ctx.b.op("Size", [ctx.b.op("Shape", [x])]),
                             ctx.b.op("Size", [cshape])])
    ones = ctx.b.op("Expand", [ctx.i64([1], "one"), ctx.b.op("Reshape", [extra, ctx.i64([1])])])
    shape = ctx.b.op("Concat", [cshape, ones], axis=0)
    return [ctx.b.op("Where", [ctx.b.op("Reshape", [cond, shape]), x, y])]


@TF_IMPORT.register("AddN")
def import_addn(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    xs = ctx.inputs(node)
    return [ctx.b.op("Sum", xs) if len(xs) > 1 else xs[0]]


@TF_IMPORT.register("ClipByValue")
def import_clipbyvalue(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF broadcasts tensor bounds (ONNX Clip wants scalars): min(max(x, lo), hi)
    x, lo, hi = ctx.inputs(node)
    return [ctx.b.op("Min", [ctx.b.op("Max", [x, lo]), hi])]
