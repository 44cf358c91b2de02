"""Where the raw_data of each top-level initializer sits inside an .onnx file.

A minimal protobuf wire-format walk (ModelProto.graph = 7, GraphProto.initializer = 5,
TensorProto.name = 8, TensorProto.raw_data = 9) over a memory map, so that large inline
initializers can become lazy ir.ExternalTensor regions of the .onnx file itself.
"""

from __future__ import annotations

import logging
import mmap
from pathlib import Path

logger = logging.getLogger(__name__)

MODEL_GRAPH, GRAPH_INITIALIZER, TENSOR_NAME, TENSOR_RAW = 7, 5, 8, 9


def _varint(buf, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(buf, start: int, end: int):
    """(field number, wire type, payload start, payload end) of each field in [start, end)."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, nxt = _varint(buf, pos)
        elif wire == 1:
            nxt = pos + 8
        elif wire == 5:
            nxt = pos + 4
        elif wire == 2:
            size, pos = _varint(buf, pos)
            nxt = pos + size
        else:
            raise ValueError(f"unsupported wire type {wire} at byte {pos}")
        yield field, wire, pos, nxt
        pos = nxt


def raw_data_regions(path: Path) -> dict[str, tuple[int, int]]:
    """initializer name -> (offset, length) of its raw_data in the file; {} if unparsable."""
    out: dict[str, tuple[int, int]] = {}
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            return out
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            try:
                for field, wire, s, e in _fields(m, 0, len(m)):
                    if field == MODEL_GRAPH and wire == 2:
                        _graph(m, s, e, out)
            except (ValueError, IndexError) as err:
                logger.debug("%s: no initializer offsets (%s)", path, err)
                return {}
    return out


def _graph(m, start: int, end: int, out: dict[str, tuple[int, int]]) -> None:
    for field, wire, s, e in _fields(m, start, end):
        if field != GRAPH_INITIALIZER or wire != 2:
            continue
        name, raw = None, None
        for f2, w2, s2, e2 in _fields(m, s, e):
            if f2 == TENSOR_NAME and w2 == 2:
                name = bytes(m[s2:e2]).decode("utf-8", "replace")
            elif f2 == TENSOR_RAW and w2 == 2:
                raw = (s2, e2 - s2)
        if name is not None and raw is not None:
            out[name] = raw
