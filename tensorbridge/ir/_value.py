"""Value: an edge of the graph. Produced by at most one node, used by any number of nodes.

Use-def links are kept by the IR itself: :meth:`Node.set_input` is the only code that edits
``Value._uses``, and graphs register themselves when a value becomes one of their inputs,
outputs or initializers. Passes never keep consumer maps of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ._dtype import DType
from ._tensor import Tensor
from ._types import Shape, TensorType, TypeSpec

if TYPE_CHECKING:
    from ._graph import Graph
    from ._model import Variable
    from ._node import Node


class Use(NamedTuple):
    node: Node
    index: int


class Value:
    __slots__ = (
        "name", "type", "const", "variable", "doc", "meta",
        "_producer", "_index", "_uses", "_input_of", "_output_of", "_initializer_of",
    )  # fmt: skip

    def __init__(
        self,
        name: str = "",
        type: TypeSpec | None = None,  # noqa: A002 - the ONNX term
        *,
        const: Tensor | None = None,
        variable: Variable | None = None,
        doc: str = "",
    ) -> None:
        self.name = name
        self.type = type
        self.const = const
        self.variable = variable
        self.doc = doc
        self.meta: dict[str, object] = {}
        self._producer: Node | None = None
        self._index: int | None = None
        self._uses: dict[Use, None] = {}  # ordered set
        self._input_of: Graph | None = None
        self._output_of: dict[Graph, int] = {}  # graph -> how many of its output slots
        self._initializer_of: Graph | None = None
        if type is None and const is not None:
            self.type = TensorType(const.dtype, const.shape)

    # ---- type shortcuts -----------------------------------------------------------------
    @property
    def dtype(self) -> DType | None:
        return getattr(self.type, "dtype", None)

    @dtype.setter
    def dtype(self, dtype: DType | None) -> None:
        shape = self.shape
        self.type = None if dtype is None else TensorType(dtype, shape)

    @property
    def shape(self) -> Shape | None:
        return getattr(self.type, "shape", None)

    @shape.setter
    def shape(self, shape: Shape | None) -> None:
        if self.dtype is None:
            raise ValueError(f"value {self.name!r}: set a dtype before its shape")
        self.type = TensorType(self.dtype, None if shape is None else tuple(shape))

    # ---- use-def ------------------------------------------------------------------------
    def producer(self) -> Node | None:
        return self._producer

    def index(self) -> int | None:
        """Output index in the producing node."""
        return self._index

    def uses(self) -> tuple[Use, ...]:
        """A snapshot of (node, input index) pairs, safe to iterate while editing."""
        return tuple(self._uses)

    def consumers(self) -> tuple[Node, ...]:
        return tuple(dict.fromkeys(u.node for u in self._uses))

    def has_uses(self) -> bool:
        return bool(self._uses)

    @property
    def is_graph_input(self) -> bool:
        return self._input_of is not None

    @property
    def is_graph_output(self) -> bool:
        return bool(self._output_of)

    @property
    def is_initializer(self) -> bool:
        return self._initializer_of is not None

    @property
    def is_variable(self) -> bool:
        return self.variable is not None

    @property
    def is_constant(self) -> bool:
        return self.const is not None

    def graph(self) -> Graph | None:
        """The graph that defines this value (as input, initializer or node output)."""
        if self._producer is not None:
            return self._producer.graph
        return self._input_of or self._initializer_of

    def output_of(self) -> tuple[Graph, ...]:
        return tuple(self._output_of)

    def replace_all_uses_with(self, new: Value, *, include_graph_outputs: bool = False) -> None:
        """Point every use of this value at ``new``.

        Graph outputs keep pointing here unless ``include_graph_outputs``: retargeting a
        graph output changes the model's contract, so it must be asked for.
        """
        if new is self:
            return
        for use in self.uses():
            use.node.set_input(use.index, new)
        if include_graph_outputs:
            for g in list(self._output_of):
                g.replace_output(self, new)

    def __repr__(self) -> str:
        kind = "const " if self.const is not None else "var " if self.variable else ""
        return f"Value({kind}{self.name!r}, {self.type})"
