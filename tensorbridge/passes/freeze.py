"""freeze-variables: variable Values become constants holding the variable's tensor.

The tensor object is shared, never copied or read, so lazy weights stay lazy. Model.variables
entries that no graph references any more are dropped.

With ``ctx.freeze_signatures`` only what those signatures reach is frozen. In their meta
graph, a variable read only by nodes those signatures reach is frozen in place; a variable
also read by nodes that other signatures (or graph outputs) need gets a constant twin for the
frozen-only readers, and stays a variable for the others. A node both kinds of signatures
share keeps reading the variable (freezing it would freeze it for everyone; the stat
``shared_reads`` counts them). Meta graphs without those signatures are left alone, so their
variables stay in Model.variables.
"""

from __future__ import annotations

from collections import Counter

from .. import ir
from ..errors import UsageError
from ..ir.analysis import ancestors
from ._edit import all_graphs
from .base import PassContext, PassResult, pass_
from .prune import _prune_variables


@pass_("freeze-variables")
def freeze_variables(model: ir.Model, ctx: PassContext) -> PassResult:
    """Turn variables into constants (lazy tensors stay lazy); optionally per signature."""
    stats: Counter[str] = Counter()
    if ctx.freeze_signatures is None:
        for g in all_graphs(model):
            for v in _variable_values(g):
                _freeze_in_place(v)
                stats["frozen"] += 1
    else:
        keys = list(ctx.freeze_signatures)
        _check_keys(model, keys)
        for mg in model.meta_graphs:
            if any(k in mg.signatures for k in keys):
                _freeze_for(model, mg, keys, stats)
    if stats["frozen"] or stats["split"]:
        _prune_variables(model, stats)
    stats = +stats
    changed = any(k != "shared_reads" for k in stats)
    return PassResult(model, changed=changed, stats=dict(stats))


def _check_keys(model: ir.Model, keys: list[str]) -> None:
    present = {k for mg in model.meta_graphs for k in mg.signatures}
    missing = [k for k in keys if k not in present]
    if missing:
        raise UsageError(
            f"freeze: no signature {', '.join(map(repr, missing))}",
            hint=f"signatures present: {', '.join(sorted(present)) or 'none'}",
        )


def _variable_values(g: ir.Graph) -> list[ir.Value]:
    found = [v for v in (*g.inputs, *g.initializers.values()) if v.variable is not None]
    found += [v for n in g for v in n.outputs if v.variable is not None]
    return found


def _freeze_in_place(v: ir.Value) -> None:
    var = v.variable
    v.const = var.tensor  # the same (possibly lazy) tensor object: no copy, no read
    v.variable = None
    if v.type is None:
        v.type = ir.TensorType(var.tensor.dtype, var.tensor.shape)


def _freeze_for(model: ir.Model, mg: ir.MetaGraph, keys: list[str], stats: Counter[str]) -> None:
    g = mg.graph
    ours = [v for k, s in mg.signatures.items() if k in keys for v in s.outputs.values()]
    others = [v for k, s in mg.signatures.items() if k not in keys for v in s.outputs.values()]
    others += [v for v in g.outputs if not any(v is o for o in ours)]
    frozen_cone = ancestors(g, ours)
    other_cone = ancestors(g, others)
    for v in _variable_values(g):
        readers = [(u, _top_node(u.node, g)) for u in v.uses()]
        mine = [u for u, top in readers if top in frozen_cone and top not in other_cone]
        shared = sum(1 for _, top in readers if top in frozen_cone and top in other_cone)
        if shared:
            stats["shared_reads"] += shared
        if not mine:
            continue
        needed_elsewhere = len(mine) < len(readers) or v.is_graph_output or any(
            v is o for o in others
        ) or any(v is s for mg2 in model.meta_graphs for sig in mg2.signatures.values()
                 if sig.key not in keys for s in sig.inputs.values())  # fmt: skip
        if not needed_elsewhere:
            _freeze_in_place(v)
            stats["frozen"] += 1
            continue
        twin = ir.Value(f"{v.name}_frozen", v.type, const=v.variable.tensor)
        g.add_initializer(twin)
        for u in mine:
            u.node.set_input(u.index, twin)
        stats["split"] += 1


def _top_node(node: ir.Node, g: ir.Graph) -> ir.Node | None:
    """The node of ``g`` that is ``node`` or holds it in one of its (nested) subgraphs."""
    while node.graph is not None and node.graph is not g:
        owner = node.graph.owner
        if owner is None:
            return None
        node = owner
    return node if node.graph is g else None
