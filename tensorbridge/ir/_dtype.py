"""Element types: one enum covering every TensorFlow and every ONNX element type.

Each member records its ONNX ``TensorProto.DataType`` code, its TensorFlow ``DataType`` code
(0 where the other format has no such type), its width in bits and the numpy dtype that holds
it (ml_dtypes supplies bfloat16, the float8 family and the sub-byte integers).  The codes are
facts of the two wire formats; the converters map through them, the IR never imports either.
"""

from __future__ import annotations

import enum
from functools import cache

import ml_dtypes
import numpy as np


class DType(enum.Enum):
    """An element type. ``value`` is our own stable name (used in text dumps and reports)."""

    FLOAT = "float32"
    DOUBLE = "float64"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    BOOL = "bool"
    STRING = "string"
    COMPLEX64 = "complex64"
    COMPLEX128 = "complex128"
    FLOAT8E4M3FN = "float8e4m3fn"
    FLOAT8E4M3FNUZ = "float8e4m3fnuz"
    FLOAT8E5M2 = "float8e5m2"
    FLOAT8E5M2FNUZ = "float8e5m2fnuz"
    FLOAT8E4M3B11FNUZ = "float8e4m3b11fnuz"
    FLOAT8E8M0 = "float8e8m0"
    FLOAT4E2M1 = "float4e2m1"
    FLOAT6E2M3 = "float6e2m3"
    FLOAT6E3M2 = "float6e3m2"
    INT4 = "int4"
    UINT4 = "uint4"
    INT2 = "int2"
    UINT2 = "uint2"
    # TensorFlow-only element types: they never reach an ONNX file.
    RESOURCE = "resource"
    VARIANT = "variant"
    QINT8 = "qint8"
    QUINT8 = "quint8"
    QINT16 = "qint16"
    QUINT16 = "quint16"
    QINT32 = "qint32"

    # ---- properties -------------------------------------------------------------------
    @property
    def onnx_code(self) -> int:
        """ONNX TensorProto.DataType code, 0 when ONNX has no such type."""
        return _TABLE[self][0]

    @property
    def tf_code(self) -> int:
        """TensorFlow DataType code (non-ref), 0 when TensorFlow has no such type."""
        return _TABLE[self][1]

    @property
    def bits(self) -> int:
        """Width of one element in bits (0 for variable-width or opaque types)."""
        return _TABLE[self][2]

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype holding this element type (object for strings and opaque handles)."""
        return np.dtype(_TABLE[self][3])

    @property
    def itemsize(self) -> int:
        """Bytes one element takes in a numpy array of :attr:`numpy` dtype."""
        return self.numpy.itemsize

    @property
    def is_floating(self) -> bool:
        return self in _FLOATING

    @property
    def is_integer(self) -> bool:
        return self in _INTEGER

    @property
    def is_complex(self) -> bool:
        return self in (DType.COMPLEX64, DType.COMPLEX128)

    @property
    def is_subbyte(self) -> bool:
        return 0 < self.bits < 8

    # ---- lookups ----------------------------------------------------------------------
    @staticmethod
    def from_onnx(code: int) -> DType:
        try:
            return _BY_ONNX[code]
        except KeyError:
            raise ValueError(f"unknown ONNX element type code {code}") from None

    @staticmethod
    def from_tf(code: int) -> DType:
        """From a TF DataType code; ``*_REF`` codes (base + 100) map to their base type."""
        base = code - 100 if code > 100 else code
        try:
            return _BY_TF[base]
        except KeyError:
            raise ValueError(f"unknown TensorFlow DataType code {code}") from None

    @staticmethod
    def from_numpy(dtype: np.dtype | type) -> DType:
        dt = np.dtype(dtype)
        if dt.kind in "OUS":
            return DType.STRING
        try:
            return _by_numpy()[dt]
        except KeyError:
            raise ValueError(f"numpy dtype {dt} has no IR element type") from None

    def __repr__(self) -> str:
        return f"DType.{self.name}"

    def __str__(self) -> str:
        return self.value


_md = ml_dtypes
# member: (onnx code, tf code, bits, numpy dtype)
_TABLE: dict[DType, tuple[int, int, int, object]] = {
    DType.FLOAT: (1, 1, 32, np.float32),
    DType.DOUBLE: (11, 2, 64, np.float64),
    DType.FLOAT16: (10, 19, 16, np.float16),
    DType.BFLOAT16: (16, 14, 16, _md.bfloat16),
    DType.INT8: (3, 6, 8, np.int8),
    DType.INT16: (5, 5, 16, np.int16),
    DType.INT32: (6, 3, 32, np.int32),
    DType.INT64: (7, 9, 64, np.int64),
    DType.UINT8: (2, 4, 8, np.uint8),
    DType.UINT16: (4, 17, 16, np.uint16),
    DType.UINT32: (12, 22, 32, np.uint32),
    DType.UINT64: (13, 23, 64, np.uint64),
    DType.BOOL: (9, 10, 8, np.bool_),
    DType.STRING: (8, 7, 0, object),
    DType.COMPLEX64: (14, 8, 64, np.complex64),
    DType.COMPLEX128: (15, 18, 128, np.complex128),
    DType.FLOAT8E4M3FN: (17, 25, 8, _md.float8_e4m3fn),
    DType.FLOAT8E4M3FNUZ: (18, 26, 8, _md.float8_e4m3fnuz),
    DType.FLOAT8E5M2: (19, 24, 8, _md.float8_e5m2),
    DType.FLOAT8E5M2FNUZ: (20, 28, 8, _md.float8_e5m2fnuz),
    DType.FLOAT8E4M3B11FNUZ: (0, 27, 8, _md.float8_e4m3b11fnuz),
    DType.FLOAT8E8M0: (24, 0, 8, _md.float8_e8m0fnu),
    DType.FLOAT4E2M1: (23, 33, 4, _md.float4_e2m1fn),
    DType.FLOAT6E2M3: (27, 0, 6, _md.float6_e2m3fn),
    DType.FLOAT6E3M2: (28, 0, 6, _md.float6_e3m2fn),
    DType.INT4: (22, 29, 4, _md.int4),
    DType.UINT4: (21, 30, 4, _md.uint4),
    DType.INT2: (26, 31, 2, _md.int2),
    DType.UINT2: (25, 32, 2, _md.uint2),
    DType.RESOURCE: (0, 20, 0, object),
    DType.VARIANT: (0, 21, 0, object),
    DType.QINT8: (0, 11, 8, np.int8),
    DType.QUINT8: (0, 12, 8, np.uint8),
    DType.QINT16: (0, 15, 16, np.int16),
    DType.QUINT16: (0, 16, 16, np.uint16),
    DType.QINT32: (0, 13, 32, np.int32),
}
_BY_ONNX = {row[0]: dt for dt, row in _TABLE.items() if row[0]}
_BY_TF = {row[1]: dt for dt, row in _TABLE.items() if row[1]}
_FLOATING = frozenset(
    dt for dt in DType if dt.name.startswith(("FLOAT", "DOUBLE", "BFLOAT"))
)
_INTEGER = frozenset(
    dt for dt in DType if dt.name.startswith(("INT", "UINT", "QINT", "QUINT"))
)


@cache
def _by_numpy() -> dict[np.dtype, DType]:
    # The first member listed wins (INT8 over QINT8): quantized types are never inferred.
    table: dict[np.dtype, DType] = {}
    for dt, row in _TABLE.items():
        if row[3] is not object:
            table.setdefault(np.dtype(row[3]), dt)
    return table
