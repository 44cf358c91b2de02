"""Our own exact down-conversion rewrites, run on the canonical ModelProto before onnx's
version converter (which lacks adapters for many newer features).

Each rewrite is one small function registered in ``RULES`` under (op, since): ``since`` is
the opset that introduced the feature it removes, so the rule runs for every target below it.
A rule returns the replacement nodes (valid, as written, at the target opset), ``None`` when
the node does not use the feature, or raises a ConversionError naming op, node and feature
when no exact form exists. Replacement nodes are parked in the private ``LOWERED`` domain so
the version converter leaves them alone; :func:`unmark` moves them back afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tensorbridge.errors import ConversionError

LOWERED = "tensorbridge.lowered"
INT64_MAX = np.iinfo(np.int64).max

Rule = Callable[[onnx.NodeProto, "Ctx"], "list[onnx.NodeProto] | None"]
RULES: dict[tuple[str, int], Rule] = {}


def rule(ops: str | tuple[str, ...], since: int) -> Callable[[Rule], Rule]:
    """Register ``fn`` for each op in ``ops``; it runs when the target opset is below ``since``."""

    def register(fn: Rule) -> Rule:
        for op in (ops,) if isinstance(ops, str) else ops:
            RULES[(op, since)] = fn
        return fn

    return register


@dataclass
class Ctx:
    target: int
    graph: onnx.GraphProto
    types: dict[str, onnx.TypeProto]
    consts: dict[str, np.ndarray]
    used: set[str]
    made: list[onnx.NodeProto] = field(default_factory=list)

    # ---- queries -------------------------------------------------------------------------
    def elem(self, name: str) -> int | None:
        tp = self.types.get(name)
        if tp is None or tp.WhichOneof("value") != "tensor_type":
            return None
        return tp.tensor_type.elem_type or None

    def shape(self, name: str) -> list[int | None] | None:
        tp = self.types.get(name)
        if tp is None or tp.WhichOneof("value") != "tensor_type" or not tp.tensor_type.HasField("shape"):
            return None
        return [d.dim_value if d.HasField("dim_value") else None for d in tp.tensor_type.shape.dim]

    def const(self, name: str) -> np.ndarray | None:
        return self.consts.get(name) if name else None

    # ---- construction --------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        name, i = base, 0
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name

    def typed(self, base: str, elem: int | None, shape=None) -> str:
        """A new value name, with a value_info entry when its element type is known."""
        name = self.fresh(base)
        if elem:
            tp = helper.make_tensor_type_proto(elem, shape)
            self.types[name] = tp
            self.graph.value_info.append(helper.make_value_info(name, tp))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], name: str, **attrs) -> onnx.NodeProto:
        n = helper.make_node(op, inputs, outputs, name=self.fresh(name), **attrs)
        self.made.append(n)
        return n

    def constant(self, array: np.ndarray, base: str) -> tuple[onnx.NodeProto, str]:
        array = np.asarray(array)
        out = self.typed(base, helper.np_dtype_to_tensor_dtype(array.dtype), array.shape)
        self.consts[out] = array
        return self.node("Constant", [], [out], base, value=numpy_helper.from_array(array, out)), out


def _refuse(node: onnx.NodeProto, feature: str, target: int) -> ConversionError:
    return ConversionError(
        f"cannot lower {node.op_type} node {node.name!r} to opset {target}: {feature} has no exact form there"
    )


def _attrs(node: onnx.NodeProto, drop: set[str]) -> list[onnx.AttributeProto]:
    return [a for a in node.attribute if a.name not in drop]


def _clone(node: onnx.NodeProto, ctx: Ctx, inputs=None, attributes=None) -> onnx.NodeProto:
    n = onnx.NodeProto()
    n.CopyFrom(node)
    if inputs is not None:
        del n.input[:]
        n.input.extend(inputs)
    if attributes is not None:
        del n.attribute[:]
        n.attribute.extend(attributes)
    ctx.made.append(n)
    return n


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default
