"""``ir.Attr`` -> TF AttrValue and numpy/``ir.Tensor`` -> TensorProto: the inverse of attrs.py.

TensorProto encoding (FORMATS.md 8): numeric tensors as raw little-endian ``tensor_content``
(what TF's own writers use for anything but tiny constants), strings in ``string_val``. A dtype
TF has no code for (the float8/int4 kinds ONNX has) is refused with the dtype named.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tensorbridge import ir
from tensorbridge.protos import attr_value_pb2, tensor_pb2, tensor_shape_pb2

K = ir.AttrType


def tf_dtype_code(dtype: ir.DType, where: str = "") -> int:
    """TF's DataType code for ``dtype``; one clear error for types TF does not have."""
    code = dtype.tf_code
    if not code:
        at = f" ({where})" if where else ""
        raise ValueError(f"TensorFlow has no {dtype} tensor type{at}")
    return code


def shape_to_proto(shape: ir.Shape | None) -> tensor_shape_pb2.TensorShapeProto:
    """An IR shape as a TensorShapeProto: unknown rank, -1 for unknown or symbolic dims."""
    proto = tensor_shape_pb2.TensorShapeProto()
    if shape is None:
        proto.unknown_rank = True
        return proto
    for d in shape:
        proto.dim.add(size=d if isinstance(d, int) else -1)
    return proto


def tensor_to_proto(data: np.ndarray | ir.Tensor, dtype: ir.DType | None = None) -> tensor_pb2.TensorProto:
    """A TensorProto holding ``data`` (an ir.Tensor is read here: call only to freeze it)."""
    if isinstance(data, ir.Tensor):
        dtype = dtype or data.dtype
        data = data.numpy()
    arr = np.asarray(data)
    dtype = dtype or ir.DType.from_numpy(arr.dtype)
    proto = tensor_pb2.TensorProto(dtype=tf_dtype_code(dtype, "constant"))
    proto.tensor_shape.CopyFrom(shape_to_proto(arr.shape))
    if dtype is ir.DType.STRING:
        proto.string_val.extend(_as_bytes(s) for s in arr.reshape(-1))
        return proto
    le = np.ascontiguousarray(arr.astype(np.dtype(dtype.numpy).newbyteorder("<"), copy=False))
    proto.tensor_content = le.tobytes()
    return proto


def _as_bytes(s: Any) -> bytes:
    return s if isinstance(s, bytes) else str(s).encode("utf-8")


def attr_to_proto(a: ir.Attr) -> attr_value_pb2.AttrValue:
    """A typed ir.Attr (as the importer's attr_to_ir makes them, or a lift handler) as AttrValue."""
    av = attr_value_pb2.AttrValue()
    kind, v = a.type, a.value
    if kind is K.INT:
        av.i = int(v)
    elif kind is K.FLOAT:
        av.f = float(v)
    elif kind is K.STRING:
        av.s = _as_bytes(v)
    elif kind is K.BOOL:
        av.b = bool(v)
    elif kind is K.DTYPE:
        av.type = tf_dtype_code(v)
    elif kind is K.SHAPE:
        av.shape.CopyFrom(shape_to_proto(v))
    elif kind is K.TENSOR:
        av.tensor.CopyFrom(tensor_to_proto(v))
    elif kind is K.FUNC:
        av.func.CopyFrom(func_to_proto(v))
    elif kind is K.PLACEHOLDER:
        av.placeholder = str(v)
    else:
        _list_to_proto(av.list, kind, v)
    return av


def _list_to_proto(lv: attr_value_pb2.AttrValue.ListValue, kind: K, values: Any) -> None:
    lv.SetInParent()  # an empty list is still a list (e.g. `Tin: list {}`)
    if kind is K.INTS:
        lv.i.extend(int(x) for x in values)
    elif kind is K.FLOATS:
        lv.f.extend(float(x) for x in values)
    elif kind is K.STRINGS:
        lv.s.extend(_as_bytes(x) for x in values)
    elif kind is K.BOOLS:
        lv.b.extend(bool(x) for x in values)
    elif kind is K.DTYPES:
        lv.type.extend(tf_dtype_code(t) for t in values)
    elif kind is K.SHAPES:
        lv.shape.extend(shape_to_proto(s) for s in values)
    elif kind is K.TENSORS:
        lv.tensor.extend(tensor_to_proto(t) for t in values)
    elif kind is K.FUNCS:
        lv.func.extend(func_to_proto(f) for f in values)
    else:
        raise ValueError(f"attribute kind {kind.value} has no TensorFlow encoding")


def func_to_proto(f: ir.FuncRef) -> attr_value_pb2.NameAttrList:
    proto = attr_value_pb2.NameAttrList(name=f.name)
    for k, a in f.attrs.items():
        proto.attr[k].CopyFrom(attr_to_proto(a))
    return proto
