"""What an import handler sees: the read-only TF node (``TfNode``) and the ``ImportContext``.

    @TF_IMPORT.register("Relu")
    def import_relu(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
        return [ctx.b.op("Relu", [ctx.input(node, 0)])]

A handler returns exactly one Value per TF output, in order, and never looks beyond its node
except through ``ctx``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tensorbridge import ir
from tensorbridge.errors import UnsupportedOpError
from tensorbridge.protos import attr_value_pb2

from ..attrs import attr_python

REQUIRED: Any = object()


@dataclass(frozen=True, eq=False)
class TfNode:
    """One TF node (main graph or inlined function body), attrs with OpDef defaults filled.

    ``name`` is scoped by the call nodes it was inlined through (``call/inner/MatMul``);
    ``inputs`` are the data input references as written (control inputs dropped)."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: Mapping[str, attr_value_pb2.AttrValue]
    num_outputs: int
    key: object = field(default=None, repr=False)  # the driver's handle for input lookup


class ImportContext:
    def __init__(
        self,
        builder: ir.Builder,
        opset: int,
        resolve_input: Callable[[TfNode, int], ir.Value],
        variable: Callable[[str], ir.Value],
    ) -> None:
        self.b = builder
        self.opset = opset
        self._resolve_input = resolve_input
        self._variable = variable

    # ---- inputs and attributes ---------------------------------------------------------
    def input(self, node: TfNode, i: int) -> ir.Value:
        if not -len(node.inputs) <= i < len(node.inputs):
            raise IndexError(f"{node.op} {node.name!r} has {len(node.inputs)} inputs, not {i + 1}")
        return self._resolve_input(node, i % len(node.inputs))

    def inputs(self, node: TfNode) -> list[ir.Value]:
        return [self.input(node, i) for i in range(len(node.inputs))]

    def attr(self, node: TfNode, name: str, default: Any = REQUIRED) -> Any:
        """The attr as a Python value (DType for types, bytes for strings, lists for lists)."""
        if name in node.attrs:
            return attr_python(node.attrs[name])
        if default is REQUIRED:
            raise KeyError(f"{node.op} {node.name!r} has no attr {name!r}")
        return default

    def variable(self, key: str) -> ir.Value:
        """The initializer Value of checkpoint variable ``key`` (one Value per key)."""
        return self._variable(key)

    # ---- constants ---------------------------------------------------------------------
    def const(self, array: Any, name: str = "const", dtype: ir.DType | None = None) -> ir.Value:
        return self.b.const(array, name, dtype)

    def i64(self, values: Any, name: str = "const") -> ir.Value:
        return self.b.const(np.asarray(values, dtype=np.int64), name)

    @staticmethod
    def constant_value(value: ir.Value) -> np.ndarray | None:
        """The value's data when it is a constant (not a variable), or a Concat of constants
        (tf.tensordot's perm: ConcatV2(free, axes)), else None."""
        if value.const is not None and value.variable is None:
            return value.const.numpy()
        p = value.producer()
        if p is not None and p.op_type == "Concat" and p.domain in ("", "ai.onnx") and p.inputs:
            parts = [ImportContext.constant_value(v) if v is not None else None for v in p.inputs]
            if all(a is not None and a.ndim >= 1 for a in parts):
                return np.concatenate(parts, axis=int(p.attr("axis")))
        return None

    def unsupported(self, reason: str, node: TfNode | None = None) -> UnsupportedOpError:
        """An error to raise for a node this handler cannot convert (e.g. a dynamic axis);
        the driver adds the node, op, handler and opset to the message."""
        missing = {("", node.op): [node.name]} if node is not None else {}
        err = UnsupportedOpError("savedmodel->ir", missing, hint=reason)
        if node is None:
            err.message = f"not supported: {reason}"
            err.hint = None
        return err

    # ---- small shared helpers ------------------------------------------------------------
    def cast(self, value: ir.Value, dtype: ir.DType) -> ir.Value:
        return self.b.op("Cast", [value], to=dtype.onnx_code)

    def as_int64(self, value: ir.Value, name: str = "i64") -> ir.Value:
        """An index/shape tensor as int64 (folded when constant)."""
        const = self.constant_value(value)
        if const is not None:
            return self.i64(const, name)
        return self.cast(value, ir.DType.INT64)
