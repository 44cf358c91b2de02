"""Matrix products, bias and activations (FORMATS.md 8: MatMul flags, BiasAdd layouts,
LeakyRelu's 0.2 default alpha, Softmax on the last axis)."""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from . import TF_IMPORT
from ._context import ImportContext, TfNode


def _swap_last_two(ctx: ImportContext, x: ir.Value) -> ir.Value:
    """Transpose the last two dims of a tensor of any rank >= 2 (real types)."""
    return ctx.b.op("Einsum", [x], equation="...ij->...ji")


@TF_IMPORT.register("MatMul")
def import_matmul(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    a, b = ctx.input(node, 0), ctx.input(node, 1)
    if ctx.attr(node, "transpose_a", False):
        a = ctx.b.op("Transpose", [a], perm=[1, 0])
    if ctx.attr(node, "transpose_b", False):
        b = ctx.b.op("Transpose", [b], perm=[1, 0])
    return [ctx.b.op("MatMul", [a, b])]


@TF_IMPORT.register("BatchMatMulV2", "BatchMatMulV3")
def import_batchmatmulv2(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # adj_x/adj_y: conjugate transpose of the last two dims; batch dims broadcast as in ONNX
    dtype: ir.DType = ctx.attr(node, "Ta", None) or ctx.attr(node, "T")
    if dtype.is_complex:
        raise ctx.unsupported("complex BatchMatMul", node)
    a, b = ctx.input(node, 0), ctx.input(node, 1)
    if ctx.attr(node, "adj_x", False):
        a = _swap_last_two(ctx, a)
    if ctx.attr(node, "adj_y", False):
        b = _swap_last_two(ctx, b)
    y = ctx.b.op("MatMul", [a, b])
    tout: ir.DType | None = ctx.attr(node, "Tout", None)
    return [ctx.cast(y, tout) if tout is not None and tout is not dtype else y]


@TF_IMPORT.register("BiasAdd", "BiasAddV1")
def import_biasadd(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    x, bias = ctx.input(node, 0), ctx.input(node, 1)
    if ctx.attr(node, "data_format", b"NHWC") != b"NCHW":
        return [ctx.b.op("Add", [x, bias])]
    # NCHW-style: the channel axis is 1; bias -> [C, 1, ..., 1] with rank(x) - 2 ones
    rank = ctx.b.op("Size", [ctx.b.op("Shape", [x])])
    ones = ctx.b.op("Expand", [ctx.i64([1], "one"),
                               ctx.b.op("Reshape", [ctx.b.op("Sub", [rank, ctx.i64(2)]),
                                                    ctx.i64([1])])])
    shape = ctx.b.op("Concat", [ctx.i64([-1], "minus_one"), ones], axis=0)
    return [ctx.b.op("Add", [x, ctx.b.op("Reshape", [bias, shape])])]


@TF_IMPORT.register("Relu")
def import_relu(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.b.op("Relu", [ctx.input(node, 0)])]


@TF_IMPORT.register("Relu6")
def import_relu6(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    dtype: ir.DType = ctx.attr(node, "T")
    lo = ctx.const(np.zeros((), dtype.numpy), "zero")
    hi = ctx.const(np.full((), 6, dtype.numpy), "six")
    return [ctx.b.op("Clip", [ctx.input(node, 0), lo, hi])]


@TF_IMPORT.register("Elu")
def import_elu(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.b.op("Elu", [ctx.input(node, 0)], alpha=1.0)]


@TF_IMPORT.register("Selu")
def import_selu(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF's constants are ONNX's defaults; written out anyway
    return [ctx.b.op("Selu", [ctx.input(node, 0)], alpha=1.6732632423543772,
                     gamma=1.0507009873554805)]


@TF_IMPORT.register("LeakyRelu")
def import_leakyrelu(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF's default alpha is 0.2 (ONNX: 0.01): always write it
    alpha = float(ctx.attr(node, "alpha", 0.2))
    return [ctx.b.op("LeakyRelu", [ctx.input(node, 0)], alpha=alpha)]


@TF_IMPORT.register("Softmax")
def import_softmax(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.b.op("Softmax", [ctx.input(node, 0)], axis=-1)]


@TF_IMPORT.register("LogSoftmax")
def import_logsoftmax(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.b.op("LogSoftmax", [ctx.input(node, 0)], axis=-1)]


@TF_IMPORT.register("Softplus")
def import_softplus(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.b.op("Softplus", [ctx.input(node, 0)])]
