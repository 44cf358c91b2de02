"""TensorProto <-> ir.Tensor. External data becomes a lazy ir.ExternalTensor (never read here)."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from tensorbridge import ir
from tensorbridge.errors import ConversionError, ModelLoadError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SparseTensor:
    """An ONNX SparseTensorProto: COO ``indices`` into a dense tensor of shape ``dims``."""

    values: ir.Tensor
    indices: ir.Tensor
    dims: tuple[int, ...]

    def to_dense(self) -> np.ndarray:
        vals = self.values.numpy()
        idx = self.indices.numpy().astype(np.int64)
        dense = np.zeros(self.dims, dtype=vals.dtype)
        if idx.ndim == 1:
            dense.reshape(-1)[idx] = vals
        else:
            dense[tuple(idx.T)] = vals
        return dense


def data_nbytes(dtype: ir.DType, shape: tuple[int, ...]) -> int:
    """Bytes the ONNX raw encoding of a tensor takes (sub-byte types are packed)."""
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    return (n * dtype.bits + 7) // 8 if dtype.is_subbyte else n * dtype.itemsize


# Inline initializers of a file at least this large become lazy regions of the .onnx file.
LAZY_INLINE_BYTES = 1 << 20


class TensorReader:
    """Decodes the TensorProtos of one model file; ``path`` and ``base_dir`` name it in errors."""

    def __init__(self, path: Path | None, base_dir: Path | None) -> None:
        self.path = path
        self.base_dir = base_dir
        self.inline_regions: dict[str, tuple[int, int]] = {}

    def error(self, message: str, hint: str | None = None) -> ModelLoadError:
        return ModelLoadError(message, path=self.path, hint=hint)

    def read(self, tp: onnx.TensorProto, what: str = "", *, top: bool = False) -> ir.Tensor:
        what = what or f"tensor {tp.name!r}"
        try:
            dtype = ir.DType.from_onnx(tp.data_type)
        except ValueError as e:
            raise self.error(f"{what}: {e}") from None
        shape = tuple(int(d) for d in tp.dims)
        if any(d < 0 for d in shape):
            raise self.error(f"{what}: negative dimension in {list(shape)}")
        if tp.HasField("segment"):
            raise self.error(f"{what}: segmented tensors are not supported")
        if tp.data_location == onnx.TensorProto.EXTERNAL:
            return self._external(tp, dtype, shape, what)
        lazy = self._lazy_inline(tp, dtype, shape, what) if top else None
        if lazy is not None:
            return lazy
        return ir.ArrayTensor(self._inline(tp, dtype, shape, what), dtype, name=tp.name)

    def _lazy_inline(self, tp, dtype: ir.DType, shape: tuple[int, ...], what: str):
        """A region of the .onnx file itself for a large inline raw_data, else None."""
        region = self.inline_regions.get(tp.name)
        n = len(tp.raw_data)
        if region is None or n < LAZY_INLINE_BYTES or region[1] != n or dtype.bits == 0:
            return None
        want = data_nbytes(dtype, shape)
        if n != want:
            raise self.error(f"{what}: raw_data has {n} bytes, but {dtype}{list(shape)} needs {want}")
        decoder = _unpack_subbyte if dtype.is_subbyte else None
        t = ir.ExternalTensor(self.path, region[0], n, dtype, shape, decoder=decoder, name=tp.name)
        raw = t.raw_bytes()
        if raw[:16] != tp.raw_data[:16] or raw[-16:] != tp.raw_data[-16:]:
            return None  # the proto was rewritten (opset conversion): keep it in memory
        return t

    def _inline(self, tp, dtype: ir.DType, shape: tuple[int, ...], what: str) -> np.ndarray:
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if dtype is ir.DType.STRING:
            if len(tp.string_data) != n:
                raise self.error(f"{what}: {len(tp.string_data)} strings for shape {list(shape)}")
            return np.array(list(tp.string_data) or [], dtype=object).reshape(shape)
        if tp.HasField("raw_data"):
            want = data_nbytes(dtype, shape)
            if len(tp.raw_data) != want:
                raise self.error(
                    f"{what}: raw_data has {len(tp.raw_data)} bytes, but {dtype}{list(shape)} "
                    f"needs {want}"
                )
        try:
            return numpy_helper.to_array(tp)
        except (ValueError, TypeError) as e:
            raise self.error(f"{what}: data does not match {dtype}{list(shape)}: {e}") from None

    def _external(self, tp, dtype: ir.DType, shape: tuple[int, ...], what: str) -> ir.Tensor:
        info = {e.key: e.value for e in tp.external_data}
        if dtype is ir.DType.STRING:
            raise self.error(f"{what}: string tensors cannot use external data")
        if "location" not in info:
            raise self.error(f"{what}: external data without a location")
        file = self.resolve_location(info["location"], what)
        size = file.stat().st_size
        offset = int(info.get("offset", 0))
        length = int(info.get("length", size - offset))
        want = data_nbytes(dtype, shape)
        if length != want:
            raise self.error(
                f"{what}: external data length {length} bytes, but {dtype}{list(shape)} needs {want}"
            )
        if offset < 0 or offset + length > size:
            raise self.error(
                f"{what}: region [{offset}, {offset + length}) is past the end of {file} "
                f"({size} bytes)"
            )
        decoder = _unpack_subbyte if dtype.is_subbyte else None
        return ir.ExternalTensor(file, offset, length, dtype, shape, decoder=decoder, name=tp.name)

    def resolve_location(self, location: str, what: str) -> Path:
        """The data file for ``location``, refusing anything outside the model's folder."""
        if self.base_dir is None:
            raise self.error(f"{what}: external data {location!r} but no base_dir to find it",
                             hint="pass base_dir= when importing a ModelProto")
        rel = Path(location)
        if rel.is_absolute() or location.startswith(("/", "\\")) or ".." in rel.parts \
                or ".." in location.replace("\\", "/").split("/"):
            raise self.error(f"{what}: external data location {location!r} escapes the model's "
                             "folder (absolute paths and '..' are refused)")
        base = self.base_dir.resolve()
        full = (base / rel).resolve()
        if full != base and base not in full.parents:
            raise self.error(f"{what}: external data location {location!r} resolves outside "
                             f"the model's folder ({full})")
        if not full.is_file():
            raise self.error(f"{what}: external data file {location!r} not found in {base}")
        return full


def _unpack_subbyte(raw: memoryview, dtype: ir.DType, shape: tuple[int, ...]) -> np.ndarray:
    tp = onnx.TensorProto(data_type=dtype.onnx_code, dims=shape, raw_data=bytes(raw))
    return numpy_helper.to_array(tp)


def is_onnx_raw(t: ir.Tensor) -> bool:
    """True when the tensor's raw bytes are already its ONNX raw_data encoding."""
    return isinstance(t, ir.ExternalTensor) and t.decoder in (None, _unpack_subbyte)


# numpy kinds whose in-memory little-endian bytes are exactly ONNX's raw_data encoding
_PLAIN_KINDS = frozenset("biufc")


def raw_data(t: ir.Tensor) -> bytes | memoryview:
    """The ONNX raw_data bytes of a non-string tensor (a mapped view for external tensors)."""
    if is_onnx_raw(t):
        return t.raw_bytes()  # type: ignore[union-attr]
    arr = np.asarray(t.numpy())
    if arr.dtype != t.dtype.numpy:
        arr = arr.astype(t.dtype.numpy)
    if _plain(arr, t.dtype):
        # One copy instead of numpy_helper's three (array -> proto -> bytes): for plain
        # numeric dtypes on a little-endian host they are the same bytes.
        return np.ascontiguousarray(arr).tobytes()
    return numpy_helper.from_array(arr).raw_data


def _plain(arr: np.ndarray, dtype: ir.DType) -> bool:
    little = arr.dtype.byteorder in "<|" or (arr.dtype.byteorder == "=" and sys.byteorder == "little")
    return arr.dtype.kind in _PLAIN_KINDS and little and not dtype.is_subbyte


def tensor_to_proto(t: ir.Tensor, name: str, *, with_data: bool = True,
                    out: onnx.TensorProto | None = None) -> onnx.TensorProto:
    """A TensorProto for ``t``; ``with_data=False`` leaves the data out (for external data).
    ``out`` (an empty message, e.g. ``graph.initializer.add()``) is filled in place, which
    saves copying large data into a parent message afterwards."""
    if not t.dtype.onnx_code:
        raise ConversionError(f"tensor {name!r}: element type {t.dtype} has no ONNX form")
    tp = out if out is not None else onnx.TensorProto()
    tp.name = name
    tp.data_type = t.dtype.onnx_code
    tp.dims.extend(t.shape)
    doc = getattr(t, "doc", "")
    if doc:
        tp.doc_string = doc
    if not with_data:
        return tp
    if t.dtype is ir.DType.STRING:
        tp.string_data.extend(_as_bytes(s) for s in np.asarray(t.numpy()).reshape(-1))
    else:
        tp.raw_data = bytes(raw_data(t))
    return tp


def _as_bytes(s: object) -> bytes:
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)  # type: ignore[arg-type]


def sparse_from_proto(reader: TensorReader, sp: onnx.SparseTensorProto) -> SparseTensor:
    values = reader.read(sp.values, f"sparse tensor {sp.values.name!r} values")
    indices = reader.read(sp.indices, f"sparse tensor {sp.values.name!r} indices")
    return SparseTensor(values, indices, tuple(int(d) for d in sp.dims))


def sparse_to_proto(s: SparseTensor, name: str) -> onnx.SparseTensorProto:
    sp = onnx.SparseTensorProto(dims=s.dims)
    sp.values.CopyFrom(tensor_to_proto(s.values, name))
    sp.indices.CopyFrom(tensor_to_proto(s.indices, s.indices.name or ""))
    return sp

