"""LevelDB-format SSTable (the tensor-bundle ``.index`` file), uncompressed, read and write.

Layout: data blocks, an empty metaindex block, the index block, a 48-byte footer. Every block
on disk is ``contents || type byte || masked crc32c(contents || type)``; entries are
prefix-compressed keys with a restart array. See FORMATS.md section 3.2.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tensorbridge.errors import ModelLoadError

from .crc32c import crc32c, mask

log = logging.getLogger(__name__)

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER = 5
BLOCK_SIZE = 262144
DATA_RESTART_INTERVAL = 16
INDEX_RESTART_INTERVAL = 1
NO_COMPRESSION = 0
SNAPPY = 1


class FormatError(ValueError):
    """A malformed table; the reader adds the file name."""


# ---- varints ---------------------------------------------------------------------------------
def encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buf: bytes | memoryview, pos: int, limit: int | None = None) -> tuple[int, int]:
    """(value, next position); raises FormatError on a truncated or over-long varint."""
    end = len(buf) if limit is None else limit
    result = shift = 0
    while pos < end and shift < 64:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
    raise FormatError("truncated or malformed varint")


# ---- reading ---------------------------------------------------------------------------------
def read_table(path: str | Path) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of the table in key order, with all block checksums verified."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelLoadError(f"cannot read tensor-bundle index: {e.strerror}", path=path) from e
    try:
        return list(_iter_table(memoryview(data)))
    except FormatError as e:
        raise ModelLoadError(str(e), path=path) from None


def _iter_table(data: memoryview) -> Iterator[tuple[bytes, bytes]]:
    if len(data) < FOOTER_SIZE:
        raise FormatError(f"truncated index: {len(data)} bytes, shorter than the 48-byte footer")
    footer = data[-FOOTER_SIZE:]
    (magic,) = struct.unpack("<Q", footer[40:48])
    if magic != MAGIC:
        raise FormatError(f"bad table magic {magic:#018x}: not a tensor-bundle index, or a truncated one")
    _meta_off, pos = decode_varint(footer, 0, 40)
    _meta_size, pos = decode_varint(footer, pos, 40)
    index_off, pos = decode_varint(footer, pos, 40)
    index_size, pos = decode_varint(footer, pos, 40)
    index = read_block(data, index_off, index_size, "index block")
    previous: bytes | None = None
    for _sep, handle in iter_block(index, "index block"):
        off, p = decode_varint(handle, 0)
        size, _ = decode_varint(handle, p)
        block = read_block(data, off, size, f"data block at offset {off}")
        for key, value in iter_block(block, f"data block at offset {off}"):
            if previous is not None and key <= previous:
                raise FormatError(f"keys out of order in data block at offset {off}: {key!r}")
            previous = key
            yield key, value


def read_block(data: memoryview, offset: int, size: int, what: str) -> memoryview:
    """The contents of one block, its type checked and its masked CRC verified."""
    end = offset + size + BLOCK_TRAILER
    if end > len(data) - FOOTER_SIZE:
        raise FormatError(f"truncated index: {what} [{offset}, {end}) runs past the end of the table")
    contents = data[offset : offset + size]
    kind = data[offset + size]
    (stored,) = struct.unpack("<I", data[offset + size + 1 : end])
    actual = mask(crc32c(data[offset : offset + size + 1]))
    if stored != actual:
        raise FormatError(
            f"checksum mismatch in {what} (stored {stored:#010x}, computed {actual:#010x}): "
            "the index file is corrupt"
        )
    if kind == SNAPPY:
        raise FormatError(f"{what} is snappy-compressed; only uncompressed indexes are supported")
    if kind != NO_COMPRESSION:
        raise FormatError(f"{what} has unknown compression type {kind}")
    return contents


def iter_block(block: memoryview, what: str) -> Iterator[tuple[bytes, bytes]]:
    """Entries of a block, keys rebuilt from their shared prefixes."""
    if len(block) < 4:
        raise FormatError(f"{what} is too short ({len(block)} bytes)")
    (num_restarts,) = struct.unpack("<I", block[-4:])
    limit = len(block) - 4 - 4 * num_restarts
    if limit < 0:
        raise FormatError(f"{what}: restart array ({num_restarts} entries) exceeds the block")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = decode_varint(block, pos, limit)
        non_shared, pos = decode_varint(block, pos, limit)
        value_len, pos = decode_varint(block, pos, limit)
        if shared > len(key) or pos + non_shared + value_len > limit:
            raise FormatError(f"{what}: corrupt entry at offset {pos}")
        key = key[:shared] + bytes(block[pos : pos + non_shared])
        pos += non_shared
        yield key, bytes(block[pos : pos + value_len])
        pos += value_len


# ---- writing ---------------------------------------------------------------------------------
class BlockBuilder:
    """Accumulates prefix-compressed entries with a restart point every ``interval`` entries."""

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.buf = bytearray()
        self.restarts = [0]
        self.counter = 0
        self.last_key = b""

    def empty(self) -> bool:
        return not self.buf

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self.counter < self.interval:
            limit = min(len(key), len(self.last_key))
            while shared < limit and key[shared] == self.last_key[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buf))
            self.counter = 0
        self.buf += encode_varint(shared) + encode_varint(len(key) - shared)
        self.buf += encode_varint(len(value)) + key[shared:] + value
        self.last_key = key
        self.counter += 1

    def size_estimate(self) -> int:
        return len(self.buf) + 4 * len(self.restarts) + 4

    def finish(self) -> bytes:
        tail = struct.pack(f"<{len(self.restarts)}I", *self.restarts)
        return bytes(self.buf) + tail + struct.pack("<I", len(self.restarts))


def shortest_separator(start: bytes, limit: bytes) -> bytes:
    """A short key k with start <= k < limit (LevelDB's BytewiseComparator rule)."""
    n = min(len(start), len(limit))
    i = 0
    while i < n and start[i] == limit[i]:
        i += 1
    if i < n and start[i] < 0xFF and start[i] + 1 < limit[i]:
        return start[:i] + bytes([start[i] + 1])
    return start


def short_successor(key: bytes) -> bytes:
    """A short key >= ``key``: the first non-0xff byte incremented, the rest dropped."""
    for i, b in enumerate(key):
        if b != 0xFF:
            return key[:i] + bytes([b + 1])
    return key


class TableWriter:
    """Writes sorted (key, value) pairs as an uncompressed SSTable into ``out``."""

    def __init__(self, out: BinaryIO, block_size: int = BLOCK_SIZE) -> None:
        self.out = out
        self.block_size = block_size
        self.offset = 0
        self.data = BlockBuilder(DATA_RESTART_INTERVAL)
        self.index = BlockBuilder(INDEX_RESTART_INTERVAL)
        self.last_key: bytes | None = None
        self.pending: bytes | None = None  # handle of a flushed block awaiting its index key

    def add(self, key: bytes, value: bytes) -> None:
        if self.last_key is not None and key <= self.last_key:
            raise ValueError(f"table keys must be strictly increasing: {key!r}")
        if len(key) + len(value) >= 2 * self.block_size and not self.data.empty():
            self._flush()
        if self.pending is not None:
            assert self.last_key is not None
            self.index.add(shortest_separator(self.last_key, key), self.pending)
            self.pending = None
        self.last_key = key
        self.data.add(key, value)
        if self.data.size_estimate() >= self.block_size:
            self._flush()

    def finish(self) -> None:
        self._flush()
        meta = self._write_block(BlockBuilder(DATA_RESTART_INTERVAL).finish())
        if self.pending is not None:
            assert self.last_key is not None
            self.index.add(short_successor(self.last_key), self.pending)
            self.pending = None
        index = self._write_block(self.index.finish())
        footer = (meta + index).ljust(40, b"\0") + struct.pack("<Q", MAGIC)
        self.out.write(footer)
        self.offset += len(footer)

    def _flush(self) -> None:
        if self.data.empty():
            return
        self.pending = self._write_block(self.data.finish())
        self.data = BlockBuilder(DATA_RESTART_INTERVAL)

    def _write_block(self, contents: bytes) -> bytes:
        """Writes one block with its trailer; returns its encoded BlockHandle."""
        trailer = bytes([NO_COMPRESSION])
        trailer += struct.pack("<I", mask(crc32c(contents + trailer)))
        self.out.write(contents)
        self.out.write(trailer)
        handle = encode_varint(self.offset) + encode_varint(len(contents))
        self.offset += len(contents) + len(trailer)
        return handle
