"""Value types: tensors (element type + shape) and ONNX's sequence, optional, map and sparse types.

A shape is a tuple of dims; a dim is an ``int`` (static), a ``str`` (a named symbolic dim, e.g.
``"batch"``) or ``None`` (unknown). A shape of ``None`` means the rank is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._dtype import DType

Dim = int | str | None
Shape = tuple[Dim, ...]


@dataclass(frozen=True)
class TensorType:
    dtype: DType
    shape: Shape | None = None

    def __str__(self) -> str:
        return f"{self.dtype}{format_shape(self.shape)}"


@dataclass(frozen=True)
class SparseTensorType:
    dtype: DType
    shape: Shape | None = None

    def __str__(self) -> str:
        return f"sparse<{self.dtype}{format_shape(self.shape)}>"


@dataclass(frozen=True)
class SequenceType:
    elem: TypeSpec | None

    def __str__(self) -> str:
        return f"seq<{self.elem}>"


@dataclass(frozen=True)
class OptionalType:
    elem: TypeSpec | None

    def __str__(self) -> str:
        return f"optional<{self.elem}>"


@dataclass(frozen=True)
class MapType:
    key: DType
    value: TypeSpec | None

    def __str__(self) -> str:
        return f"map<{self.key},{self.value}>"


TypeSpec = TensorType | SparseTensorType | SequenceType | OptionalType | MapType


def format_shape(shape: Shape | None) -> str:
    if shape is None:
        return "[?rank]"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def is_static(shape: Shape | None) -> bool:
    """True when the rank and every dim are known integers."""
    return shape is not None and all(isinstance(d, int) for d in shape)


def normalize_shape(shape: object) -> Shape | None:
    """Accept any iterable of dims (ints, strings, None, -1 for unknown) and return a Shape."""
    if shape is None:
        return None
    dims: list[Dim] = []
    for d in shape:  # type: ignore[union-attr]
        if d is None or isinstance(d, str):
            dims.append(d or None)
        elif int(d) < 0:
            dims.append(None)
        else:
            dims.append(int(d))
    return tuple(dims)
