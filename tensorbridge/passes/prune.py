"""prune-dead-nodes: remove what no kept signature output (or graph output) reaches.

Removed: nodes (in every graph and, innermost first, in If/Loop/Scan bodies), initializers
nothing reads, Model.variables no graph references, Model.assets no kept initializer binds
(``Value.meta[ir.ASSET_META]``), and model-local functions no node calls.
With ``ctx.keep_signatures`` the other signatures are dropped first: their outputs stop being
graph outputs (so they no longer keep nodes alive), their unused inputs stop being graph
inputs, and a meta graph left without any signature is dropped. Inputs of kept signatures stay
even when unused: they are the contract.
"""

from __future__ import annotations

from collections import Counter

from .. import ir
from ..errors import UsageError
from ..ir.analysis import free_values
from ._edit import is_contract, remove_nodes
from .base import PassContext, PassResult, pass_


@pass_("prune-dead-nodes")
def prune_dead_nodes(model: ir.Model, ctx: PassContext) -> PassResult:
    """Remove nodes, initializers, variables, assets and functions no kept output reaches."""
    stats: Counter[str] = Counter()
    pending: dict[ir.Graph, set[ir.Value]] = {}
    if ctx.keep_signatures is not None:
        pending = _keep_signatures(model, list(ctx.keep_signatures), stats)
    for g in model.graphs():
        _prune_graph(model, g, ctx, stats)
        _drop_inputs(model, g, pending.get(g, set()), stats)
    for mg in model.meta_graphs:
        _prune_functions(mg, stats)
    _prune_variables(model, stats)
    _prune_assets(model, stats)
    stats = +stats  # drop zero counts
    return PassResult(model, changed=bool(stats), stats=dict(stats))


def _keep_signatures(model: ir.Model, keep: list[str], stats: Counter[str]):
    """Drop the other signatures; returns, per graph, the inputs only dropped ones named."""
    present = {k for mg in model.meta_graphs for k in mg.signatures}
    missing = [k for k in keep if k not in present]
    if missing:
        raise UsageError(
            f"--keep-signatures: no signature {', '.join(map(repr, missing))}",
            hint=f"signatures present: {', '.join(sorted(present)) or 'none'}",
        )
    kept_graphs = []
    pending: dict[ir.Graph, set[ir.Value]] = {}
    for mg in model.meta_graphs:
        dropped = [s for k, s in mg.signatures.items() if k not in keep]
        for s in dropped:
            del mg.signatures[s.key]
        stats["signatures"] += len(dropped)
        if not mg.signatures:
            stats["meta_graphs"] += 1
            continue
        kept_graphs.append(mg)
        if dropped:
            pending[mg.graph] = _drop_signature_io(mg, dropped, stats)
    model.meta_graphs[:] = kept_graphs
    return pending


def _drop_signature_io(mg: ir.MetaGraph, dropped: list[ir.Signature], stats) -> set[ir.Value]:
    kept_values = {v for s in mg.signatures.values() for v in _sig_values(s)}
    dropped_out = {v for s in dropped for v in s.outputs.values()} - kept_values
    outputs = [v for v in mg.graph.outputs if v not in dropped_out]
    if len(outputs) != len(mg.graph.outputs):
        stats["graph_outputs"] += len(mg.graph.outputs) - len(outputs)
        mg.graph.clear_outputs()
        for v in outputs:
            mg.graph.add_output(v)
    return {v for s in dropped for v in s.inputs.values()} - kept_values


def _drop_inputs(model: ir.Model, g: ir.Graph, candidates: set[ir.Value], stats) -> None:
    for v in list(g.inputs):
        if v in candidates and not v.has_uses() and not is_contract(model, v):
            g.remove_input(v)
            stats["graph_inputs"] += 1


def _prune_graph(model: ir.Model, g: ir.Graph, ctx: PassContext, stats: Counter[str]) -> None:
    for node in g:
        for sub in node.subgraphs():
            _prune_graph(model, sub, ctx, stats)
    live = _live_nodes(model, g, ctx)
    dead = [n for n in g if n not in live]
    if dead:
        stats["nodes"] += sum(1 + sum(len(list(s.all_nodes())) for s in n.subgraphs())
                              for n in dead)  # fmt: skip
        ctx.working_on(dead[0])
        remove_nodes(g, dead)
        ctx.working_on(None)
    for v in list(g.initializers.values()):
        if not v.has_uses() and not is_contract(model, v):
            g.remove_initializer(v)
            stats["initializers"] += 1


def _live_nodes(model: ir.Model, g: ir.Graph, ctx: PassContext) -> set[ir.Node]:
    roots = list(g.outputs)
    if g.owner is None:  # a top-level graph: its signatures' values are roots too
        roots += [v for mg in model.meta_graphs if mg.graph is g
                  for s in mg.signatures.values() for v in _sig_values(s)]  # fmt: skip
    live: set[ir.Node] = set()
    stack = [n for n in g if ctx.is_effectful(n)]
    stack += [v.producer() for v in roots if v.producer() is not None]
    while stack:
        n = stack.pop()
        if n in live or n.graph is not g:
            continue
        live.add(n)
        stack.extend(v.producer() for v in free_values(n) if v.producer() is not None)
    return live


def _prune_functions(mg: ir.MetaGraph, stats: Counter[str]) -> None:
    by_name = {(f.domain, f.name): k for k, f in mg.functions.items()}
    by_tf_name = {f.name: k for k, f in mg.functions.items()}
    used: set[tuple[str, str, str]] = set()
    stack = [mg.graph]
    while stack:
        for node in stack.pop().all_nodes():
            for key in _called(node, by_name, by_tf_name):
                if key not in used:
                    used.add(key)
                    stack.append(mg.functions[key].graph)
    for key in [k for k in mg.functions if k not in used]:
        del mg.functions[key]
        stats["functions"] += 1


def _called(node: ir.Node, by_name, by_tf_name) -> list[tuple[str, str, str]]:
    keys = []
    if (node.domain, node.op_type) in by_name:
        keys.append(by_name[(node.domain, node.op_type)])
    for a in node.attrs.values():  # TensorFlow function attributes name functions too
        if a.type is ir.AttrType.FUNC:
            refs = [a.value]
        else:
            refs = a.value if a.type is ir.AttrType.FUNCS else ()
        keys += [by_tf_name[r.name] for r in refs if r.name in by_tf_name]
    return keys


def _prune_variables(model: ir.Model, stats: Counter[str]) -> None:
    used = {id(v.variable) for v in _defined_values(model) if v.variable is not None}
    for name in [k for k, var in model.variables.items() if id(var) not in used]:
        del model.variables[name]
        stats["variables"] += 1


def _prune_assets(model: ir.Model, stats: Counter[str]) -> None:
    used = {v.meta.get(ir.ASSET_META) for v in _defined_values(model)}
    for name in [k for k in model.assets if k not in used]:
        del model.assets[name]
        stats["assets"] += 1


def _defined_values(model: ir.Model):
    for top in model.graphs():
        for g in top.subgraph_tree():
            yield from g.inputs
            yield from g.initializers.values()
            for n in g:
                yield from n.outputs


def _sig_values(s: ir.Signature) -> tuple[ir.Value, ...]:
    return (*s.inputs.values(), *s.outputs.values())
