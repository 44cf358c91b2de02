"""Write a TensorFlow tensor bundle: data shards in add() order, then the sorted index.

The output is byte-identical to TensorFlow's ``SaveV2`` for the same tensors in the same order
(alignment 1, uncompressed index with 256 KiB blocks).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import BinaryIO

import numpy as np

from tensorbridge import ir
from tensorbridge.errors import ModelSaveError
from tensorbridge.protos import tensor_bundle_pb2

from . import _strings
from .crc32c import Crc32c, mask
from .reader import TENSOR_BUNDLE_VERSION, _Verified, data_path, index_path
from .sstable import TableWriter

log = logging.getLogger(__name__)

DEFAULT_SHARD_SIZE = 1 << 30
_CHUNK = 16 << 20


class BundleWriter:
    """``add(key, tensor)`` for each tensor, then ``finish()``; or use it as a context manager."""

    def __init__(self, prefix: str | Path, shard_size: int = DEFAULT_SHARD_SIZE) -> None:
        self.prefix = Path(prefix)
        self.shard_size = shard_size
        self._entries: dict[bytes, tensor_bundle_pb2.BundleEntryProto] = {}
        self._tmp_paths: list[Path] = []
        self._file: BinaryIO | None = None
        self._offset = 0
        self._finished = False
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self._new_shard()

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()

    @property
    def num_shards(self) -> int:
        """Data shards written so far (the last one possibly still open)."""
        return len(self._tmp_paths)

    def add(self, key: str, tensor: object) -> None:
        """Append one tensor's bytes to the current data shard and record its index entry."""
        if self._finished:
            raise ModelSaveError(f"bundle {self.prefix}: add({key!r}) after finish()")
        bkey = key.encode("utf-8", "surrogateescape")
        if not bkey or bkey in self._entries:
            raise ModelSaveError(f"bundle {self.prefix}: empty or duplicate tensor key {key!r}")
        t = ir.as_tensor(tensor, name=key)
        if self._offset >= self.shard_size:
            self._new_shard()
        entry = tensor_bundle_pb2.BundleEntryProto(dtype=t.dtype.tf_code)
        entry.shape.SetInParent()
        for d in t.shape:
            entry.shape.dim.add(size=int(d))
        entry.shard_id = len(self._tmp_paths) - 1
        entry.offset = self._offset
        try:
            size, crc = self._write_data(t)
        except OSError as e:
            raise ModelSaveError(f"bundle {self.prefix}: cannot write {key!r}: {e}") from e
        entry.size = size
        entry.crc32c = mask(crc)
        self._offset += size
        self._entries[bkey] = entry

    def finish(self) -> None:
        """Close the data shards, give them their final names and write the index."""
        if self._finished:
            return
        assert self._file is not None
        self._file.close()
        n = len(self._tmp_paths)
        try:
            for shard, tmp in enumerate(self._tmp_paths):
                os.replace(tmp, data_path(self.prefix, shard, n))
            self._write_index(n)
        except OSError as e:
            raise ModelSaveError(f"bundle {self.prefix}: cannot write: {e}") from e
        self._finished = True
        log.debug("wrote bundle %s: %d tensors in %d shard(s)", self.prefix, len(self._entries), n)

    def abort(self) -> None:
        """Close and delete the temporary data files (the caller cleans its directory)."""
        if self._file is not None:
            self._file.close()
        for tmp in self._tmp_paths:
            tmp.unlink(missing_ok=True)
        self._finished = True

    # ---- helpers ---------------------------------------------------------------------------
    def _new_shard(self) -> None:
        if self._file is not None:
            self._file.close()
        tmp = Path(f"{self.prefix}.data-{len(self._tmp_paths):05d}.tb-tmp")
        try:
            self._file = open(tmp, "wb")
        except OSError as e:
            raise ModelSaveError(f"bundle {self.prefix}: cannot create {tmp}: {e}") from e
        self._tmp_paths.append(tmp)
        self._offset = 0

    def _write_data(self, t: ir.Tensor) -> tuple[int, int]:
        assert self._file is not None
        if t.dtype is ir.DType.STRING:
            pieces, crc = _strings.encode_strings(np.asarray(t.numpy(), dtype=object))
            for p in pieces:
                self._file.write(p)
            return sum(len(p) for p in pieces), crc
        if t.dtype.bits == 0 or t.dtype.is_subbyte or not t.dtype.tf_code:
            raise ModelSaveError(f"tensor {t.name!r}: dtype {t.dtype} cannot be stored in a bundle")
        crc = Crc32c()
        size = 0
        for chunk in _chunks(t):
            crc.update(chunk)
            self._file.write(chunk)
            size += len(chunk)
        if isinstance(t, ir.ExternalTensor) and isinstance(t.decoder, _Verified):
            t.decoder.check(crc.value)  # copied from another bundle: verify its checksum
        return size, crc.value

    def _write_index(self, num_shards: int) -> None:
        header = tensor_bundle_pb2.BundleHeaderProto(num_shards=num_shards)
        header.version.producer = TENSOR_BUNDLE_VERSION
        if sys.byteorder == "big":  # pragma: no cover - we always write little-endian data
            header.endianness = tensor_bundle_pb2.BundleHeaderProto.LITTLE
        final = index_path(self.prefix)
        tmp = Path(f"{final}.tb-tmp")
        with open(tmp, "wb") as f:
            table = TableWriter(f)
            table.add(b"", header.SerializeToString())
            for key in sorted(self._entries):
                table.add(key, self._entries[key].SerializeToString())
            table.finish()
        os.replace(tmp, final)


def _raw_little_endian(t: ir.Tensor) -> bool:
    """True when the tensor's file bytes are already its little-endian bundle payload."""
    if not isinstance(t, ir.ExternalTensor) or t.dtype is ir.DType.STRING:
        return False
    if t.decoder is None:
        return sys.byteorder == "little"
    return isinstance(t.decoder, _Verified) and not t.decoder.swap


def _chunks(t: ir.Tensor):
    """The tensor's little-endian bytes, at most _CHUNK at a time where the source allows."""
    if _raw_little_endian(t):
        raw = t.raw_bytes()  # type: ignore[union-attr]
        for pos in range(0, len(raw), _CHUNK):
            yield raw[pos : pos + _CHUNK]
        return
    arr = np.asarray(t.numpy())
    want = t.dtype.numpy.newbyteorder("<")
    flat = arr.reshape(-1)
    step = max(1, _CHUNK // max(1, want.itemsize))
    for pos in range(0, flat.size, step):
        part = np.ascontiguousarray(flat[pos : pos + step], dtype=want)
        yield memoryview(part.view(np.uint8))
