"""Read a TensorFlow tensor bundle (``<prefix>.index`` + ``<prefix>.data-*``) lazily.

``BundleReader(prefix).tensor(key)`` returns an :class:`ir.ExternalTensor` over the data file
region; its checksum is verified once, the first time the values are materialised.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np

from tensorbridge import ir
from tensorbridge.errors import ModelLoadError
from tensorbridge.protos import tensor_bundle_pb2

from . import _slices, _strings
from .crc32c import Crc32c, unmask
from .sstable import FormatError, read_table

log = logging.getLogger(__name__)

TENSOR_BUNDLE_VERSION = 1  # producer version we understand (kTensorBundleVersion)
TENSOR_BUNDLE_MIN_PRODUCER = 0
_STREAM_CHUNK = 16 << 20


def data_path(prefix: str | Path, shard: int, num_shards: int) -> Path:
    return Path(f"{prefix}.data-{shard:05d}-of-{num_shards:05d}")


def index_path(prefix: str | Path) -> Path:
    return Path(f"{prefix}.index")


class _Verified:
    """ExternalTensor decoder: checks the entry's crc32c on first use, then decodes."""

    def __init__(self, key: str, path: Path, crc: int, swap: bool) -> None:
        self.key, self.path, self.crc, self.swap = key, path, crc, swap
        self.verified = False

    def __call__(self, raw: memoryview, dtype: ir.DType, shape: tuple[int, ...]) -> np.ndarray:
        if dtype is ir.DType.STRING:
            try:
                arr, crc = _strings.decode_strings(raw, shape, check=not self.verified)
            except FormatError as e:
                raise _bad(self.path, self.key, str(e)) from None
            self.check(crc)
            return arr
        if not self.verified:
            self.check(Crc32c().update(raw).value)
        order = ">" if self.swap else "<"
        arr = np.frombuffer(raw, dtype.numpy.newbyteorder(order)).reshape(shape)
        return arr.astype(dtype.numpy, copy=True)  # native order, and no reference to raw

    def check(self, actual: int) -> None:
        if self.verified:
            return
        if actual != self.crc:
            raise _bad(
                self.path,
                self.key,
                f"checksum mismatch (stored {self.crc:#010x}, computed {actual:#010x})",
            )
        self.verified = True


class BundleReader:
    """The index of a tensor bundle; tensors are read on demand."""

    def __init__(self, prefix: str | Path) -> None:
        self.prefix = Path(prefix)
        self.index_path = index_path(prefix)
        if not self.index_path.is_file():
            raise ModelLoadError(
                "tensor-bundle index not found",
                path=self.index_path,
                hint="a SavedModel keeps its variables in variables/variables.index",
            )
        rows = read_table(self.index_path)
        if not rows or rows[0][0] != b"":
            raise ModelLoadError("index has no header entry (empty key)", path=self.index_path)
        self.header = self._parse_header(rows[0][1])
        self.num_shards = self.header.num_shards
        self.swap = (self.header.endianness == tensor_bundle_pb2.BundleHeaderProto.BIG) != (
            sys.byteorder == "big"
        )
        self._entries: dict[str, tensor_bundle_pb2.BundleEntryProto] = {}
        self._slices: dict[bytes, tensor_bundle_pb2.BundleEntryProto] = {}
        for key, value in rows[1:]:
            self._add_entry(key, value)
        self._check_shards()
        log.debug("read bundle index %s: %d entries", self.index_path, len(self._entries))

    # ---- index -----------------------------------------------------------------------------
    def _parse_header(self, value: bytes) -> tensor_bundle_pb2.BundleHeaderProto:
        header = tensor_bundle_pb2.BundleHeaderProto()
        try:
            header.ParseFromString(value)
        except Exception as e:  # protobuf's DecodeError
            raise ModelLoadError(f"bad bundle header: {e}", path=self.index_path) from None
        v = header.version
        if (
            v.producer < TENSOR_BUNDLE_MIN_PRODUCER
            or v.min_consumer > TENSOR_BUNDLE_VERSION
            or (TENSOR_BUNDLE_VERSION in v.bad_consumers)
        ):
            raise ModelLoadError(
                f"unsupported bundle version (producer {v.producer}, min_consumer "
                f"{v.min_consumer}); this reader is version {TENSOR_BUNDLE_VERSION}",
                path=self.index_path,
            )
        if header.num_shards < 1:
            raise ModelLoadError(f"bad num_shards {header.num_shards}", path=self.index_path)
        return header

    def _add_entry(self, key: bytes, value: bytes) -> None:
        entry = tensor_bundle_pb2.BundleEntryProto()
        name = key.decode("utf-8", "surrogateescape")
        try:
            entry.ParseFromString(value)
        except Exception as e:
            raise _bad(self.index_path, name, f"bad BundleEntryProto: {e}") from None
        if _slices.is_slice_key(key):
            self._slices[key] = entry
            return
        if not entry.slices and entry.shard_id >= self.num_shards:
            raise _bad(self.index_path, name, f"shard {entry.shard_id} >= num_shards {self.num_shards}")
        self._entries[name] = entry

    def _check_shards(self) -> None:
        sizes = []
        for shard in range(self.num_shards):
            path = data_path(self.prefix, shard, self.num_shards)
            try:
                sizes.append(os.stat(path).st_size)
            except OSError:
                raise ModelLoadError(
                    f"data file {path.name} is missing",
                    path=path,
                    hint=f"the index lists {self.num_shards} data shard(s) next to it",
                ) from None
        for key, e in self._entries.items():
            if not e.slices and e.offset + e.size > sizes[e.shard_id]:
                path = data_path(self.prefix, e.shard_id, self.num_shards)
                raise _bad(
                    path,
                    key,
                    f"region [{e.offset}, {e.offset + e.size}) is past the end of the data "
                    f"file ({sizes[e.shard_id]} bytes): truncated data file",
                )

    # ---- public API ------------------------------------------------------------------------
    def keys(self) -> list[str]:
        """Tensor names in index (bytewise) order; slice sub-entries are not listed."""
        return list(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def entry(self, key: str) -> tensor_bundle_pb2.BundleEntryProto:
        try:
            return self._entries[key]
        except KeyError:
            raise ModelLoadError(f"no tensor {key!r} in the bundle", path=self.index_path) from None

    def dtype(self, key: str) -> ir.DType:
        return self._dtype(key, self.entry(key))

    def shape(self, key: str) -> tuple[int, ...]:
        return _shape(self.entry(key))

    def tensor(self, key: str) -> ir.Tensor:
        """The tensor, lazily: nothing is read from the data file until its values are used."""
        entry = self.entry(key)
        if entry.slices:
            from ._assemble import assemble

            return assemble(self, key, entry)
        return self._region(key, entry)

    def verify_all(self) -> None:
        """Stream every tensor's bytes and check its crc32c (raises ModelLoadError)."""
        for key, entry in self._entries.items():
            if not entry.slices:
                self._verify(key, entry)
        for key, entry in self._slices.items():
            self._verify(key.decode("utf-8", "surrogateescape"), entry)

    # ---- helpers ---------------------------------------------------------------------------
    def _region(self, key: str, entry: tensor_bundle_pb2.BundleEntryProto) -> ir.ExternalTensor:
        dtype = self._dtype(key, entry)
        shape = _shape(entry)
        path = data_path(self.prefix, entry.shard_id, self.num_shards)
        if dtype is not ir.DType.STRING:
            want = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if dtype.bits == 0 or dtype.is_subbyte:
                raise _bad(self.index_path, key, f"dtype {dtype} cannot be read from a bundle")
            if entry.size != want:
                raise _bad(
                    self.index_path,
                    key,
                    f"size mismatch: {entry.size} bytes for {dtype}{list(shape)} ({want} expected)",
                )
        decoder = _Verified(key, path, unmask(entry.crc32c), self.swap)
        return ir.ExternalTensor(path, entry.offset, entry.size, dtype, shape, decoder=decoder, name=key)

    def _dtype(self, key: str, entry: tensor_bundle_pb2.BundleEntryProto) -> ir.DType:
        try:
            return ir.DType.from_tf(entry.dtype)
        except ValueError as e:
            raise _bad(self.index_path, key, str(e)) from None

    def _verify(self, key: str, entry: tensor_bundle_pb2.BundleEntryProto) -> None:
        tensor = self._region(key, entry)
        if tensor.dtype is ir.DType.STRING:
            tensor.numpy()  # the string decoder checks both of its checksums
            return
        crc = Crc32c()
        with open(tensor.path, "rb") as f:
            f.seek(tensor.offset)
            left = tensor.length
            while left:
                chunk = f.read(min(left, _STREAM_CHUNK))
                if not chunk:
                    raise _bad(tensor.path, key, "truncated data file")
                crc.update(chunk)
                left -= len(chunk)
        tensor.decoder.check(crc.value)  # type: ignore[union-attr]


def _shape(entry: tensor_bundle_pb2.BundleEntryProto) -> tuple[int, ...]:
    return tuple(int(d.size) for d in entry.shape.dim)


def _bad(path: Path, key: str, message: str) -> ModelLoadError:
    return ModelLoadError(f"tensor {key!r}: {message}", path=path)
