"""simplify: local rewrite rules, one small function per rule, indexed by op type.

Rules look at a node and the producers of its inputs, never at its consumers, and remove only
the node itself or nodes before it; so one forward sweep over each graph handles whole chains
(Transpose -> Transpose -> Transpose composes into one).

Graph outputs and signature values keep their names (see passes/_edit.py): a removable node
whose output is part of the contract is bypassed only when its input can take the output's
name. Otherwise Identity stays, and any other removable op is replaced by an Identity that
keeps the name (the choice: a name-keeping Identity over a silently renamed graph output).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from .. import ir
from ._edit import all_graphs, drop_if_dead, is_contract, remove_nodes
from .base import PassContext, PassResult, pass_
from .simplify_common import (
    ONNX_DOMAINS,
    bypass,
    const_array,
    drop_initializer_if_unused,
    producer_of,
    static_shape,
)
from .simplify_conv import CONV_RULES
from .simplify_extra import with_extra_rules
from .simplify_fuse import FUSE_RULES
from .simplify_pool import POOL_RULES
from .simplify_reshape import RESHAPE_RULES, copies_through
from .simplify_tensordot import TENSORDOT_RULES

Rule = Callable[[ir.Model, ir.Node], bool]


@pass_("simplify")
def simplify(model: ir.Model, ctx: PassContext) -> PassResult:
    """Remove no-op Identity/Dropout/Cast/Transpose/Reshape, compose Transpose/Reshape chains."""
    stats: Counter[str] = Counter()
    for g in list(all_graphs(model)):
        for node in g:
            if node.graph is None or node.domain not in ONNX_DOMAINS:
                continue
            ctx.working_on(node)
            _apply(model, node, stats)
    ctx.working_on(None)
    return PassResult(model, changed=sum(stats.values()) > 0, stats=dict(stats))


def _apply(model: ir.Model, node: ir.Node, stats: Counter[str]) -> None:
    fired = True
    while fired and node.graph is not None:  # each firing shrinks the graph or a chain: bounded
        fired = False
        for rule in RULES.get(node.op_type, ()):
            if node.graph is not None and rule(model, node):
                stats[rule.__name__.removeprefix("rule_")] += 1
                fired = True


# ---- rules --------------------------------------------------------------------------------
def rule_identity(model: ir.Model, node: ir.Node) -> bool:
    return node.inputs[0] is not None and bypass(model, node, node.inputs[0])


def rule_dropout(model: ir.Model, node: ir.Node) -> bool:
    """Inference-time Dropout: no training_mode (or a constant false) and no mask in use."""
    training = node.inputs[2] if len(node.inputs) > 2 else None
    if training is not None:
        flag = const_array(training)
        if flag is None or bool(flag):
            return False
    return bypass(model, node, node.inputs[0])


def rule_cast_same_type(model: ir.Model, node: ir.Node) -> bool:
    x = node.inputs[0]
    to = node.attr("to")
    if x.dtype is None or to is None:
        return False
    return x.dtype is ir.DType.from_onnx(int(to)) and bypass(model, node, x)


def rule_transpose_compose(model: ir.Model, node: ir.Node) -> bool:
    first = producer_of(node.inputs[0], "Transpose")
    p1, p2 = _perm(first) if first else None, _perm(node)
    if first is None or p1 is None or p2 is None or len(p1) != len(p2):
        return False
    node.set_attr("perm", [p1[i] for i in p2])
    node.set_input(0, first.inputs[0])
    drop_if_dead(model, first)
    return True


def rule_transpose_identity(model: ir.Model, node: ir.Node) -> bool:
    perm = _perm(node)
    return perm is not None and perm == list(range(len(perm))) and bypass(model, node, node.inputs[0])


def rule_transpose_const(model: ir.Model, node: ir.Node) -> bool:
    """Transpose(constant) -> a constant holding the transposed data, at any size: the data is
    only relaid out (no arithmetic), and the new tensor is lazy, so a memory-mapped weight is
    read when the model is written, not here. (fold-constants stops at its size limits, which
    left the HWIO->OIHW Transpose of every conv filter over 1 MB in the graph.)"""
    x, perm, out = node.inputs[0], _perm(node), node.outputs[0]
    if x is None or x.const is None or x.const.dtype is ir.DType.STRING or perm is None:
        return False
    src = x.const
    if len(src.shape) != len(perm) or is_contract(model, out) or node.graph is None:
        return False
    shape = tuple(src.shape[p] for p in perm)
    g = node.graph
    name = g.unique_value_name(f"{x.name}_transposed")
    lazy = ir.LazyTensor(lambda: np.ascontiguousarray(np.transpose(src.numpy(), perm)), src.dtype,
                         shape, name)
    c = g.add_initializer(ir.Value(name, const=lazy))
    out.replace_all_uses_with(c)
    remove_nodes(g, [node])
    drop_initializer_if_unused(model, x)
    return True


def _perm(node: ir.Node) -> list[int] | None:
    perm = node.attr("perm")
    if perm is not None:
        return [int(p) for p in perm]
    shape = node.inputs[0].shape
    return None if shape is None else list(reversed(range(len(shape))))


def rule_reshape_same_shape(model: ir.Model, node: ir.Node) -> bool:
    x, target = node.inputs[0], const_array(node.inputs[1])
    src = static_shape(x)
    if src is None or target is None or target.ndim != 1:
        return False
    resolved = _resolve_reshape(src, [int(d) for d in target], bool(node.attr("allowzero", 0)))
    return resolved == src and bypass(model, node, x)


def _resolve_reshape(src: tuple[int, ...], dims: list[int], allowzero: bool):
    out = [src[i] if d == 0 and not allowzero and i < len(src) else d for i, d in enumerate(dims)]
    if out.count(-1) > 1 or any(d < -1 for d in out):
        return None
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1], dtype=np.int64))
        total = int(np.prod(src, dtype=np.int64))
        if known == 0 or total % known:
            return None
        out[out.index(-1)] = total // known
    return tuple(out)


def rule_reshape_chain(model: ir.Model, node: ir.Node) -> bool:
    """Reshape(Reshape(x, s1), s2) -> Reshape(x, s2) when s2 copies no dim (no 0), or copies
    only dims that s1 copied from x at the same positions (so they are x's dims there)."""
    first = producer_of(node.inputs[0], "Reshape")
    target = const_array(node.inputs[1])
    if first is None or target is None:
        return False
    if not node.attr("allowzero", 0) and not copies_through(target, first):
        return False
    node.set_input(0, first.inputs[0])
    drop_if_dead(model, first)
    return True


def rule_cast_chain(model: ir.Model, node: ir.Node) -> bool:
    """Cast(Cast(x, T2), T3) -> Cast(x, T3) when T1 -> T2 is a lossless widening.

    Every T1 value is exactly a T2 value then, so the outer Cast sees the same numbers either
    way (int8->int32->int64 is int8->int64; float16->float32->float16 becomes a same-type Cast,
    removed by rule_cast_same_type). A narrowing or inexact inner Cast (float->int,
    int32->float32, float32->float16) changes values and stays.
    """
    first = producer_of(node.inputs[0], "Cast")
    if first is None or first.inputs[0] is None or first.attr("to") is None:
        return False
    src, mid = first.inputs[0].dtype, ir.DType.from_onnx(int(first.attr("to")))
    if src is None or mid not in _LOSSLESS.get(src, ()):
        return False
    node.set_input(0, first.inputs[0])
    drop_if_dead(model, first)
    return True


def _lossless_table() -> dict[ir.DType, frozenset[ir.DType]]:
    """T1 -> the types that hold every T1 value exactly (bool, ints, IEEE floats only)."""
    D = ir.DType
    wider = {  # direct widenings; the table is their transitive closure
        D.BOOL: (D.INT8, D.UINT8),
        D.INT8: (D.INT16, D.FLOAT16, D.BFLOAT16),
        D.UINT8: (D.UINT16, D.INT16, D.FLOAT16, D.BFLOAT16),
        D.INT16: (D.INT32, D.FLOAT),
        D.UINT16: (D.UINT32, D.INT32, D.FLOAT),
        D.INT32: (D.INT64, D.DOUBLE),
        D.UINT32: (D.UINT64, D.INT64, D.DOUBLE),
        D.FLOAT16: (D.FLOAT,),
        D.BFLOAT16: (D.FLOAT,),
        D.FLOAT: (D.DOUBLE,),
    }
    table: dict[ir.DType, frozenset[ir.DType]] = {}
    for t in wider:
        seen: dict[ir.DType, None] = {}
        todo = list(wider[t])
        while todo:
            u = todo.pop()
            if u not in seen:
                seen[u] = None
                todo.extend(wider.get(u, ()))
        table[t] = frozenset(seen)
    return table


_LOSSLESS = _lossless_table()


def rule_pad_nothing(model: ir.Model, node: ir.Node) -> bool:
    """Pad whose constant pads are all zero (any mode, any axes) returns its input."""
    pads = const_array(node.inputs[1] if len(node.inputs) > 1 else None)
    if pads is None or pads.size == 0 or bool((pads != 0).any()):
        return False
    return bypass(model, node, node.inputs[0])


def rule_slice_everything(model: ir.Model, node: ir.Node) -> bool:
    """Slice whose every (start, end, step) covers its whole axis returns its input.

    Exact ONNX semantics: negative starts/ends count from the end, then clamp to [0, dim]; a
    step must be 1. An axis of unknown size qualifies only with start 0 and end INT64_MAX.
    """
    x = node.inputs[0]
    args = [const_array(v) for v in node.inputs[1:5]] + [None] * (5 - len(node.inputs))
    starts, ends, axes, steps = args[:4]
    if x.shape is None or starts is None or ends is None or starts.ndim != 1 or starts.shape != ends.shape:
        return False
    rank = len(x.shape)
    axes = np.arange(len(starts)) if node.inputs[3:4] in ((), (None,)) else axes
    steps = np.ones(len(starts), np.int64) if node.inputs[4:5] in ((), (None,)) else steps
    if axes is None or steps is None or axes.shape != starts.shape or steps.shape != starts.shape:
        return False
    for a, b, e, s in zip(axes.tolist(), starts.tolist(), ends.tolist(), steps.tolist(), strict=True):
        if not -rank <= a < rank or s != 1 or not _covers(x.shape[a], b, e):
            return False
    return bypass(model, node, x)


def _covers(dim: object, start: int, end: int) -> bool:
    if not isinstance(dim, int):
        return start == 0 and end >= _INT64_MAX
    start = min(max(start + dim if start < 0 else start, 0), dim)
    end = min(max(end + dim if end < 0 else end, 0), dim)
    return dim == 0 or (start == 0 and end == dim)


_INT64_MAX = int(np.iinfo(np.int64).max)


def rule_expand_same_shape(model: ir.Model, node: ir.Node) -> bool:
    """Expand whose broadcast result has the input's own static shape returns its input."""
    x, target = node.inputs[0], const_array(node.inputs[1])
    src = static_shape(x)
    if src is None or target is None or target.ndim != 1:
        return False
    try:
        out = np.broadcast_shapes(src, tuple(int(d) for d in target))
    except ValueError:
        return False
    return tuple(out) == src and bypass(model, node, x)


RULES: dict[str, tuple[Rule, ...]] = {
    "Identity": (rule_identity,),
    "Dropout": (rule_dropout,),
    "Cast": (rule_cast_chain, rule_cast_same_type),
    "Pad": (rule_pad_nothing,),
    "Slice": (rule_slice_everything,),
    "Expand": (rule_expand_same_shape,),
    "Transpose": (rule_transpose_compose, rule_transpose_identity, rule_transpose_const),
    "Reshape": (rule_reshape_chain, rule_reshape_same_shape),
    **FUSE_RULES,
}
RULES = with_extra_rules(RULES)  # shape-arithmetic and neutral-element rules (simplify_extra.py)
# after the ones above for the same op type
for _more in (RESHAPE_RULES, CONV_RULES, TENSORDOT_RULES, POOL_RULES):
    RULES = {op: RULES.get(op, ()) + _more.get(op, ()) for op in {**RULES, **_more}}
