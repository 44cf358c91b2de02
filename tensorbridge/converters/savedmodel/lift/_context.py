"""What a lift handler sees: the IR node (ONNX semantics) and a ``LiftContext`` that builds
``tf``-domain nodes (TF op semantics, TF attribute kinds) in its place.

    @TF_LIFT.register("Relu")
    def lift_relu(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
        x = ctx.input(node, 0)
        return [ctx.tf("Relu", [x], T=ctx.dtype(x))]

A handler returns exactly one Value per ONNX output, in order (None for an output nobody may
read, e.g. an unused optional output), and never edits the graph except through ``ctx``. The
driver (lift/driver.py) points every reader of the old outputs at the returned Values and
removes the ONNX node. Every attribute TF's OpDef has no default for must be given (``T`` and
friends): TensorFlow fills in only defaulted attributes on load.

Attribute values given to :meth:`LiftContext.tf` are coerced to TF kinds: ``bool`` -> b,
``int`` -> i, ``float`` -> f, ``str``/``bytes`` -> s, ``ir.DType`` -> type, lists of those ->
list(...), :class:`TfShape` -> shape, ``ir.Tensor``/numpy array -> tensor, ``ir.FuncRef`` ->
func; an ``ir.Attr`` passes through (needed for an empty list: ``ir.Attr(K.INTS, ())``). A
GRAPH attribute on a ``tf`` node is a function body the writer makes a FunctionDef of
(control flow: lift/_subgraph.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tensorbridge import ir
from tensorbridge.errors import UnsupportedOpError

from ...registry import Registry

# IR (ONNX-semantics) op -> TF ops. Version axis: the IR's canonical ONNX opset (one table today).
TF_LIFT = Registry("ir->savedmodel", version_axis="IR opset")
TF_DOMAIN = "tf"
# types a model's values in place (the shape-inference pass, given by the caller of lift_model)
Infer = Callable[[ir.Model], None]
K = ir.AttrType


@dataclass(frozen=True)
class TfShape:
    """A TF ``shape`` attribute value (dims: int, or None/str for unknown; None = unknown rank)."""

    dims: ir.Shape | None


def tf_attr(value: Any) -> ir.Attr:
    """A Python value as a TF-kind ir.Attr (see the module doc for the mapping)."""
    if isinstance(value, ir.Attr):
        return value
    if isinstance(value, TfShape):
        return ir.Attr(K.SHAPE, ir.normalize_shape(value.dims))
    if isinstance(value, bool):
        return ir.Attr(K.BOOL, value)
    if isinstance(value, np.ndarray):
        return ir.Attr(K.TENSOR, ir.as_tensor(value))
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, bool) for v in value):
        return ir.Attr(K.BOOLS, tuple(value))
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, TfShape) for v in value):
        return ir.Attr(K.SHAPES, tuple(ir.normalize_shape(v.dims) for v in value))
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, np.integer)) for v in value):
        return ir.Attr(K.INTS, tuple(int(v) for v in value))
    if isinstance(value, ir.FuncRef):
        return ir.Attr(K.FUNC, value)
    if isinstance(value, str):
        return ir.Attr(K.STRING, value.encode("utf-8"))
    if isinstance(value, np.integer):
        return ir.Attr(K.INT, int(value))
    if isinstance(value, np.floating):
        return ir.Attr(K.FLOAT, float(value))
    return ir.Attr.infer(value)


class LiftContext:
    """Builds TF nodes before the ONNX node being lifted, named under its name."""

    def __init__(self, model: ir.Model, node: ir.Node, opset: int, infer: Infer | None = None) -> None:
        assert node.graph is not None
        self.model = model
        self.infer = infer  # types the model's values in place (see lift_model), or None
        self.node = node
        self.opset = opset
        self.b = ir.Builder(node.graph, before=node, prefix=f"{node.name or node.op_type}/")
        self.consts: list[ir.Value] = []  # initializers made by const(), removed on refusal
        self.renamed: set[ir.Value] = set()  # outputs that took an ONNX output's name (driver)

    # ---- reading the ONNX node -----------------------------------------------------------
    @staticmethod
    def input(node: ir.Node, i: int) -> ir.Value | None:
        """Input ``i``, or None when absent (an omitted optional input)."""
        return node.inputs[i] if i < len(node.inputs) else None

    @staticmethod
    def attr(node: ir.Node, name: str, default: Any = None) -> Any:
        return node.attr(name, default)

    def dtype(self, value: ir.Value) -> ir.DType:
        """The element type of ``value``; a value nothing typed makes the node unliftable
        (run shape inference first: the API does)."""
        if value.dtype is None or not isinstance(value.type, ir.TensorType):
            raise self.unsupported(f"{value.name!r} is not a tensor of known element type")
        return value.dtype

    @staticmethod
    def shape(value: ir.Value) -> ir.Shape | None:
        return value.shape

    @staticmethod
    def rank(value: ir.Value) -> int | None:
        return None if value.shape is None else len(value.shape)

    @staticmethod
    def constant_value(value: ir.Value | None) -> np.ndarray | None:
        """The value's data when it is a constant that is not a variable, else None."""
        if value is None or value.const is None or value.variable is not None:
            return None
        return value.const.numpy()

    # ---- building TF nodes -----------------------------------------------------------------
    def tf(self, op: str, inputs: Sequence[ir.Value | None], *, name: str = "",
           types: Sequence[ir.TypeSpec | None] | None = None, **attrs: Any) -> ir.Value:
        """A single-output TF op; returns its output."""
        return self.tf_node(op, inputs, name=name, types=types, **attrs).outputs[0]

    def tf_multi(self, op: str, inputs: Sequence[ir.Value | None], num_outputs: int, *,
                 name: str = "", **attrs: Any) -> tuple[ir.Value, ...]:
        return self.tf_node(op, inputs, num_outputs=num_outputs, name=name, **attrs).outputs

    def tf_node(self, op: str, inputs: Sequence[ir.Value | None], *, num_outputs: int = 1,
                name: str = "", types: Sequence[ir.TypeSpec | None] | None = None,
                **attrs: Any) -> ir.Node:
        if any(v is None for v in inputs):
            raise ValueError(f"TF op {op} takes no omitted inputs")
        converted = {k: tf_attr(v) for k, v in attrs.items()}
        return self.b.node(op, list(inputs), domain=TF_DOMAIN, num_outputs=num_outputs,
                           name=name or op, types=types, attrs=converted)

    def const(self, array: Any, name: str = "const", dtype: ir.DType | None = None) -> ir.Value:
        """A constant (written as a TF Const node)."""
        v = self.b.const(array, name, dtype)
        self.consts.append(v)
        return v

    def i32(self, values: Any, name: str = "const") -> ir.Value:
        return self.const(np.asarray(values, dtype=np.int32), name)

    def i64(self, values: Any, name: str = "const") -> ir.Value:
        return self.const(np.asarray(values, dtype=np.int64), name)

    def cast(self, value: ir.Value, to: ir.DType) -> ir.Value:
        """``value`` as ``to`` (no node when it already is)."""
        src = self.dtype(value)
        if src is to:
            return value
        return self.tf("Cast", [value], SrcT=src, DstT=to, Truncate=False,
                       types=[ir.TensorType(to, value.shape)])

    def unsupported(self, reason: str) -> UnsupportedOpError:
        """An error for a node this handler cannot lift (an attribute value TF lacks, a dynamic
        axis, ...); raise it. The driver collects these and reports them together."""
        n = self.node
        return UnsupportedOpError("ir->savedmodel", {(n.domain, n.op_type): [n.name]}, hint=reason)
