"""Node: one operation. Owns its output Values; its inputs are edited only via set_input."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._dtype import DType
from ._value import Use, Value

if TYPE_CHECKING:
    from ._graph import Graph


class AttrType(enum.Enum):
    # ONNX attribute kinds
    FLOAT = "float"
    INT = "int"
    STRING = "string"
    TENSOR = "tensor"
    GRAPH = "graph"
    SPARSE_TENSOR = "sparse_tensor"
    TYPE_PROTO = "type_proto"
    FLOATS = "floats"
    INTS = "ints"
    STRINGS = "strings"
    TENSORS = "tensors"
    GRAPHS = "graphs"
    SPARSE_TENSORS = "sparse_tensors"
    TYPE_PROTOS = "type_protos"
    # TensorFlow-only kinds (kept on `tf`-domain nodes; never written to ONNX)
    BOOL = "bool"
    BOOLS = "bools"
    DTYPE = "dtype"
    DTYPES = "dtypes"
    SHAPE = "shape"
    SHAPES = "shapes"
    FUNC = "func"
    FUNCS = "funcs"
    PLACEHOLDER = "placeholder"


@dataclass(frozen=True)
class FuncRef:
    """A TensorFlow NameAttrList: a function name with attribute values."""

    name: str
    attrs: Mapping[str, Attr]


@dataclass(frozen=True)
class Attr:
    """A typed attribute value. ``ref`` names a function attribute parameter (ONNX ref_attr_name)."""

    type: AttrType
    value: Any
    ref: str | None = None
    doc: str = ""

    @staticmethod
    def infer(value: Any) -> Attr:
        """An Attr from a plain Python value; ambiguous values (empty lists) need an explicit type."""
        if isinstance(value, Attr):
            return value
        kind = _infer_type(value)
        if kind in (AttrType.INTS, AttrType.FLOATS, AttrType.STRINGS, AttrType.DTYPES):
            value = tuple(value)
        if kind is AttrType.GRAPHS or kind is AttrType.TENSORS:
            value = tuple(value)
        return Attr(kind, value)


def _infer_type(value: Any) -> AttrType:
    from ._graph import Graph  # local: Graph imports Node
    from ._tensor import Tensor

    scalar = {bool: AttrType.INT, int: AttrType.INT, float: AttrType.FLOAT,
              str: AttrType.STRING, bytes: AttrType.STRING}  # fmt: skip
    for py, kind in scalar.items():
        if type(value) is py:
            return kind
    if isinstance(value, DType):
        return AttrType.DTYPE
    if isinstance(value, Graph):
        return AttrType.GRAPH
    if isinstance(value, Tensor):
        return AttrType.TENSOR
    if isinstance(value, (list, tuple)) and value:
        first = _infer_type(value[0])
        plural = {AttrType.INT: AttrType.INTS, AttrType.FLOAT: AttrType.FLOATS,
                  AttrType.STRING: AttrType.STRINGS, AttrType.DTYPE: AttrType.DTYPES,
                  AttrType.GRAPH: AttrType.GRAPHS, AttrType.TENSOR: AttrType.TENSORS}  # fmt: skip
        if first is AttrType.INT and any(isinstance(v, float) for v in value):
            return AttrType.FLOATS
        if first in plural:
            return plural[first]
    raise TypeError(f"cannot infer an attribute type for {value!r}; pass Attr(type, value)")


class Node:
    """An operation with ONNX semantics (domain ``""``) or an opaque foreign op (e.g. ``tf``)."""

    __slots__ = (
        "op_type", "domain", "name", "attrs", "doc", "meta",
        "_inputs", "_outputs", "graph", "_prev", "_next",
    )  # fmt: skip

    def __init__(
        self,
        op_type: str,
        inputs: Iterable[Value | None] = (),
        attrs: Mapping[str, Any] | None = None,
        *,
        domain: str = "",
        name: str = "",
        num_outputs: int = 1,
        outputs: Sequence[Value] | None = None,
        doc: str = "",
    ) -> None:
        self.op_type = op_type
        self.domain = domain
        self.name = name
        self.doc = doc
        self.meta: dict[str, object] = {}
        self.attrs: dict[str, Attr] = {k: Attr.infer(v) for k, v in (attrs or {}).items()}
        self.graph: Graph | None = None
        for sub in self.subgraphs():
            sub.owner = self
        self._prev: Node | None = None
        self._next: Node | None = None
        self._inputs: list[Value | None] = []
        for v in inputs:
            self._append_input(v)
        self._outputs: list[Value] = []
        for v in outputs if outputs is not None else [Value() for _ in range(num_outputs)]:
            self._adopt_output(v)

    # ---- inputs ---------------------------------------------------------------------------
    @property
    def inputs(self) -> tuple[Value | None, ...]:
        return tuple(self._inputs)

    @inputs.setter
    def inputs(self, _: object) -> None:
        raise AttributeError("Node.inputs is read-only: use set_input() or resize_inputs()")

    def set_input(self, index: int, value: Value | None) -> None:
        """The one place that edits inputs; keeps both Values' use lists exact."""
        old = self._inputs[index]
        if old is value:
            return
        if old is not None:
            old._uses.pop(Use(self, index), None)
        self._inputs[index] = value
        if value is not None:
            value._uses[Use(self, index)] = None

    def resize_inputs(self, n: int) -> None:
        while len(self._inputs) > n:
            self.set_input(len(self._inputs) - 1, None)
            self._inputs.pop()
        while len(self._inputs) < n:
            self._inputs.append(None)

    def append_input(self, value: Value | None) -> None:
        self._append_input(value)

    def _append_input(self, value: Value | None) -> None:
        self._inputs.append(None)
        self.set_input(len(self._inputs) - 1, value)

    def detach_inputs(self) -> None:
        for i in range(len(self._inputs)):
            self.set_input(i, None)

    # ---- outputs --------------------------------------------------------------------------
    @property
    def outputs(self) -> tuple[Value, ...]:
        return tuple(self._outputs)

    @property
    def output(self) -> Value:
        """The single output of a one-output node."""
        if len(self._outputs) != 1:
            raise ValueError(f"{self.op_type} {self.name!r} has {len(self._outputs)} outputs")
        return self._outputs[0]

    def _adopt_output(self, v: Value) -> None:
        if v._producer is not None or v.is_graph_input or v.is_initializer:
            raise ValueError(f"value {v.name!r} is already defined elsewhere")
        v._producer = self
        v._index = len(self._outputs)
        self._outputs.append(v)

    def add_output(self, v: Value | None = None) -> Value:
        v = v or Value()
        self._adopt_output(v)
        if self.graph is not None:
            self.graph._name_value(v, self)
        return v

    def resize_outputs(self, n: int) -> None:
        while len(self._outputs) > n:
            last = self._outputs[-1]
            if last.has_uses() or last.is_graph_output:
                raise ValueError(f"cannot drop used output {last.name!r} of {self.name!r}")
            last._producer = last._index = None
            self._outputs.pop()
        while len(self._outputs) < n:
            self.add_output()

    # ---- attributes -----------------------------------------------------------------------
    def attr(self, name: str, default: Any = None) -> Any:
        a = self.attrs.get(name)
        return default if a is None else a.value

    def set_attr(self, name: str, value: Any) -> None:
        self.attrs[name] = Attr.infer(value)
        for sub in self.subgraphs():
            sub.owner = self

    def subgraphs(self) -> Iterator[Graph]:
        for a in self.attrs.values():
            if a.type is AttrType.GRAPH:
                yield a.value
            elif a.type is AttrType.GRAPHS:
                yield from a.value

    @property
    def qualified_op(self) -> str:
        return f"{self.domain}::{self.op_type}" if self.domain else self.op_type

    def __repr__(self) -> str:
        ins = ", ".join("" if v is None else v.name for v in self._inputs)
        outs = ", ".join(v.name for v in self._outputs)
        return f"Node({self.qualified_op} {self.name!r}: ({ins}) -> ({outs}))"
