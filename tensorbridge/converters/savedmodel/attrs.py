"""TF AttrValue -> ``ir.Attr`` and TensorProto -> numpy, without TensorFlow.

TensorProto decoding (FORMATS.md 8, 9.10): ``tensor_content`` is raw little-endian; otherwise
the typed ``*_val`` field may be shorter than the element count and its last value is repeated;
``half_val`` holds fp16/bf16 bit patterns; complex values are interleaved (re, im); ``*_REF``
dtypes are their base type.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tensorbridge import ir
from tensorbridge.protos import attr_value_pb2, tensor_pb2, tensor_shape_pb2

K = ir.AttrType

# IR dtype -> the TensorProto field holding its values when tensor_content is empty
_VAL_FIELD: dict[ir.DType, str] = {
    ir.DType.FLOAT: "float_val",
    ir.DType.DOUBLE: "double_val",
    ir.DType.INT32: "int_val",
    ir.DType.INT16: "int_val",
    ir.DType.INT8: "int_val",
    ir.DType.UINT8: "int_val",
    ir.DType.UINT16: "int_val",
    ir.DType.QINT8: "int_val",
    ir.DType.QUINT8: "int_val",
    ir.DType.QINT16: "int_val",
    ir.DType.QUINT16: "int_val",
    ir.DType.QINT32: "int_val",
    ir.DType.INT64: "int64_val",
    ir.DType.UINT32: "uint32_val",
    ir.DType.UINT64: "uint64_val",
    ir.DType.BOOL: "bool_val",
    ir.DType.FLOAT16: "half_val",
    ir.DType.BFLOAT16: "half_val",
    ir.DType.COMPLEX64: "scomplex_val",
    ir.DType.COMPLEX128: "dcomplex_val",
    ir.DType.STRING: "string_val",
}


def shape_from_proto(shape: tensor_shape_pb2.TensorShapeProto) -> ir.Shape | None:
    """A TensorShapeProto as an IR shape: None when the rank is unknown, None dims for -1."""
    if shape.unknown_rank:
        return None
    return tuple(None if d.size < 0 else int(d.size) for d in shape.dim)


def static_shape(shape: tensor_shape_pb2.TensorShapeProto) -> tuple[int, ...]:
    dims = shape_from_proto(shape)
    if dims is None or any(d is None for d in dims):
        raise ValueError(f"tensor shape {dims} is not fully known")
    return tuple(int(d) for d in dims)  # type: ignore[arg-type]


def tensor_to_numpy(tp: tensor_pb2.TensorProto) -> np.ndarray:
    """The value of a TensorProto (strings as an object array of bytes)."""
    dtype = ir.DType.from_tf(tp.dtype)
    shape = static_shape(tp.tensor_shape)
    count = int(np.prod(shape, dtype=np.int64))
    if dtype is ir.DType.STRING:
        vals = list(tp.string_val)
        return _splat(np.array(vals + [b""] * (not vals), dtype=object), count, bool(vals), shape)
    if dtype.bits == 0 or dtype.is_subbyte:
        raise ValueError(f"TensorProto of dtype {dtype} cannot be decoded")
    npdt = np.dtype(dtype.numpy).newbyteorder("<")
    if tp.tensor_content:
        arr = np.frombuffer(tp.tensor_content, dtype=npdt)
        if arr.size != count:
            raise ValueError(f"tensor_content holds {arr.size} values for shape {list(shape)}")
        return arr.astype(dtype.numpy).reshape(shape)
    field = _VAL_FIELD.get(dtype)
    if field is None:
        raise ValueError(f"TensorProto of dtype {dtype} has no typed value field")
    raw = getattr(tp, field)
    if field == "half_val":
        bits = np.asarray(list(raw), dtype=np.int64).astype(np.uint16)
        vals = bits.view(dtype.numpy)
    elif dtype.is_complex:
        parts = np.asarray(list(raw), dtype=np.float32 if field == "scomplex_val" else np.float64)
        vals = (parts[0::2] + 1j * parts[1::2]).astype(dtype.numpy)
    else:
        vals = np.asarray(list(raw)).astype(dtype.numpy)
    if vals.size == 0:
        return np.zeros(shape, dtype=dtype.numpy)
    return _splat(vals, count, True, shape)


def _splat(vals: np.ndarray, count: int, present: bool, shape: tuple[int, ...]) -> np.ndarray:
    if vals.size > count:
        raise ValueError(f"TensorProto holds {vals.size} values for shape {list(shape)}")
    if vals.size < count:
        pad = np.full(count - vals.size, vals[-1], dtype=vals.dtype)
        if vals.dtype == object:
            pad = np.array([vals[-1]] * (count - vals.size), dtype=object)
        vals = np.concatenate([vals, pad])
    return vals.reshape(shape)


def tensor_from_proto(tp: tensor_pb2.TensorProto, name: str = "") -> ir.Tensor:
    return ir.ArrayTensor(tensor_to_numpy(tp), ir.DType.from_tf(tp.dtype), name)


def func_ref(f: attr_value_pb2.NameAttrList) -> ir.FuncRef:
    return ir.FuncRef(f.name, {k: attr_to_ir(v) for k, v in sorted(f.attr.items())})


def attr_to_ir(av: attr_value_pb2.AttrValue) -> ir.Attr:
    """An AttrValue as a typed ir.Attr (TF-only kinds keep their TF kind)."""
    kind = av.WhichOneof("value")
    if kind == "i":
        return ir.Attr(K.INT, int(av.i))
    if kind == "f":
        return ir.Attr(K.FLOAT, float(av.f))
    if kind == "s":
        return ir.Attr(K.STRING, bytes(av.s))
    if kind == "b":
        return ir.Attr(K.BOOL, bool(av.b))
    if kind == "type":
        return ir.Attr(K.DTYPE, ir.DType.from_tf(av.type))
    if kind == "shape":
        return ir.Attr(K.SHAPE, shape_from_proto(av.shape))
    if kind == "tensor":
        return ir.Attr(K.TENSOR, tensor_from_proto(av.tensor))
    if kind == "func":
        return ir.Attr(K.FUNC, func_ref(av.func))
    if kind == "placeholder":
        return ir.Attr(K.PLACEHOLDER, av.placeholder)
    if kind == "list":
        return _list_to_ir(av.list)
    # an AttrValue with nothing set: TF's empty list (e.g. `Tin: list {}` written as `{}`)
    return ir.Attr(K.INTS, ())


def _list_to_ir(lv: attr_value_pb2.AttrValue.ListValue) -> ir.Attr:
    if lv.s:
        return ir.Attr(K.STRINGS, tuple(bytes(s) for s in lv.s))
    if lv.i:
        return ir.Attr(K.INTS, tuple(int(i) for i in lv.i))
    if lv.f:
        return ir.Attr(K.FLOATS, tuple(float(f) for f in lv.f))
    if lv.b:
        return ir.Attr(K.BOOLS, tuple(bool(b) for b in lv.b))
    if lv.type:
        return ir.Attr(K.DTYPES, tuple(ir.DType.from_tf(t) for t in lv.type))
    if lv.shape:
        return ir.Attr(K.SHAPES, tuple(shape_from_proto(s) for s in lv.shape))
    if lv.tensor:
        return ir.Attr(K.TENSORS, tuple(tensor_from_proto(t) for t in lv.tensor))
    if lv.func:
        return ir.Attr(K.FUNCS, tuple(func_ref(f) for f in lv.func))
    return ir.Attr(K.INTS, ())  # an empty list: its element kind is not recorded


def attr_python(av: attr_value_pb2.AttrValue) -> Any:
    """The plain Python value of an AttrValue (lists as lists, tensors as numpy arrays)."""
    a = attr_to_ir(av)
    if a.type is K.TENSOR:
        return a.value.numpy()
    if a.type is K.TENSORS:
        return [t.numpy() for t in a.value]
    if isinstance(a.value, tuple) and a.type is not K.SHAPE:
        return list(a.value)
    return a.value
