"""Tensor data: in memory (numpy) or lazy (a region of a file, memory-mapped on demand).

Weights stay lazy until a pass or an exporter needs their values, so a model larger than memory
converts: an :class:`ExternalTensor` maps its file region only when :meth:`numpy` or
:meth:`raw_bytes` is called, and the exporter streams regions instead of materialising them.
"""

from __future__ import annotations

import math
import mmap
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ._dtype import DType
from ._types import Shape, is_static

# Decoder from the raw bytes of a file region to the tensor's numpy array (strings, sub-byte
# types and other encoded layouts). Must not keep a reference to the buffer it is given.
Decoder = Callable[[memoryview, DType, tuple[int, ...]], np.ndarray]


@runtime_checkable
class Tensor(Protocol):
    """The read-only tensor protocol every IR constant satisfies."""

    name: str

    @property
    def dtype(self) -> DType: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    def numpy(self) -> np.ndarray: ...


def num_elements(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def nbytes(t: Tensor) -> int:
    """Bytes of the tensor's data (packed for sub-byte types; an estimate for strings)."""
    if isinstance(t, ExternalTensor):
        return t.length
    if t.dtype is DType.STRING:
        return int(sum(len(s) for s in t.numpy().reshape(-1)))
    return (num_elements(t.shape) * t.dtype.bits + 7) // 8


class ArrayTensor:
    """A tensor held in memory as a numpy array (strings as an object array of ``bytes``)."""

    __slots__ = ("_array", "_dtype", "name", "doc")

    def __init__(self, array: object, dtype: DType | None = None, name: str = "") -> None:
        arr = np.asarray(array)
        dt = dtype or DType.from_numpy(arr.dtype)
        if dt is DType.STRING:
            arr = _as_bytes_array(arr)
        elif arr.dtype != dt.numpy:
            arr = arr.astype(dt.numpy)
        self._array = arr
        self._dtype = dt
        self.name = name
        self.doc = ""

    @property
    def dtype(self) -> DType:
        return self._dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self._array.shape)

    def numpy(self) -> np.ndarray:
        return self._array

    def __repr__(self) -> str:
        return f"ArrayTensor({self.name!r}, {self._dtype}{list(self.shape)})"


class ExternalTensor:
    """A tensor whose bytes live in ``path`` at ``[offset, offset + length)``; read lazily.

    Without a ``decoder`` the region holds the elements as raw little-endian values of
    ``dtype.numpy`` in C order. The file is mapped on each :meth:`numpy` call and the mapping
    is owned by the returned array, so no file handle is kept between calls.
    """

    __slots__ = (
        "path", "offset", "length", "_dtype", "_shape", "decoder", "name", "doc", "_stamp",
    )  # fmt: skip

    def __init__(
        self,
        path: str | Path,
        offset: int,
        length: int,
        dtype: DType,
        shape: tuple[int, ...],
        *,
        decoder: Decoder | None = None,
        name: str = "",
    ) -> None:
        self.path = Path(path)
        self.offset = int(offset)
        self.length = int(length)
        self._dtype = dtype
        self._shape = tuple(int(d) for d in shape)
        self.decoder = decoder
        self.name = name
        self.doc = ""
        self._stamp = _file_stamp(self.path)
        if decoder is None:
            want = num_elements(self._shape) * dtype.itemsize
            if dtype.bits == 0 or want != self.length:
                raise ValueError(
                    f"tensor {name!r}: {self.length} bytes in {self.path} cannot hold "
                    f"{dtype}{list(self._shape)} ({want} bytes expected)"
                )

    @property
    def dtype(self) -> DType:
        return self._dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    def raw_bytes(self) -> memoryview:
        """The region's bytes, memory-mapped (read-only, no copy)."""
        if self.length == 0:
            return memoryview(b"")
        if _file_stamp(self.path) != self._stamp:
            raise ValueError(
                f"tensor {self.name!r}: {self.path} changed since the model was loaded "
                "(replaced or rewritten); load the model again"
            )
        with open(self.path, "rb") as f:
            m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if self.offset + self.length > len(m):
            size = len(m)
            m.close()
            raise ValueError(
                f"tensor {self.name!r}: region [{self.offset}, {self.offset + self.length}) "
                f"is past the end of {self.path} ({size} bytes)"
            )
        return memoryview(m)[self.offset : self.offset + self.length]

    def numpy(self) -> np.ndarray:
        raw = self.raw_bytes()
        if self.decoder is not None:
            return self.decoder(raw, self._dtype, self._shape)
        dt = self._dtype.numpy
        if sys.byteorder != "little" and dt.itemsize > 1:
            return np.frombuffer(raw, dt.newbyteorder("<")).astype(dt).reshape(self._shape)
        return np.frombuffer(raw, dt).reshape(self._shape)

    def __repr__(self) -> str:
        return (
            f"ExternalTensor({self.name!r}, {self._dtype}{list(self._shape)}, "
            f"{self.path.name}@{self.offset}+{self.length})"
        )


class LazyTensor:
    """A tensor computed on demand by a callable (e.g. a decoder over several regions)."""

    __slots__ = ("_fn", "_dtype", "_shape", "name", "doc")

    def __init__(
        self, fn: Callable[[], np.ndarray], dtype: DType, shape: tuple[int, ...], name: str = ""
    ) -> None:
        self._fn = fn
        self._dtype = dtype
        self._shape = tuple(int(d) for d in shape)
        self.name = name
        self.doc = ""

    @property
    def dtype(self) -> DType:
        return self._dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    def numpy(self) -> np.ndarray:
        arr = self._fn()
        if tuple(arr.shape) != self._shape:
            raise ValueError(
                f"tensor {self.name!r}: produced shape {list(arr.shape)}, "
                f"declared {list(self._shape)}"
            )
        return arr

    def __repr__(self) -> str:
        return f"LazyTensor({self.name!r}, {self._dtype}{list(self._shape)})"


def _file_stamp(path: Path) -> tuple[int, int, int, int]:
    """Identity of a file's current content, cheap to compare (device, inode, size, mtime)."""
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def is_lazy(t: Tensor) -> bool:
    return isinstance(t, (ExternalTensor, LazyTensor))


def as_tensor(value: object, dtype: DType | None = None, name: str = "") -> Tensor:
    """A Tensor from a Tensor (returned as is) or anything numpy accepts."""
    if isinstance(value, (ArrayTensor, ExternalTensor, LazyTensor)):
        return value
    return ArrayTensor(value, dtype, name)


def static_shape_or_none(shape: Shape | None) -> tuple[int, ...] | None:
    return tuple(int(d) for d in shape) if is_static(shape) else None  # type: ignore[arg-type]


def _as_bytes_array(arr: np.ndarray) -> np.ndarray:
    out = np.empty(arr.shape, dtype=object)
    flat = out.reshape(-1)
    for i, s in enumerate(arr.reshape(-1)):
        flat[i] = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return out
