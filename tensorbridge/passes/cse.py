"""cse: common-subexpression elimination, per graph (each subgraph on its own).

Constants first: initializers with the same dtype, shape and bytes become one. Only tensors up
to ``ctx.cse_const_size_limit`` bytes are read and hashed; larger ones are equal only to
themselves, except external tensors, which are equal when they name the same file region
(compared without reading it). Then nodes: same domain, op type, attributes (tensor attributes
by value, under the same limit), inputs and output count -> the later node's outputs are
replaced by the earlier one's and it is removed. Nodes with subgraphs, random ops and foreign
domains (whose ops may be stateful) are never merged. Contract values keep their names
(passes/_edit.py); when both duplicates are contract values, both stay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable

from .. import ir
from ._edit import all_graphs, is_contract, remove_nodes, replace_value
from .base import PassContext, PassResult, pass_

_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
_NONDETERMINISTIC = frozenset({
    "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial",
    "Bernoulli", "Dropout",
})  # fmt: skip


@pass_("cse")
def cse(model: ir.Model, ctx: PassContext) -> PassResult:
    """Merge identical constants and identical nodes (same op, attributes and inputs)."""
    stats: Counter[str] = Counter()
    for g in list(all_graphs(model)):
        stats["constants"] += _dedupe_constants(model, g, ctx)
        stats["nodes"] += _dedupe_nodes(model, g, ctx)
    stats = +stats  # drop zero counts
    return PassResult(model, changed=sum(stats.values()) > 0, stats=dict(stats))


def tensor_key(t: ir.Tensor, limit: int) -> Hashable:
    """A hashable identity for a tensor's content, computed without reading big tensors."""
    if isinstance(t, ir.ExternalTensor):
        return ("file", str(t.path), t.offset, t.length, t.dtype, t.shape, t.decoder)
    if ir.is_lazy(t) or ir.nbytes(t) > limit:
        return ("object", id(t))
    arr = t.numpy()
    data = tuple(arr.reshape(-1).tolist()) if t.dtype is ir.DType.STRING else arr.tobytes()
    return ("bytes", t.dtype, t.shape, data)


def _dedupe_constants(model: ir.Model, g: ir.Graph, ctx: PassContext) -> int:
    seen: dict[Hashable, ir.Value] = {}
    merged = 0
    for v in list(g.initializers.values()):
        if v.const is None or v.variable is not None:
            continue
        key = (v.type, tensor_key(v.const, ctx.cse_const_size_limit))
        keep = seen.setdefault(key, v)
        if keep is v:
            continue
        if is_contract(model, v):
            if is_contract(model, keep) or not _merge_into(model, keep, v):
                continue
            seen[key] = v
            g.remove_initializer(keep)
        else:
            v.replace_all_uses_with(keep)
            g.remove_initializer(v)
        merged += 1
    return merged


def _merge_into(model: ir.Model, old: ir.Value, new: ir.Value) -> bool:
    """Point the uses of ``old`` at the contract value ``new`` (both initializers)."""
    if is_contract(model, old):
        return False
    old.replace_all_uses_with(new)
    return True


def _dedupe_nodes(model: ir.Model, g: ir.Graph, ctx: PassContext) -> int:
    seen: dict[Hashable, ir.Node] = {}
    merged = 0
    for node in g:
        key = _node_key(node, ctx.cse_const_size_limit)
        if key is None:
            continue
        first = seen.setdefault(key, node)
        if first is node:
            continue
        ctx.working_on(node)
        if _replace_outputs(model, node, first):
            remove_nodes(g, [node])
            merged += 1
    ctx.working_on(None)
    return merged


def _replace_outputs(model: ir.Model, node: ir.Node, first: ir.Node) -> bool:
    pairs = list(zip(node.outputs, first.outputs))
    contract = [(a, b) for a, b in pairs if is_contract(model, a)]
    if any(is_contract(model, b) for _, b in contract):
        return False
    if len(contract) > 1:  # several name swaps: keep it simple and safe
        return False
    for a, b in pairs:
        if not replace_value(model, a, b):
            return False  # only the single contract pair can refuse, and it is tried last
    return True


def _node_key(node: ir.Node, limit: int) -> Hashable | None:
    if node.domain not in _DOMAINS or node.op_type in _NONDETERMINISTIC or not node.outputs:
        return None
    attrs = []
    for name in sorted(node.attrs):
        a = node.attrs[name]
        if a.type in (ir.AttrType.GRAPH, ir.AttrType.GRAPHS) or a.ref is not None:
            return None
        attrs.append((name, a.type, _attr_value_key(a, limit)))
    inputs = tuple(None if v is None else id(v) for v in node.inputs)
    return (node.domain or "ai.onnx", node.op_type, tuple(attrs), inputs, len(node.outputs))


def _attr_value_key(a: ir.Attr, limit: int) -> Hashable:
    if a.type is ir.AttrType.TENSOR:
        return tensor_key(a.value, limit)
    if a.type is ir.AttrType.TENSORS:
        return tuple(tensor_key(t, limit) for t in a.value)
    if a.type is ir.AttrType.FLOAT:
        return repr(float(a.value))  # NaN == NaN, -0.0 != 0.0
    if a.type is ir.AttrType.FLOATS:
        return tuple(repr(float(x)) for x in a.value)
    try:
        hash(a.value)
    except TypeError:
        return ("unhashable", id(a.value))
    return a.value
