"""TypeProto <-> ir.TypeSpec."""

from __future__ import annotations

import logging

import onnx

from tensorbridge import ir
from tensorbridge.errors import ConversionError

logger = logging.getLogger(__name__)


def dtype_from_onnx(code: int) -> ir.DType | None:
    """The IR element type for an ONNX code; None for UNDEFINED (0)."""
    return None if code == 0 else ir.DType.from_onnx(code)


def shape_from_proto(shape: onnx.TensorShapeProto) -> ir.Shape:
    dims: list[int | str | None] = []
    for d in shape.dim:
        kind = d.WhichOneof("value")
        dims.append(d.dim_value if kind == "dim_value" else d.dim_param if kind else None)
    return tuple(dims)


def type_from_proto(tp: onnx.TypeProto) -> ir.TypeSpec | None:
    kind = tp.WhichOneof("value")
    if kind in ("tensor_type", "sparse_tensor_type"):
        t = getattr(tp, kind)
        dtype = dtype_from_onnx(t.elem_type)
        if dtype is None:
            return None
        shape = shape_from_proto(t.shape) if t.HasField("shape") else None
        cls = ir.TensorType if kind == "tensor_type" else ir.SparseTensorType
        return cls(dtype, shape)
    if kind == "sequence_type":
        return ir.SequenceType(_elem(tp.sequence_type))
    if kind == "optional_type":
        return ir.OptionalType(_elem(tp.optional_type))
    if kind == "map_type":
        m = tp.map_type
        value = type_from_proto(m.value_type) if m.HasField("value_type") else None
        return ir.MapType(ir.DType.from_onnx(m.key_type), value)
    return None


def _elem(container) -> ir.TypeSpec | None:
    return type_from_proto(container.elem_type) if container.HasField("elem_type") else None


def type_to_proto(spec: ir.TypeSpec | None, out: onnx.TypeProto) -> None:
    """Fill ``out`` from ``spec`` (left empty when the type is unknown)."""
    if spec is None:
        return
    if isinstance(spec, (ir.TensorType, ir.SparseTensorType)):
        t = out.tensor_type if isinstance(spec, ir.TensorType) else out.sparse_tensor_type
        if not spec.dtype.onnx_code:
            raise ConversionError(f"element type {spec.dtype} has no ONNX form")
        t.elem_type = spec.dtype.onnx_code
        if spec.shape is not None:
            _shape_to_proto(spec.shape, t.shape)
    elif isinstance(spec, ir.SequenceType):
        out.sequence_type.SetInParent()
        type_to_proto(spec.elem, out.sequence_type.elem_type)
    elif isinstance(spec, ir.OptionalType):
        out.optional_type.SetInParent()
        type_to_proto(spec.elem, out.optional_type.elem_type)
    elif isinstance(spec, ir.MapType):
        out.map_type.key_type = spec.key.onnx_code
        type_to_proto(spec.value, out.map_type.value_type)
    else:
        raise ConversionError(f"no ONNX form for type {spec!r}")


def _shape_to_proto(shape: ir.Shape, out: onnx.TensorShapeProto) -> None:
    out.SetInParent()
    for d in shape:
        dim = out.dim.add()
        if isinstance(d, int):
            dim.dim_value = d
        elif isinstance(d, str):
            dim.dim_param = d
