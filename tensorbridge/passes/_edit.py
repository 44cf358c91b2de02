"""Editing helpers shared by the passes: name-preserving value replacement, deep removal.

Graph outputs and signature values are the model's contract. When a pass replaces such a value
by another one, :func:`replace_value` keeps the contract's *name*: the replacement takes the
old value's name (the two names are swapped) and every graph output slot and signature entry
is moved to it. When that is impossible (the replacement is a graph input, an initializer, a
value of an enclosing scope, or itself part of the contract) it refuses, and the caller keeps
the original node (or an Identity, see passes/simplify.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .. import ir


def signature_values(model: ir.Model) -> Iterator[ir.Value]:
    for mg in model.meta_graphs:
        for sig in mg.signatures.values():
            yield from sig.inputs.values()
            yield from sig.outputs.values()


def is_contract(model: ir.Model, v: ir.Value) -> bool:
    """True when ``v`` is a graph output or a signature input/output."""
    return v.is_graph_output or any(s is v for s in signature_values(model))


def retarget_signatures(model: ir.Model, old: ir.Value, new: ir.Value) -> None:
    for mg in model.meta_graphs:
        for sig in mg.signatures.values():
            for table in (sig.inputs, sig.outputs):
                for k, v in table.items():
                    if v is old:
                        table[k] = new


def can_take_name(model: ir.Model, new: ir.Value, graph: ir.Graph) -> bool:
    """Can ``new`` be renamed to stand in for a contract value of ``graph``?"""
    producer = new.producer()
    return producer is not None and producer.graph is graph and not is_contract(model, new)


def replace_value(model: ir.Model, old: ir.Value, new: ir.Value) -> bool:
    """Point every use of ``old`` at ``new``; False (and nothing done) if the contract forbids.

    A contract ``old`` (graph output or signature value) is replaced only if ``new`` can take
    its name (see :func:`can_take_name`); then the names are swapped, so graph outputs keep
    their names.
    """
    if not is_contract(model, old):
        old.replace_all_uses_with(new)
        return True
    graph = old.graph()
    if graph is None or not can_take_name(model, new, graph):
        return False
    old.name, new.name = new.name, old.name
    if old.type is not None:  # the contract's declared type (the same data, maybe less known)
        new.type = old.type
    old.replace_all_uses_with(new, include_graph_outputs=True)
    retarget_signatures(model, old, new)
    return True


def is_dead(model: ir.Model, node: ir.Node) -> bool:
    return not any(v.has_uses() or is_contract(model, v) for v in node.outputs)


def drop_if_dead(model: ir.Model, node: ir.Node) -> bool:
    """Remove ``node`` when nothing reads its outputs; returns whether it was removed."""
    if node.graph is None or not is_dead(model, node):
        return False
    remove_nodes(node.graph, [node])
    return True


def detach_deep(node: ir.Node) -> None:
    """Detach the inputs of every node inside ``node``'s subgraphs (their outer captures)."""
    for sub in node.subgraphs():
        for inner in sub.all_nodes():
            inner.detach_inputs()


def remove_nodes(graph: ir.Graph, nodes: Iterable[ir.Node]) -> None:
    """graph.remove(safe=True), also releasing the captures of the nodes' subgraphs."""
    batch = list(nodes)
    graph.remove(batch, safe=True)
    for n in batch:
        detach_deep(n)


def all_graphs(model: ir.Model) -> Iterator[ir.Graph]:
    """Every graph of the model: meta graphs, functions, and everything nested in them."""
    for g in model.graphs():
        yield from g.subgraph_tree()
