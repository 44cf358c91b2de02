"""Cumulative ops, Einsum and the non-broadcasting BatchMatMul (v1)."""

from __future__ import annotations

from tensorbridge import ir

from . import TF_IMPORT
from ._context import ImportContext, TfNode


def _cumulative(ctx: ImportContext, node: TfNode, onnx_op: str) -> list[ir.Value]:
    # (x, axis) with exclusive/reverse attrs, the same meaning in ONNX; the axis is a scalar
    x, axis = ctx.input(node, 0), ctx.input(node, 1)
    return [ctx.b.op(onnx_op, [x, axis], exclusive=int(bool(ctx.attr(node, "exclusive", False))),
                     reverse=int(bool(ctx.attr(node, "reverse", False))))]


@TF_IMPORT.register("Cumsum")
def import_cumsum(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return _cumulative(ctx, node, "CumSum")


@TF_IMPORT.register("Cumprod", since=26)  # ONNX CumProd arrived in opset 26
def import_cumprod(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return _cumulative(ctx, node, "CumProd")


@TF_IMPORT.register("Einsum")
def import_einsum(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    equation = ctx.attr(node, "equation")
    equation = equation.decode() if isinstance(equation, bytes) else str(equation)
    return [ctx.b.op("Einsum", ctx.inputs(node), equation=equation)]


@TF_IMPORT.register("BatchMatMul")
def import_batchmatmul(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # v1 needs equal batch dims (no broadcasting), where ONNX MatMul equals it; adj_x/adj_y
    # are the conjugate transpose of the last two dims (plain transpose for real types)
    dtype: ir.DType = ctx.attr(node, "T")
    if dtype.is_complex:
        raise ctx.unsupported("complex BatchMatMul", node)
    a, b = ctx.input(node, 0), ctx.input(node, 1)
    if ctx.attr(node, "adj_x", False):
        a = ctx.b.op("Einsum", [a], equation="...ij->...ji")
    if ctx.attr(node, "adj_y", False):
        b = ctx.b.op("Einsum", [b], equation="...ij->...ji")
    return [ctx.b.op("MatMul", [a, b])]
