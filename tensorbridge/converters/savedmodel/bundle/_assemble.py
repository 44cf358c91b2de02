"""Reassemble a partitioned (sliced) variable from its slice entries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tensorbridge import ir
from tensorbridge.errors import ModelLoadError

from . import _slices
from .sstable import FormatError

if TYPE_CHECKING:
    from tensorbridge.protos import tensor_bundle_pb2

    from .reader import BundleReader


def assemble(reader: BundleReader, key: str, entry: tensor_bundle_pb2.BundleEntryProto) -> ir.LazyTensor:
    """A lazy tensor that reads every slice of ``key`` and places it in the full array."""
    dtype = reader._dtype(key, entry)
    shape = tuple(int(d.size) for d in entry.shape.dim)
    parts = _find_slices(reader, key, shape)
    if len(parts) != len(entry.slices):
        raise _refuse(reader, key, f"{len(entry.slices)} slices listed, {len(parts)} found")
    covered = sum(int(np.prod([n for _, n in ext], dtype=np.int64)) for ext, _ in parts)
    if covered != int(np.prod(shape, dtype=np.int64)):
        raise _refuse(reader, key, "the slices do not tile the full tensor")

    def build() -> np.ndarray:
        out = np.empty(shape, dtype=dtype.numpy)
        for ext, tensor in parts:
            region = tuple(slice(s, s + n) for s, n in ext)
            out[region] = tensor.numpy().reshape([n for _, n in ext])
        return out

    return ir.LazyTensor(build, dtype, shape, name=key)


def _find_slices(reader: BundleReader, key: str, shape: tuple[int, ...]) -> list:
    parts = []
    for skey, sentry in reader._slices.items():
        try:
            name, extents = _slices.decode_slice_key(skey)
        except FormatError as e:
            raise _refuse(reader, key, str(e)) from None
        if name != key:
            continue
        if len(extents) != len(shape):
            raise _refuse(reader, key, f"slice of rank {len(extents)}")
        ext = [(s, n) if n != -1 else (0, dim) for (s, n), dim in zip(extents, shape)]
        label = skey.decode("utf-8", "surrogateescape")
        parts.append((ext, reader._region(label, sentry)))
    return parts


def _refuse(reader: BundleReader, key: str, why: str) -> ModelLoadError:
    return ModelLoadError(
        f"partitioned variable {key!r} cannot be reassembled: {why}", path=reader.index_path
    )
