"""layout: push Transposes down through layout-agnostic ops until they meet and cancel.

TF's NHWC convolutions become ``Transpose(NHWC->NCHW) -> Conv -> Transpose(NCHW->NHWC)``
(converters/savedmodel/ops/conv.py). This pass moves every Transpose towards the outputs, one
node at a time, through the ops of the push-through table (passes/layout_rules.py); when it
reaches another Transpose the two compose (simplify's rules, reused) and an identity perm goes
away. What is left of a Keras CNN is one Transpose per image input, and one per NHWC output.

Policy (after tf2onnx's transpose optimizer):
- a Transpose moves only if *every* reader of its output can take it (Transposes compose,
  everything else through its rule), or will once the others have (``x * Sigmoid(x)``), so
  one never becomes two that stay;
- a Transpose feeding a graph output or signature value stays; when a pushed node's output
  is one, the new Transpose after it takes over the output's name (its layout is kept);
- numerics never change (the same ops on the same data in another layout; only the
  accumulation order inside reductions may differ, as in any layout change).

A Dense layer on a channels-last view (MatMul by a constant [C, C'] after a Transpose to
channels-last, ConvNeXt's pointwise layers) becomes a 1x1 Conv in the channels-first layout
(passes/simplify_tensordot.py), so the Transpose moves past it too.

Every push moves a Transpose strictly past a node towards the outputs, so the sweep ends.

``ctx.inputs_as_nchw``: graph inputs named here become NCHW (their shape is rewritten, and a
Transpose NCHW->NHWC feeds what read them, which then cancels with the entry Transpose).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .. import ir
from ..errors import IRInvariantError, UsageError
from ._edit import all_graphs, drop_if_dead, is_contract, replace_value
from .base import PassContext, PassResult, pass_
from .layout_rules import BROADCAST, REDUCE, RULES, UNARY, Push
from .simplify import _perm, rule_transpose_compose, rule_transpose_identity
from .simplify_tensordot import rule_matmul_as_conv

_TO_NHWC = [0, 2, 3, 1]
_ELEMENTWISE = frozenset(UNARY) | frozenset(BROADCAST)
_REDUCE = frozenset(REDUCE) - {"ArgMax", "ArgMin"}
_FOLLOW_HOPS = 8  # x * Clip(x + 3) / 6 needs 3, LayerNorm's x * rsqrt(var + eps) * gamma 7
_NCHW_MARK = "layout.nchw_input"


@pass_("layout")
def layout(model: ir.Model, ctx: PassContext) -> PassResult:
    """Push Transposes through element-wise, concat, reduce, pad, slice... ops and cancel them."""
    stats: Counter[str] = Counter()
    nchw = tuple(ctx.inputs_as_nchw)
    if nchw:
        _inputs_as_nchw(model.graph, nchw, stats)
    for g in list(all_graphs(model)):
        _sweep(model, g, ctx, stats)
    ctx.working_on(None)
    return PassResult(model, changed=sum(stats.values()) > 0, stats=dict(stats))


def _sweep(model: ir.Model, g: ir.Graph, ctx: PassContext, stats: Counter[str]) -> None:
    limit = ctx.fold_output_size_limit
    for _ in range(4 * len(g) + 4):  # a bound only: each round moves Transposes down, or stops
        progress = False
        for node in list(g):
            if node.graph is not g or node.op_type != "Transpose" or node.domain not in ("", "ai.onnx"):
                continue
            ctx.working_on(node)
            if (_compose_readers(model, node, stats) or _matmul_reader(model, node, stats)
                    or _push(model, node, limit, stats)):
                progress = True
        if not progress:
            return


def _compose_readers(model: ir.Model, t: ir.Node, stats: Counter[str]) -> bool:
    """Transpose readers of ``t`` compose with it (and vanish when the perm is the identity)."""
    fired = False
    for reader in t.outputs[0].consumers():
        if reader.op_type == "Transpose" and reader.graph is t.graph:
            if rule_transpose_compose(model, reader):
                stats["composed"] += 1
                fired = True
                if rule_transpose_identity(model, reader):
                    stats["cancelled"] += 1
    return fired


def _matmul_reader(model: ir.Model, t: ir.Node, stats: Counter[str]) -> bool:
    """A Transpose to channels-last whose one reader is a MatMul by a constant [C, C'] (a
    Dense layer): the MatMul becomes a 1x1 Conv before the Transpose, which moves past it."""
    readers = t.outputs[0].consumers()
    if len(readers) != 1 or readers[0].op_type != "MatMul" or is_contract(model, t.outputs[0]):
        return False
    if rule_matmul_as_conv(model, readers[0]):
        stats["matmul_as_conv"] += 1
        return True
    return False


def _push(model: ir.Model, t: ir.Node, limit: int, stats: Counter[str]) -> bool:
    out, perm = t.outputs[0], _perm(t)
    if t.graph is None or perm is None or is_contract(model, out) or not out.has_uses():
        return False
    plans, blocked = [], []
    for reader in out.consumers():
        plan = _plan(reader, out, perm, limit)
        if plan is None:
            blocked.append(reader)
        else:
            plans.append((reader, plan))
    if not plans or not all(_will_follow(r, out, plans, perm) for r in blocked):
        return False
    for reader, plan in plans:
        _apply(model, reader, plan, stats)
    drop_if_dead(model, t)
    return True


def _plan(node: ir.Node, v: ir.Value, perm: list[int], limit: int) -> Push | None:
    rule = RULES.get(node.op_type)
    if rule is None or node.domain not in ("", "ai.onnx") or node.graph is not v.graph():
        return None
    plan = rule(node, perm, limit)
    if plan is None or any(u.index not in plan.inputs for u in v.uses() if u.node is node):
        return None
    return plan


def _will_follow(reader: ir.Node, v: ir.Value, plans: list, perm: list[int]) -> bool:
    """A blocked element-wise reader whose other inputs all come from pushed readers through
    element-wise ops (x * Sigmoid(x); hard-swish x * Clip(x + 3) / 6): once those are pushed,
    the Transpose reaches every input of the reader and it takes the Transpose too, so push
    them now."""
    if reader.op_type not in BROADCAST or reader.domain not in ("", "ai.onnx"):
        return False
    pushed = {id(o) for node, plan in plans for o, q in zip(node.outputs, plan.out_perms) if q == perm}
    follows = _followers(pushed, [o for node, _ in plans for o in node.outputs], v)
    return all(x is v or x is None or x.const is not None or id(x) in follows for x in reader.inputs)


def _followers(pushed: set[int], frontier: list[ir.Value], v: ir.Value) -> set[int]:
    """``pushed`` plus the outputs of element-wise nodes and dim-keeping reductions (a few hops
    on) whose every input is in it, ``v`` or a constant: the values the Transpose will reach."""
    ids = set(pushed)
    for _ in range(_FOLLOW_HOPS):
        grown = []
        for value in frontier:
            if id(value) not in ids:
                continue
            for n in value.consumers():
                if not _keeps_layout(n):
                    continue
                if id(n.outputs[0]) not in ids and all(
                        x is None or x is v or x.const is not None or id(x) in ids for x in n.inputs):
                    ids.add(id(n.outputs[0]))
                    grown.append(n.outputs[0])
        if not grown:
            break
        frontier = grown
    return ids


def _keeps_layout(n: ir.Node) -> bool:
    """Element-wise ops, and reductions that keep their dims (LayerNorm's variance): the
    Transpose passes them unchanged."""
    if n.domain not in ("", "ai.onnx") or len(n.outputs) != 1:
        return False
    return n.op_type in _ELEMENTWISE or (n.op_type in _REDUCE and bool(n.attr("keepdims", 1)))


def _apply(model: ir.Model, node: ir.Node, plan: Push, stats: Counter[str]) -> None:
    g = node.graph
    for i, v in plan.inputs.items():
        old = node.inputs[i]
        node.set_input(i, v)
        if old is not None and old.producer() is not None and old.producer().op_type == "Transpose":
            drop_if_dead(model, old.producer())
    for i, arr in plan.consts.items():
        old = node.inputs[i] if len(node.inputs) > i else None
        base = old.name if old is not None else f"{node.name}_in{i}"
        c = ir.Value(g.unique_value_name(f"{base}_layout"), const=ir.as_tensor(arr))
        g.add_initializer(c)
        if len(node.inputs) <= i:
            node.resize_inputs(i + 1)
        node.set_input(i, c)
    for k, value in plan.attrs.items():
        node.set_attr(k, value)
    anchor = node
    for o, q in zip(node.outputs, plan.out_perms):
        if q is not None:
            anchor = _transpose_after(model, anchor, o, q)
    stats["pushed"] += 1


def _transpose_after(model: ir.Model, anchor: ir.Node, o: ir.Value, q: list[int]) -> ir.Node:
    """Readers of ``o`` now read Transpose(o, q); ``o``'s own type moves to the layout before.

    A graph output / signature ``o`` hands its name and slot to the Transpose's output
    (passes/_edit.py replace_value), so the contract keeps its name, layout and type."""
    uses = o.uses()
    t = ir.Node("Transpose", [None], {"perm": q}, name=f"{o.producer().name}_layout")
    t.outputs[0].type = o.type
    anchor.graph.insert_after(anchor, t)
    if is_contract(model, o):
        if not replace_value(model, o, t.outputs[0]):  # cannot happen: t is local
            raise IRInvariantError(f"layout: cannot move the name of {o.name!r}")
    else:
        for u in uses:
            u.node.set_input(u.index, t.outputs[0])
    if o.shape is not None and len(o.shape) == len(q):
        before = [None] * len(q)
        for k, d in enumerate(o.shape):
            before[q[k]] = d
        o.type = ir.TensorType(o.dtype, tuple(before))
    t.set_input(0, o)
    return t


def _inputs_as_nchw(g: ir.Graph, names: Sequence[str], stats: Counter[str]) -> None:
    by_name = {v.name: v for v in g.inputs}
    for name in names:
        v = by_name.get(name)
        if v is None:
            raise UsageError(f"--inputs-as-nchw: no graph input {name!r}",
                             hint=f"graph inputs: {', '.join(by_name)}")  # fmt: skip
        if v.meta.get(_NCHW_MARK):
            continue
        if v.shape is None or len(v.shape) != 4 or v.is_graph_output:
            raise UsageError(f"--inputs-as-nchw: input {name!r} is not a 4-D NHWC tensor "
                             f"(or it is also a graph output)")  # fmt: skip
        uses = v.uses()
        t = ir.Node("Transpose", [v], {"perm": _TO_NHWC}, name=f"{name}_to_nhwc")
        t.outputs[0].type = v.type
        n, h, w, c = v.shape
        v.type = ir.TensorType(v.dtype, (n, c, h, w))
        v.meta[_NCHW_MARK] = True
        first = next(iter(g), None)
        if first is None:
            g.append(t)
        else:
            g.insert_before(first, t)
        for u in uses:
            u.node.set_input(u.index, t.outputs[0])
        stats["nchw_inputs"] += 1


__all__ = ["layout"]
