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
from ._edit import all_graphs, drop_if_dead, is_contract, remove_nodes, replace_value
from .base import PassContext, PassResult, pass_

Rule = Callable[[ir.Model, ir.Node], bool]


@pass_("simplify")
def simplify(model: ir.Model, ctx: PassContext) -> PassResult:
    """Remove no-op Identity/Dropout/Cast/Transpose/Reshape, compose Transpose/Reshape chains."""
    stats: Counter[str] = Counter()
    for g in list(all_graphs(model)):
        for node in g:
            if node.graph is None or node.domain not in ("", "ai.onnx"):
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


# ---- shared steps -------------------------------------------------------------------------
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


def _static(v: ir.Value) -> tuple[int, ...] | None:
    return tuple(v.shape) if ir.is_static(v.shape) else None  # type: ignore[arg-type]


def _producer(v: ir.Value | None, op_type: str) -> ir.Node | None:
    p = v.producer() if v is not None else None
    if p is None or p.op_type != op_type or p.domain not in ("", "ai.onnx"):
        return None
    return p


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
    first = _producer(node.inputs[0], "Transpose")
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


def _perm(node: ir.Node) -> list[int] | None:
    perm = node.attr("perm")
    if perm is not None:
        return [int(p) for p in perm]
    shape = node.inputs[0].shape
    return None if shape is None else list(reversed(range(len(shape))))


def rule_reshape_same_shape(model: ir.Model, node: ir.Node) -> bool:
    x, target = node.inputs[0], const_array(node.inputs[1])
    src = _static(x)
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
    """Reshape(Reshape(x, s1), s2) -> Reshape(x, s2) when s2 does not copy dims (no 0)."""
    first = _producer(node.inputs[0], "Reshape")
    target = const_array(node.inputs[1])
    if first is None or target is None:
        return False
    if not node.attr("allowzero", 0) and bool((target == 0).any()):
        return False
    node.set_input(0, first.inputs[0])
    drop_if_dead(model, first)
    return True


RULES: dict[str, tuple[Rule, ...]] = {
    "Identity": (rule_identity,),
    "Dropout": (rule_dropout,),
    "Cast": (rule_cast_same_type,),
    "Transpose": (rule_transpose_compose, rule_transpose_identity),
    "Reshape": (rule_reshape_chain, rule_reshape_same_shape),
}
