"""Variables: TF1 VariableV2 and resource variables, their reads and gathers.

A variable becomes the initializer Value ``ctx.variable(checkpoint_key)``; a read is that
Value itself (freezing or a SavedModel export later decides what to do with it).
"""

from __future__ import annotations

from tensorbridge import ir

from . import TF_IMPORT
from ._context import ImportContext, TfNode


@TF_IMPORT.register("VariableV2", "Variable")
def import_variablev2(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF1 ref variables: the checkpoint key is the op name (FORMATS.md 4.3)
    return [ctx.variable(node.name)]


@TF_IMPORT.register("VarHandleOp")
def import_varhandleop(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF1 resource variables (TF2 captures are bound through the object graph instead)
    shared = ctx.attr(node, "shared_name", b"").decode()
    return [ctx.variable(shared or node.name)]


@TF_IMPORT.register("ReadVariableOp")
def import_readvariableop(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [ctx.input(node, 0)]


@TF_IMPORT.register("ResourceGatherNd")
def import_resourcegathernd(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    table, indices = ctx.input(node, 0), ctx.input(node, 1)
    return [ctx.b.op("GatherND", [table, ctx.as_int64(indices)])]
