"""Builder: create nodes and constants in a graph at a chosen position.

    b = Builder(graph, before=node)
    y = b.op("Transpose", [x], perm=[0, 3, 1, 2])
    k = b.const(np.array([1, 2], np.int64), "shape")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._dtype import DType
from ._graph import Graph
from ._node import Node
from ._tensor import as_tensor
from ._types import TypeSpec
from ._value import Value


class Builder:
    def __init__(
        self,
        graph: Graph,
        *,
        before: Node | None = None,
        after: Node | None = None,
        prefix: str = "",
    ) -> None:
        if before is not None and after is not None:
            raise ValueError("give at most one of before= and after=")
        self.graph = graph
        self._before = before
        self._after = after
        self.prefix = prefix
        self.created: list[Node] = []

    def add(self, node: Node) -> Node:
        """Insert an already built node at the builder's position (keeps creation order)."""
        if self._before is not None:
            self.graph.insert_before(self._before, node)
        elif self._after is not None:
            self.graph.insert_after(self._after, node)
            self._after = node
        else:
            self.graph.append(node)
        self.created.append(node)
        return node

    def node(
        self,
        op_type: str,
        inputs: Sequence[Value | None],
        *,
        domain: str = "",
        num_outputs: int = 1,
        name: str = "",
        types: Sequence[TypeSpec | None] | None = None,
        attrs: dict[str, Any] | None = None,
        **more_attrs: Any,
    ) -> Node:
        """Build and insert a node. Attributes come as keywords, or in ``attrs`` for names
        that clash with this method's own parameters (ONNX Split's ``num_outputs``)."""
        outputs = [Value(type=t) for t in types] if types is not None else None
        node = Node(
            op_type,
            inputs,
            {**(attrs or {}), **more_attrs},
            domain=domain,
            name=self.prefix + (name or op_type),
            num_outputs=num_outputs,
            outputs=outputs,
        )
        return self.add(node)

    def op(self, op_type: str, inputs: Sequence[Value | None], **kw: Any) -> Value:
        """A single-output op; returns its output Value."""
        return self.node(op_type, inputs, **kw).outputs[0]

    def ops(self, op_type: str, inputs: Sequence[Value | None], **kw: Any) -> tuple[Value, ...]:
        return self.node(op_type, inputs, **kw).outputs

    def const(self, array: Any, name: str = "const", dtype: DType | None = None) -> Value:
        """A constant, registered as an initializer of the builder's graph."""
        if not hasattr(array, "numpy") or isinstance(array, np.ndarray):
            array = np.asarray(array)
        tensor = as_tensor(array, dtype, name)
        v = Value(self.prefix + name, const=tensor)
        return self.graph.add_initializer(v)
