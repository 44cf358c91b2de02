"""DT_STRING payload layout: varint lengths, masked crc32c of the lengths, then the bytes."""

from __future__ import annotations

import struct

import numpy as np

from .crc32c import Crc32c, mask, unmask
from .sstable import FormatError, decode_varint, encode_varint

_U32_MAX = 0xFFFFFFFF


def _length_bytes(n: int) -> bytes:
    return struct.pack("<I", n) if n <= _U32_MAX else struct.pack("<Q", n)


def encode_strings(values: np.ndarray) -> tuple[list[bytes], int]:
    """The on-disk pieces of a string tensor and the entry's (unmasked) crc32c."""
    items = [bytes(v) for v in values.reshape(-1)]
    lengths_crc = Crc32c()
    for s in items:
        lengths_crc.update(_length_bytes(len(s)))
    masked = struct.pack("<I", mask(lengths_crc.value))
    entry_crc = Crc32c(lengths_crc.value).update(masked)
    for s in items:
        entry_crc.update(s)
    head = b"".join(encode_varint(len(s)) for s in items) + masked
    return [head, *items], entry_crc.value


def decode_strings(raw: memoryview, shape: tuple[int, ...], check: bool) -> tuple[np.ndarray, int]:
    """(object array of bytes, entry crc32c); raises FormatError on a malformed payload."""
    count = int(np.prod(shape, dtype=np.int64))
    pos, lengths = 0, []
    for _ in range(count):
        n, pos = decode_varint(raw, pos)
        lengths.append(n)
    if pos + 4 + sum(lengths) > len(raw):
        raise FormatError(f"string tensor needs {pos + 4 + sum(lengths)} bytes, the entry has {len(raw)}")
    crc = Crc32c()
    for n in lengths:
        crc.update(_length_bytes(n))
    (stored,) = struct.unpack("<I", raw[pos : pos + 4])
    if check and unmask(stored) != crc.value:
        raise FormatError("checksum mismatch in the string lengths")
    crc.update(raw[pos : pos + 4])
    pos += 4
    out = np.empty(count, dtype=object)
    for i, n in enumerate(lengths):
        out[i] = bytes(raw[pos : pos + n])
        pos += n
    if check:
        crc.update(raw[pos - sum(lengths) : pos])
    return out.reshape(shape), crc.value
