"""GatherV2 / ResourceGather with ``batch_dims`` (FORMATS.md 8: axis an input, batch_dims an
attr). ONNX Gather has no batch dims; GatherND has, but gathers the dims right after them:

TF, with b = batch_dims <= axis:
    out[B.., P.., I.., S..] = params[B.., P.., indices[B.., I..], S..]
    (B: the b batch dims, P: params dims b..axis-1, I: the other indices dims, S: params
    dims after axis)

GatherND(params', Unsqueeze(indices, -1), batch_dims=b), with params' = params whose axis
moved to position b (a Transpose), gives out'[B.., I.., P.., S..]; a second Transpose puts P
back before I. With axis == b both Transposes are identities and are not emitted. Negative
axis / batch_dims count from params' / indices' rank, so those need the rank.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from . import TF_IMPORT
from ._context import ImportContext, TfNode
from ._dims import rank_of


def _axis(ctx: ImportContext, node: TfNode) -> int:
    const = ctx.constant_value(ctx.input(node, 2))
    if const is None:
        raise ctx.unsupported("input 2 (the axis) must be a constant", node)
    return int(np.asarray(const).reshape(-1)[0])


@TF_IMPORT.register("GatherV2")
def import_gatherv2(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    params, indices = ctx.input(node, 0), ctx.input(node, 1)
    axis, batch_dims = _axis(ctx, node), int(ctx.attr(node, "batch_dims", 0))
    if batch_dims == 0:
        return [ctx.b.op("Gather", [params, indices], axis=axis)]
    return [batched_gather(ctx, node, params, indices, axis, batch_dims)]


def batched_gather(ctx: ImportContext, node: TfNode, params: ir.Value, indices: ir.Value,
                   axis: int, batch_dims: int) -> ir.Value:
    """TF's gather with ``batch_dims`` != 0, exactly (see the module doc)."""
    p_rank, i_rank = rank_of(params), rank_of(indices)
    if batch_dims < 0:
        if i_rank is None:
            raise ctx.unsupported("negative batch_dims on indices of unknown rank", node)
        batch_dims += i_rank
    if axis < 0:
        if p_rank is None:
            raise ctx.unsupported("negative axis on params of unknown rank", node)
        axis += p_rank
    if not 0 <= batch_dims <= axis or (i_rank is not None and batch_dims > i_rank):
        raise ctx.unsupported(f"batch_dims {batch_dims} must be in [0, min(axis {axis}, "
                              "rank(indices))]", node)
    moved = axis - batch_dims  # the P dims
    if moved and (p_rank is None or i_rank is None):
        raise ctx.unsupported("batch_dims < axis needs params and indices of known rank", node)
    b = batch_dims
    if moved:
        perm = [*range(b), axis, *range(b, axis), *range(axis + 1, p_rank)]
        params = ctx.b.op("Transpose", [params], perm=perm)
    idx = ctx.b.op("Unsqueeze", [ctx.as_int64(indices, "indices"), ctx.i64([-1], "last")])
    out = ctx.b.op("GatherND", [params, idx], batch_dims=b)
    if not moved:
        return out
    n_i = i_rank - b  # out' = [B.., I.., P.., S..] -> [B.., P.., I.., S..]
    i_dims, p_dims = list(range(b, b + n_i)), list(range(b + n_i, b + n_i + moved))
    rest = list(range(b + n_i + moved, n_i + p_rank - 1))
    return ctx.b.op("Transpose", [out], perm=[*range(b), *p_dims, *i_dims, *rest])


@TF_IMPORT.register("ResourceGather")
def import_resourcegather(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    """tf.gather on a resource variable: the axis is batch_dims (TF's ResourceGather gathers
    the first dim after the batch dims)."""
    table, indices = ctx.input(node, 0), ctx.input(node, 1)
    batch_dims = int(ctx.attr(node, "batch_dims", 0))
    if batch_dims == 0:
        return [ctx.b.op("Gather", [table, indices], axis=0)]
    return [batched_gather(ctx, node, table, indices, batch_dims, batch_dims)]
