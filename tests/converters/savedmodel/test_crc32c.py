"""CRC32C: every path of the pure implementation (byte loop, short and long lanes, chunk
tails) against a bit-by-bit reference, including extension from a previous value."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

crc_mod = importlib.import_module("tensorbridge.converters.savedmodel.bundle.crc32c")


def _bitwise(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def _pure(data, crc: int = 0) -> int:
    """The numpy implementation, even when an accelerator package is installed."""
    view = memoryview(data).cast("B")
    return crc_mod._extend_raw((crc ^ 0xFFFFFFFF) & 0xFFFFFFFF, view) ^ 0xFFFFFFFF


@pytest.mark.parametrize("n", [0, 1, 15, 511, 512, 513, 1040, 2048, 8191, 32768, 40000, 70001])
def test_pure_crc_matches_the_bitwise_definition(n):
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    assert _pure(data) == _bitwise(data)
    cut = n // 3
    assert _pure(data[cut:], _pure(data[:cut])) == _bitwise(data)


def test_pure_crc_over_several_chunks(monkeypatch):
    monkeypatch.setattr(crc_mod, "_CHUNK", 1 << 14)  # many chunks plus a shorter-lane tail
    data = np.random.default_rng(7).integers(0, 256, (1 << 16) + 777, dtype=np.uint8).tobytes()
    ref = crc_mod._bytes_loop(0xFFFFFFFF, memoryview(data)) ^ 0xFFFFFFFF
    assert _pure(data) == ref


def test_zeros_operator_for_any_length():
    for n in (1, 2, 3, 100, 1023, 65537):
        state = 0x12345678
        step = state
        for _ in range(n):
            step = crc_mod._bytes_loop(step, memoryview(b"\0"))
        assert crc_mod._zeros(state, n) == step


def test_pure_crc_split_over_two_threads(monkeypatch):
    monkeypatch.setattr(crc_mod, "_PARALLEL_MIN", 4096)
    for n in (4096, 5000, 70001):
        data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
        ref = crc_mod._bytes_loop(0xFFFFFFFF, memoryview(data)) ^ 0xFFFFFFFF
        assert _pure(data) == ref
        assert _pure(data[7:], _pure(data[:7])) == ref
