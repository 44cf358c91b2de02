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
