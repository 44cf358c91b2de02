"""Graph: an ordered node set with inputs, outputs and initializers.

Nodes sit in an intrusive doubly linked list, so insertion and removal are O(1) and iterating
while editing is safe (the iterator fetches the next node before yielding the current one).
Names are unique within a graph: empty or clashing names get a deterministic suffix.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from ..errors import IRInvariantError
from ._node import Node
from ._value import Value


class Graph:
    def __init__(
        self,
        name: str = "",
        inputs: Sequence[Value] = (),
        outputs: Sequence[Value] = (),
        nodes: Iterable[Node] = (),
        initializers: Iterable[Value] = (),
        *,
        doc: str = "",
    ) -> None:
        self.name = name
        self.doc = doc
        self.meta: dict[str, object] = {}
        self.owner: Node | None = None  # the node whose attribute holds this graph, if any
        self._head: Node | None = None
        self._tail: Node | None = None
        self._count = 0
        self._node_names: set[str] = set()
        self._value_names: set[str] = set()
        self._auto_named: dict[str, Value] = {}  # values whose name we made up, by name
        self._inputs: list[Value] = []
        self._outputs: list[Value] = []
        self._initializers: dict[str, Value] = {}
        for v in initializers:
            self.add_initializer(v)
        for v in inputs:
            self.add_input(v)
        self.extend(nodes)
        for v in outputs:
            self.add_output(v)

    # ---- iteration ------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Node]:
        node = self._head
        while node is not None:
            nxt = node._next
            yield node
            node = nxt

    def __reversed__(self) -> Iterator[Node]:
        node = self._tail
        while node is not None:
            prev = node._prev
            yield node
            node = prev

    def __len__(self) -> int:
        return self._count

    def all_nodes(self) -> Iterator[Node]:
        """Every node of this graph and, depth first, of its subgraphs."""
        for node in self:
            yield node
            for sub in node.subgraphs():
                yield from sub.all_nodes()

    def subgraph_tree(self) -> Iterator[Graph]:
        """This graph and every graph nested in it."""
        yield self
        for node in self:
            for sub in node.subgraphs():
                yield from sub.subgraph_tree()

    # ---- inputs / outputs / initializers -----------------------------------------------------
    @property
    def inputs(self) -> tuple[Value, ...]:
        return tuple(self._inputs)

    @property
    def outputs(self) -> tuple[Value, ...]:
        return tuple(self._outputs)

    @property
    def initializers(self) -> dict[str, Value]:
        """A copy of the name -> Value map; edit with add_initializer / remove_initializer."""
        return dict(self._initializers)

    def add_input(self, v: Value) -> Value:
        if v.producer() is not None or v.is_graph_input or v.is_initializer:
            raise IRInvariantError(f"value {v.name!r} is already defined; cannot be an input")
        v._input_of = self
        self._name_value(v, None)
        self._inputs.append(v)
        return v

    def remove_input(self, v: Value) -> None:
        if v.has_uses() or v.is_graph_output:
            raise IRInvariantError(f"graph input {v.name!r} is still used")
        self._inputs.remove(v)
        v._input_of = None

    def add_output(self, v: Value) -> None:
        self._outputs.append(v)
        v._output_of[self] = v._output_of.get(self, 0) + 1

    def set_output(self, i: int, v: Value) -> None:
        old = self._outputs[i]
        self._outputs[i] = v
        _drop_output_ref(old, self)
        v._output_of[self] = v._output_of.get(self, 0) + 1

    def replace_output(self, old: Value, new: Value) -> None:
        for i, v in enumerate(self._outputs):
            if v is old:
                self.set_output(i, new)

    def clear_outputs(self) -> None:
        for v in self._outputs:
            _drop_output_ref(v, self)
        self._outputs = []

    def add_initializer(self, v: Value) -> Value:
        if v.const is None and v.variable is None:
            raise IRInvariantError(f"initializer {v.name!r} has neither a tensor nor a variable")
        if v.producer() is not None or v.is_graph_input or v.is_initializer:
            raise IRInvariantError(f"value {v.name!r} is already defined; cannot be an initializer")
        v._initializer_of = self
        self._name_value(v, None)
        self._initializers[v.name] = v
        return v

    def remove_initializer(self, v: Value) -> None:
        if v.has_uses() or v.is_graph_output:
            raise IRInvariantError(f"initializer {v.name!r} is still used")
        del self._initializers[v.name]
        v._initializer_of = None

    # ---- node edits -----------------------------------------------------------------------
    def append(self, node: Node) -> Node:
        self._link(node, self._tail, None)
        return node

    def extend(self, nodes: Iterable[Node]) -> None:
        for n in nodes:
            self.append(n)

    def insert_before(self, anchor: Node, nodes: Node | Sequence[Node]) -> None:
        self._check_member(anchor)
        for n in [nodes] if isinstance(nodes, Node) else nodes:
            self._link(n, anchor._prev, anchor)

    def insert_after(self, anchor: Node, nodes: Node | Sequence[Node]) -> None:
        self._check_member(anchor)
        for n in reversed([nodes] if isinstance(nodes, Node) else list(nodes)):
            self._link(n, anchor, anchor._next)

    def remove(self, nodes: Node | Iterable[Node], *, safe: bool = True) -> None:
        """Unlink nodes and detach their inputs.

        With ``safe`` it refuses when an output is still used by a node outside the removed
        set or is a graph output: removal never leaves a dangling use.
        """
        batch = [nodes] if isinstance(nodes, Node) else list(nodes)
        members = set(batch)
        for n in batch:
            self._check_member(n)
            if safe:
                _check_removable(n, members)
        for n in batch:
            n.detach_inputs()
            for sub in n.subgraphs():  # captures inside bodies are uses of outer values too
                for inner in sub.all_nodes():
                    inner.detach_inputs()
            self._unlink(n)

    def _link(self, node: Node, prev: Node | None, nxt: Node | None) -> None:
        if node.graph is not None:
            raise IRInvariantError(f"node {node.name!r} already belongs to a graph")
        node.graph = self
        node._prev, node._next = prev, nxt
        if prev is None:
            self._head = node
        else:
            prev._next = node
        if nxt is None:
            self._tail = node
        else:
            nxt._prev = node
        self._count += 1
        node.name = self._unique(node.name or node.op_type, self._node_names)
        for v in node.outputs:
            self._name_value(v, node)
        for sub in node.subgraphs():
            sub.owner = node

    def _unlink(self, node: Node) -> None:
        if node._prev is None:
            self._head = node._next
        else:
            node._prev._next = node._next
        if node._next is None:
            self._tail = node._prev
        else:
            node._next._prev = node._prev
        node._prev = node._next = None
        node.graph = None
        self._count -= 1

    def _check_member(self, node: Node) -> None:
        if node.graph is not self:
            raise IRInvariantError(f"node {node.name!r} is not in graph {self.name!r}")

    # ---- names ----------------------------------------------------------------------------
    def _name_value(self, v: Value, node: Node | None) -> None:
        """Give ``v`` a unique name. An explicit name wins over one we made up earlier: the
        made-up one is renamed, so a real name (a graph output's, say) is never changed."""
        if v.name and v.name not in self._value_names:
            self._value_names.add(v.name)
            return
        if v.name and v.name in self._auto_named:
            other = self._auto_named.pop(v.name)
            other.name = self._unique(v.name, self._value_names)
            self._auto_named[other.name] = other
            return
        if v.name:
            v.name = self._unique(v.name, self._value_names)
            return
        base = f"{node.name}_out{v.index()}" if node is not None else "value"
        v.name = self._unique(base, self._value_names)
        self._auto_named[v.name] = v

    @staticmethod
    def _unique(base: str, used: set[str]) -> str:
        name, k = base, 0
        while name in used:
            k += 1
            name = f"{base}_{k}"
        used.add(name)
        return name

    def rename_value(self, v: Value, name: str) -> bool:
        """Give ``v`` (a value of this graph, not an initializer) the free name ``name``;
        False, and nothing changed, when the name is taken."""
        if v.name == name:
            return True
        if not name or name in self._value_names or v.is_initializer:
            return False
        self._value_names.discard(v.name)
        self._auto_named.pop(v.name, None)
        self._value_names.add(name)
        v.name = name
        return True

    def unique_value_name(self, base: str) -> str:
        """A value name not used in this graph yet (not reserved: naming a value reserves it)."""
        name, k = base, 0
        while name in self._value_names:
            k += 1
            name = f"{base}_{k}"
        return name

    # ---- ordering -------------------------------------------------------------------------
    def sort(self) -> None:
        """Stable topological sort (Kahn, ties broken by the current order). O(N + E)."""
        from .analysis import topological_order  # local: analysis imports Graph

        order = topological_order(self)
        for n in order:
            self._unlink(n)
            n.graph = None
        for n in order:
            n.graph = self
            self._count += 1
            n._prev, n._next = self._tail, None
            if self._tail is None:
                self._head = n
            else:
                self._tail._next = n
            self._tail = n

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self)} nodes)"


def _drop_output_ref(v: Value, g: Graph) -> None:
    left = v._output_of.get(g, 0) - 1
    if left > 0:
        v._output_of[g] = left
    else:
        v._output_of.pop(g, None)


def _check_removable(node: Node, members: set[Node]) -> None:
    for v in node.outputs:
        if v.is_graph_output:
            raise IRInvariantError(
                f"cannot remove {node.op_type} {node.name!r}: its output {v.name!r} is a graph "
                "output (retarget it first with replace_all_uses_with(..., "
                "include_graph_outputs=True))"
            )
        for use in v.uses():
            if use.node not in members:
                raise IRInvariantError(
                    f"cannot remove {node.op_type} {node.name!r}: its output {v.name!r} is "
                    f"still used by {use.node.op_type} {use.node.name!r} (input {use.index})"
                )
