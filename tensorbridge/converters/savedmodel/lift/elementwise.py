"""Lift: element-wise arithmetic, comparison, logic and activations.

ONNX's multidirectional broadcasting is numpy's, as is TF's for these ops, so binary ops map
one to one (FORMATS.md 8 lists where the two differ: integer Div and Mod round differently).
"""

from __future__ import annotations

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext

_BINARY = {"Add": "AddV2", "Sub": "Sub", "Mul": "Mul"}
_UNARY = {"Relu": "Relu", "Identity": "Identity"}


def _binary(tf_op: str):
    def lift(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
        a, b = node.inputs[0], node.inputs[1]
        return [ctx.tf(tf_op, [a, b], T=ctx.dtype(a))]

    lift.__qualname__ = f"lift_{tf_op}"
    return lift


def _unary(tf_op: str):
    def lift(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
        x = node.inputs[0]
        return [ctx.tf(tf_op, [x], T=ctx.dtype(x))]

    lift.__qualname__ = f"lift_{tf_op}"
    return lift


for _onnx, _tf in _BINARY.items():
    TF_LIFT.register(_onnx)(_binary(_tf))
for _onnx, _tf in _UNARY.items():
    TF_LIFT.register(_onnx)(_unary(_tf))


@TF_LIFT.register("MatMul")
def lift_matmul(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """ONNX MatMul is numpy matmul: BatchMatMulV2 broadcasts batch dims the same way; rank-1
    operands (which numpy promotes) are left to a later family."""
    a, b = node.inputs[0], node.inputs[1]
    if ctx.rank(a) == 2 and ctx.rank(b) == 2:
        return [ctx.tf("MatMul", [a, b], T=ctx.dtype(a), transpose_a=False, transpose_b=False)]
    if ctx.rank(a) is None or ctx.rank(b) is None or ctx.rank(a) < 2 or ctx.rank(b) < 2:
        raise ctx.unsupported("MatMul operands of rank < 2 or unknown rank")
    return [ctx.tf("BatchMatMulV2", [a, b], T=ctx.dtype(a), adj_x=False, adj_y=False)]
