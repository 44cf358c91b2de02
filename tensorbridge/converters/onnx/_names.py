"""SSA names for export: ONNX wants every value name unique across nested scopes.

Names are kept when free and get a ``_<k>`` suffix only on a collision. The main graph is
named first (its inputs and outputs are the model's contract), then each subgraph, depth first.
"""

from __future__ import annotations

from tensorbridge import ir

from .importer import OMITTED


def is_omitted(v: ir.Value) -> bool:
    """An optional output nobody reads that was absent ("") in the ONNX source."""
    return bool(v.meta.get(OMITTED)) and not v.has_uses() and not v.is_graph_output


def assign_names(graph: ir.Graph, preferred: dict[ir.Value, str] | None = None
                 ) -> dict[ir.Value, str]:
    """Value -> unique name. ``preferred`` (e.g. signature keys for the graph's inputs and
    outputs) is claimed first."""
    names: dict[ir.Value, str] = {}
    taken: set[str] = set()
    for v, name in (preferred or {}).items():
        if v not in names:
            names[v] = _claim(name, taken)
    _name_tree(graph, names, taken)
    return names


def _name_tree(graph: ir.Graph, names: dict[ir.Value, str], taken: set[str]) -> None:
    for v in _defined(graph):
        if v not in names and not is_omitted(v):
            names[v] = _claim(v.name or "value", taken)
    for node in graph:
        for sub in node.subgraphs():
            _name_tree(sub, names, taken)


def _defined(graph: ir.Graph):
    yield from graph.inputs
    yield from graph.initializers.values()
    for node in graph:
        yield from node.outputs


def _claim(base: str, taken: set[str]) -> str:
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name
