"""verify(): the IR's invariants, checked in one walk (FX lint / MLIR verify-each style).

Checked: use-def symmetry, ownership, every used value defined before use in its scope (or an
enclosing one), no cycles, unique node and value names per graph, initializers carrying data,
graph outputs defined, known opset domains and the canonical default-domain opset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import IRInvariantError
from ._graph import Graph
from ._model import CANONICAL_OPSET, Model
from ._node import Node
from ._value import Use, Value


def verify(target: Model | Graph, *, opset_imports: Mapping[str, int] | None = None) -> None:
    """Raise IRInvariantError naming the first broken invariant; return None when all hold."""
    if isinstance(target, Graph):
        _verify_graph(target, set(), opset_imports)
        return
    for mg in target.meta_graphs:
        _check_opsets(mg.opset_imports, f"meta graph {sorted(mg.tags)}")
        _verify_graph(mg.graph, set(), mg.opset_imports)
        for sig in mg.signatures.values():
            _check_signature(mg.graph, sig.key, [*sig.inputs.values(), *sig.outputs.values()])
        for fn in mg.functions.values():
            _verify_graph(fn.graph, set(), fn.opset_imports or mg.opset_imports)


def _check_opsets(opsets: Mapping[str, int], where: str) -> None:
    v = opsets.get("", opsets.get("ai.onnx"))
    if v is not None and v != CANONICAL_OPSET:
        raise IRInvariantError(
            f"{where}: default-domain opset {v}, the IR's canonical opset is {CANONICAL_OPSET}",
            hint="importers must normalize the opset on the way in",
        )


def _check_signature(graph: Graph, key: str, values: Iterable[Value]) -> None:
    for v in values:
        if v.graph() is not graph and not v.is_graph_output:
            raise IRInvariantError(f"signature {key!r}: value {v.name!r} is not in the graph")


def _verify_graph(graph: Graph, outer: set[Value], opsets: Mapping[str, int] | None) -> None:
    scope = set(outer)
    _check_names(graph)
    for v in graph.inputs:
        scope.add(v)
    for v in graph.initializers.values():
        if v.const is None and v.variable is None:
            raise IRInvariantError(f"initializer {v.name!r} has no data")
        scope.add(v)
    for node in graph:
        _check_node(node, graph, scope, opsets)
        for sub in node.subgraphs():
            _verify_graph(sub, scope, opsets)
        scope.update(node.outputs)
    for i, v in enumerate(graph.outputs):
        if v not in scope:
            raise IRInvariantError(f"graph {graph.name!r} output {i} {v.name!r} is never defined")
        if graph not in v._output_of:
            raise IRInvariantError(f"graph output {v.name!r} does not know it is an output")


def _check_node(node: Node, graph: Graph, scope: set[Value], opsets: Mapping[str, int] | None):
    where = f"{node.op_type} {node.name!r}"
    if node.graph is not graph:
        raise IRInvariantError(f"{where} is listed in graph {graph.name!r} but not owned by it")
    if opsets is not None and node.domain not in opsets and not (
        node.domain == "ai.onnx" and "" in opsets
    ):
        raise IRInvariantError(
            f"{where} uses domain {node.domain!r}, which the model does not import",
            hint=f"imported domains: {sorted(opsets)}",
        )
    for i, v in enumerate(node.inputs):
        if v is None:
            continue
        if Use(node, i) not in v._uses:
            raise IRInvariantError(f"{where} input {i} {v.name!r}: missing from the value's uses")
        if v not in scope:
            _raise_undefined(node, i, v, graph)
    for i, v in enumerate(node.outputs):
        if v.producer() is not node or v.index() != i:
            raise IRInvariantError(f"{where} output {i} {v.name!r} has a wrong producer link")
        for use in v._uses:
            if not _attached(use.node) or use.node.inputs[use.index] is not v:
                raise IRInvariantError(
                    f"{where} output {v.name!r}: stale use by {use.node.op_type} "
                    f"{use.node.name!r} (removed node or edited input)"
                )


def _attached(node: Node) -> bool:
    """True when the node sits in a graph that is itself attached: a top-level graph, or a
    subgraph whose owner node is attached (a removed node's bodies are not)."""
    graph = node.graph
    while graph is not None:
        if graph.owner is None:
            return True
        graph = graph.owner.graph
    return False


def _raise_undefined(node: Node, i: int, v: Value, graph: Graph) -> None:
    where = f"{node.op_type} {node.name!r}"
    producer = v.producer()
    if producer is not None and producer.graph is graph:
        from .analysis import describe_cycle, topological_order

        try:
            topological_order(graph)
        except IRInvariantError:
            raise IRInvariantError(
                f"{where} input {i} {v.name!r}: graph {graph.name!r} has a cycle: "
                f"{describe_cycle(graph)}"
            ) from None
        raise IRInvariantError(
            f"{where} input {i} {v.name!r} is used before it is defined",
            hint="the nodes are not in topological order; call graph.sort()",
        )
    raise IRInvariantError(
        f"{where} input {i} {v.name!r} is never defined in graph {graph.name!r} or an "
        "enclosing scope (dangling use)"
    )


def _check_names(graph: Graph) -> None:
    nodes: set[str] = set()
    values: set[str] = set()
    defined = [*graph.inputs, *graph.initializers.values()]
    for node in graph:
        if node.name in nodes:
            raise IRInvariantError(f"duplicate node name {node.name!r} in graph {graph.name!r}")
        nodes.add(node.name)
        defined.extend(node.outputs)
    for v in defined:
        if not v.name:
            raise IRInvariantError(f"unnamed value in graph {graph.name!r}")
        if v.name in values:
            raise IRInvariantError(f"duplicate value name {v.name!r} in graph {graph.name!r}")
        values.add(v.name)
