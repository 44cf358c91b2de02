"""Graph analyses. The only module that imports networkx, and only lazily, for views that are
built on demand and thrown away (cycle reports, reachability, debug export)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import IRInvariantError

if TYPE_CHECKING:
    import networkx as nx

    from ._graph import Graph
    from ._node import Node
    from ._value import Value


def free_values(node: Node) -> Iterator[Value]:
    """Every value the node reads: its inputs, then outer-scope values its subgraphs capture."""
    for v in node.inputs:
        if v is not None:
            yield v
    for sub in node.subgraphs():
        yield from captured_values(sub)


def captured_values(graph: Graph) -> list[Value]:
    """Values used inside ``graph`` (or deeper) but defined outside it, in first-use order."""
    defined: set[Value] = set(graph.inputs) | set(graph.initializers.values())
    seen: dict[Value, None] = {}
    for node in graph:
        for v in free_values(node):
            if v not in defined:
                seen.setdefault(v, None)
        defined.update(node.outputs)
    for v in graph.outputs:
        if v not in defined:
            seen.setdefault(v, None)
    return list(seen)


def topological_order(graph: Graph) -> list[Node]:
    """A stable topological order: among ready nodes, the one earliest in the current order."""
    nodes = list(graph)
    position = {n: i for i, n in enumerate(nodes)}
    waiting = {n: 0 for n in nodes}
    users: dict[Node, list[Node]] = {n: [] for n in nodes}
    for n in nodes:
        for p in dict.fromkeys(v.producer() for v in free_values(n)):
            if p is not None and p in position and p is not n:
                waiting[n] += 1
                users[p].append(n)
            elif p is n:
                raise IRInvariantError(f"node {n.name!r} ({n.op_type}) consumes its own output")
    ready = [position[n] for n in nodes if waiting[n] == 0]
    heapq.heapify(ready)
    order: list[Node] = []
    while ready:
        n = nodes[heapq.heappop(ready)]
        order.append(n)
        for u in users[n]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, position[u])
    if len(order) != len(nodes):
        raise IRInvariantError(
            f"graph {graph.name!r} has a cycle: {describe_cycle(graph)}",
            hint="a node's input must not depend on its own output",
        )
    return order


def to_networkx(graph: Graph) -> nx.MultiDiGraph:
    """A throwaway MultiDiGraph view: nodes are Node objects, edges carry (out_idx, in_idx)."""
    import networkx as nx

    g = nx.MultiDiGraph()
    for n in graph:
        g.add_node(n)
    for n in graph:
        for i, v in enumerate(n.inputs):
            p = v.producer() if v is not None else None
            if p is not None and p.graph is graph:
                g.add_edge(p, n, out_idx=v.index(), in_idx=i)  # type: ignore[union-attr]
    return g


def describe_cycle(graph: Graph) -> str:
    import networkx as nx

    try:
        edges = nx.find_cycle(to_networkx(graph))
    except nx.NetworkXNoCycle:
        return "(no cycle found through direct inputs; check subgraph captures)"
    names = [f"{u.op_type} {u.name!r}" for u, *_ in edges]
    return " -> ".join(names + [names[0]])


def ancestors(graph: Graph, values: list[Value]) -> set[Node]:
    """Nodes of ``graph`` that the given values depend on (transitively)."""
    seen: set[Node] = set()
    stack = [v.producer() for v in values if v.producer() is not None]
    while stack:
        n = stack.pop()
        if n in seen or n is None:
            continue
        seen.add(n)
        stack.extend(v.producer() for v in free_values(n) if v.producer() is not None)
    return {n for n in seen if n.graph is graph}
