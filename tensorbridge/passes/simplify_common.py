"""Steps shared by the simplify rule modules (simplify.py, simplify_fuse.py)."""

from __future__ import annotations

import numpy as np

from .. import ir
from ._edit import is_contract, remove_nodes, replace_value

ONNX_DOMAINS = ("", "ai.onnx")


def bypass(model: ir.Model, node: ir.Node, src: ir.Value) -> bool:
    """Replace ``node`` (whose first output equals ``src``) by ``src``; see the module doc."""
    out = node.outputs[0]
    if any(v.has_uses() or is_contract(model, v) for v in node.outputs[1:]):
        return False
    if replace_value(model, out, src):
        remove_nodes(node.graph, [node])
        return True
    if node.op_type == "Identity":
        return False
    ident = ir.Node("Identity", [src], name=f"{node.name}_identity")
    ident.outputs[0].type = out.type
    node.graph.insert_before(node, ident)
    if not replace_value(model, out, ident.outputs[0]):  # cannot happen: ident is local
        remove_nodes(node.graph, [ident])
        return False
    remove_nodes(node.graph, [node])
    return True


def fuse_into(model: ir.Model, node: ir.Node, src: ir.Value) -> bool:
    """:func:`bypass` for a node absorbed into ``src``'s producer (BatchNormalization or a
    per-channel Mul/Add folded into a Conv): ``src`` then takes the absorbed output's name, so
    the fused value keeps the name of the last computation it stands for (check --bisect pairs
    values by name)."""
    out, g = node.outputs[0], node.graph
    if not bypass(model, node, src):
        return False
    if g is not None:
        take_name(model, g, out, src, ".fused")
    return True


def take_name(model: ir.Model, g: ir.Graph, old: ir.Value, new: ir.Value, suffix: str) -> None:
    """``new`` takes the name of the replaced ``old`` (check --bisect pairs values by name),
    which becomes ``name + suffix`` (made unique); nothing when a contract already swapped
    their names or binds ``new``'s."""
    name = old.name
    if new.name == name or is_contract(model, new):
        return
    if g.rename_value(old, g.unique_value_name(f"{name}{suffix}")):
        g.rename_value(new, name)


def const_array(v: ir.Value | None, max_bytes: int = 1 << 16) -> np.ndarray | None:
    """The value's data when it is a small constant; bigger ones are never read."""
    if v is None or v.const is None or v.const.dtype is ir.DType.STRING:
        return None
    if ir.nbytes(v.const) > max_bytes:  # computed from the shape or file region: no read
        return None
    return v.const.numpy()


def static_shape(v: ir.Value) -> tuple[int, ...] | None:
    return tuple(v.shape) if ir.is_static(v.shape) else None  # type: ignore[arg-type]


def producer_of(v: ir.Value | None, op_type: str) -> ir.Node | None:
    p = v.producer() if v is not None else None
    if p is None or p.op_type != op_type or p.domain not in ONNX_DOMAINS:
        return None
    return p


def only_user(model: ir.Model, v: ir.Value, node: ir.Node) -> bool:
    """True when ``node`` is the one consumer of ``v`` (one use) and ``v`` is no contract value."""
    return [u.node for u in v.uses()] == [node] and not is_contract(model, v)


def new_initializer(g: ir.Graph, base: str, arr: np.ndarray, dtype: ir.DType) -> ir.Value:
    name = g.unique_value_name(base)
    return g.add_initializer(ir.Value(name, const=ir.ArrayTensor(arr, dtype, name)))


def drop_initializer_if_unused(model: ir.Model, v: ir.Value | None) -> None:
    if v is None or not v.is_initializer or v.has_uses() or is_contract(model, v):
        return
    g = v.graph()
    if g is not None:
        g.remove_initializer(v)


def in_function(model: ir.Model, g: ir.Graph | None) -> bool:
    """Function bodies hold no initializers: rules that add constants leave them alone."""
    while g is not None and g.owner is not None:
        g = g.owner.graph
    return g is None or any(f.graph is g for mg in model.meta_graphs for f in mg.functions.values())


_SAME_RANK = frozenset({
    "Abs", "Cast", "Clip", "Erf", "Exp", "Gelu", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu",
    "Log", "Neg", "Reciprocal", "Relu", "Sigmoid", "Sqrt", "Tanh", "Softmax", "BatchNormalization",
})  # fmt: skip
_BROADCAST_RANK = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Where"})


def rank_of(v: ir.Value | None, depth: int = 16, memo: dict[int, int | None] | None = None) -> int | None:
    """The rank when it is known: the value's shape or constant, a Transpose's perm, a Reshape's
    constant target, a Conv's weight, through unary ops, reductions and broadcasting ops
    (their largest input rank, all known). Memoized per call: broadcasting ops branch."""
    if v is None or depth <= 0:
        return None
    if v.const is not None:
        return len(v.const.shape)
    if v.shape is not None:
        return len(v.shape)
    memo = {} if memo is None else memo
    if id(v) not in memo:
        memo[id(v)] = None  # a cycle guard; the real answer replaces it
        memo[id(v)] = _producer_rank(v, depth, memo)
    return memo[id(v)]


def _producer_rank(v: ir.Value, depth: int, memo: dict[int, int | None]) -> int | None:
    p = v.producer()
    if p is None or p.domain not in ONNX_DOMAINS or v.index() != 0:
        return None
    if p.op_type == "Transpose" and p.attr("perm") is not None:
        return len(p.attr("perm"))
    target = const_array(p.inputs[1]) if p.op_type == "Reshape" else None
    if target is not None:
        return target.size if target.ndim == 1 else None
    if p.op_type in ("Conv", "ConvTranspose") and p.inputs[1] is not None and p.inputs[1].const is not None:
        return len(p.inputs[1].const.shape)
    if p.op_type in _SAME_RANK or (p.op_type.startswith("Reduce") and p.attr("keepdims", 1)):
        return rank_of(p.inputs[0], depth - 1, memo)
    if p.op_type in _BROADCAST_RANK or p.op_type == "MatMul":  # MatMul: both inputs 2-D or more
        if p.op_type == "MatMul" and any((rank_of(x, depth - 1, memo) or 0) < 2 for x in p.inputs):
            return None
        ranks = [rank_of(x, depth - 1, memo) for x in p.inputs]
        return None if not ranks or None in ranks else max(ranks)  # type: ignore[type-var]
    return None


def const_axes(red: ir.Node) -> list[int] | None:
    """A reduction's axes: its ``axes`` attribute (old opsets) or constant ``axes`` input, as
    given (not normalized); None when they are not constant."""
    if red.attr("axes") is not None:
        return [int(a) for a in red.attr("axes")]
    arr = const_array(red.inputs[1]) if len(red.inputs) > 1 and red.inputs[1] is not None else None
    return None if arr is None else [int(a) for a in arr.reshape(-1)]
