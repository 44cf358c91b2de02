"""Keys of partitioned-variable slices (TF's ordered-code "tensor name + slice" encoding).

A slice key is: number 0 (one byte 0x00), the escaped variable name ending in 0x00 0x01, the
rank as an increasing number (length byte + big-endian bytes), then per dimension ``start``
and ``length`` as signed increasing numbers (length -1 = the whole dimension).
"""

from __future__ import annotations

from .sstable import FormatError


def is_slice_key(key: bytes) -> bool:
    return key[:1] == b"\x00"


def decode_slice_key(key: bytes) -> tuple[str, list[tuple[int, int]]]:
    """(variable name, [(start, length or -1)] per dimension)."""
    if not is_slice_key(key):
        raise FormatError(f"not a slice key: {key!r}")
    name, pos = _read_string(key, 1)
    rank, pos = _read_unsigned(key, pos)
    extents = []
    for _ in range(rank):
        start, pos = _read_signed(key, pos)
        length, pos = _read_signed(key, pos)
        extents.append((start, length))
    if pos != len(key):
        raise FormatError(f"trailing bytes in slice key {key!r}")
    return name.decode("utf-8", "surrogateescape"), extents


def _read_string(key: bytes, pos: int) -> tuple[bytes, int]:
    out = bytearray()
    while pos + 1 < len(key):
        b, nxt = key[pos], key[pos + 1]
        if b == 0x00 and nxt == 0x01:
            return bytes(out), pos + 2
        if b in (0x00, 0xFF):  # escaped 0x00 0xff -> 0x00, 0xff 0x00 -> 0xff
            out.append(b)
            pos += 2
        else:
            out.append(b)
            pos += 1
    raise FormatError(f"unterminated name in slice key {key!r}")


def _read_unsigned(key: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(key):
        raise FormatError(f"truncated slice key {key!r}")
    n = key[pos]
    if pos + 1 + n > len(key):
        raise FormatError(f"truncated slice key {key!r}")
    return int.from_bytes(key[pos + 1 : pos + 1 + n], "big"), pos + 1 + n


def _read_signed(key: bytes, pos: int) -> tuple[int, int]:
    """Length = run of leading bits equal to the first bit (1s: >= 0, 0s: negative)."""
    if pos >= len(key):
        raise FormatError(f"truncated slice key {key!r}")
    bits = int.from_bytes(key[pos : pos + 10], "big")
    width = 8 * len(key[pos : pos + 10])
    top = bits >> (width - 1)
    n = 0
    while n < width and ((bits >> (width - 1 - n)) & 1) == top:
        n += 1
    if n == 0 or n > 10 or pos + n > len(key):
        raise FormatError(f"malformed number in slice key {key!r}")
    raw = int.from_bytes(key[pos : pos + n], "big")
    value = raw ^ (((1 << n) - 1) << (8 * n - n))  # clear the length header bits
    if value >> (8 * n - 1):  # two's complement over the n bytes
        value -= 1 << (8 * n)
    return value, pos + n
