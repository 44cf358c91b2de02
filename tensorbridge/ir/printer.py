"""A deterministic text dump of a graph, for logs, debugging and golden tests."""

from __future__ import annotations

from ._graph import Graph
from ._node import AttrType


def format_graph(graph: Graph, indent: str = "") -> str:
    lines = [f"{indent}graph {graph.name!r} ("]
    for v in graph.inputs:
        lines.append(f"{indent}  in  %{v.name}: {v.type}")
    for v in graph.initializers.values():
        src = "variable " + v.variable.name if v.variable is not None else "const"
        lines.append(f"{indent}  init %{v.name}: {v.type} = {src}")
    lines.append(f"{indent}) {{")
    for n in graph:
        outs = ", ".join(f"%{v.name}" for v in n.outputs)
        ins = ", ".join("" if v is None else f"%{v.name}" for v in n.inputs)
        attrs = ", ".join(
            f"{k}=<graph>" if a.type in (AttrType.GRAPH, AttrType.GRAPHS) else f"{k}={a.value!r}"
            for k, a in sorted(n.attrs.items())
        )
        lines.append(f"{indent}  {outs} = {n.qualified_op}({ins}){{{attrs}}}")
        for sub in n.subgraphs():
            lines.append(format_graph(sub, indent + "    "))
    lines.append(f"{indent}  return " + ", ".join(f"%{v.name}" for v in graph.outputs))
    lines.append(f"{indent}}}")
    return "\n".join(lines)
