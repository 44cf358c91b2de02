"""CRC32C (Castagnoli) and the LevelDB/TensorFlow checksum mask.

The checksum is linear over GF(2), so a large buffer is split into many equal *lanes* whose
CRCs advance together in numpy (one vectorised table step per 16 bytes of every lane); the
lane CRCs are then merged pairwise with "append n zero bytes" operators. Small buffers and
tails go through a plain byte-table loop (about 500 MB/s on large buffers). When an optional
C package (``crc32c``, else ``google_crc32c``; both ~10 GB/s) is importable it is used
instead; neither is required.

Notation: ``raw`` CRCs start from register 0 with no final xor; the public value is
``raw(state=~crc) ^ 0xFFFFFFFF``. ``_zeros(x, n)`` is the register after feeding n zero
bytes from register x; ``crc(s, data) = _zeros(s, len) ^ crc(0, data)``.
"""

from __future__ import annotations

import functools

import numpy as np

_accel = None  # optional C accelerators (~10 GB/s), never hard dependencies
try:
    import crc32c as _icrar  # type: ignore[import-not-found]

    def _accel(data: memoryview, crc: int) -> int:
        return int(_icrar.crc32c(data, crc))

    ACCELERATOR: str | None = "crc32c"
except ImportError:  # pragma: no cover - depends on the environment
    try:
        import google_crc32c as _google  # type: ignore[import-not-found]

        def _accel(data: memoryview, crc: int) -> int:
            step = 1 << 24  # it only takes bytes: copy a bounded chunk at a time
            for pos in range(0, len(data), step):
                crc = int(_google.extend(crc, bytes(data[pos : pos + step])))
            return crc

        ACCELERATOR = "google_crc32c"
    except ImportError:
        ACCELERATOR = None

__all__ = ["crc32c", "extend", "mask", "unmask", "Crc32c", "ACCELERATOR"]

POLY = 0x82F63B78  # reflected 0x1EDC6F41
MASK_DELTA = 0xA282EAD8
_M32 = 0xFFFFFFFF
_LANE = 1024  # bytes per lane
_LANES = 16384  # lanes per chunk (16 MiB chunks)
_STEP = 16  # bytes per vectorised step
_SMALL = 16 * _LANE  # below this, the byte loop is faster


def _byte_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
        table.append(c)
    return table


_T = _byte_table()
_T_NP = np.array(_T, dtype=np.uint32)


def mask(crc: int) -> int:
    """Rotate right by 15 and add a constant (LevelDB's masked CRC)."""
    crc &= _M32
    return (((crc >> 15) | (crc << 17)) + MASK_DELTA) & _M32


def unmask(masked: int) -> int:
    rot = (masked - MASK_DELTA) & _M32
    return ((rot >> 17) | (rot << 15)) & _M32


def crc32c(data: bytes | bytearray | memoryview | np.ndarray, crc: int = 0) -> int:
    """CRC32C of ``data``; pass a previous result as ``crc`` to extend it over more data."""
    view = memoryview(data).cast("B") if not isinstance(data, np.ndarray) else None
    if view is None:
        view = memoryview(np.ascontiguousarray(data).view(np.uint8).reshape(-1))
    if _accel is not None and len(view) >= 64:
        return _accel(view, crc)
    state = (crc ^ _M32) & _M32
    return _extend_raw(state, view) ^ _M32


extend = crc32c


class Crc32c:
    """A running CRC32C: ``update(chunk)`` repeatedly, then ``value``."""

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def update(self, data: bytes | bytearray | memoryview | np.ndarray) -> Crc32c:
        self.value = crc32c(data, self.value)
        return self


# ---- pure implementation -------------------------------------------------------------------
def _extend_raw(state: int, view: memoryview) -> int:
    """Register after feeding ``view`` from register ``state`` (no pre/post inversion)."""
    n = len(view)
    if n < _SMALL:
        return _bytes_loop(state, view)
    arr = np.frombuffer(view, dtype=np.uint8)
    pos = 0
    while n - pos >= _SMALL:
        lanes = min(_LANES, (n - pos) // _LANE)
        size = lanes * _LANE
        raw = _lanes_raw(arr[pos : pos + size], lanes)
        state = _zeros(state, size) ^ raw
        pos += size
    return _bytes_loop(state, view[pos:])


def _bytes_loop(state: int, view: memoryview) -> int:
    t = _T
    for b in bytes(view):
        state = (state >> 8) ^ t[(state ^ b) & 0xFF]
    return state


@functools.cache
def _word_tables() -> np.ndarray:
    """G[k][v] = _zeros(v, _STEP - 2k) for every 16-bit v; k indexes the step's half-words."""
    v = np.arange(65536, dtype=np.uint32)
    out = np.empty((_STEP // 2, 65536), dtype=np.uint32)
    x = v.copy()
    for n in range(1, _STEP + 1):
        x = (x >> np.uint32(8)) ^ _T_NP[x & np.uint32(0xFF)]
        if n % 2 == 0:
            out[(_STEP - n) // 2] = x
    return out


def _lanes_raw(data: np.ndarray, lanes: int) -> int:
    """Raw CRC of ``data`` (``lanes`` * _LANE bytes): lane CRCs in parallel, then merged."""
    g = _word_tables()
    half = data.view("<u2").reshape(lanes, _LANE // _STEP, _STEP // 2)
    # Half-words 2.. of every step do not depend on the running register: look them up in bulk.
    bulk = g[2][half[:, :, 2]]
    for k in range(3, _STEP // 2):
        bulk ^= g[k][half[:, :, k]]
    lo = np.ascontiguousarray(half[:, :, 0].T)
    hi = np.ascontiguousarray(half[:, :, 1].T)
    bulk = np.ascontiguousarray(bulk.T)
    reg = np.zeros(lanes, dtype=np.uint32)
    g0, g1 = g[0], g[1]
    s16 = np.uint32(16)
    for j in range(_LANE // _STEP):
        a = (reg & np.uint32(0xFFFF)).astype(np.uint16) ^ lo[j]
        b = (reg >> s16).astype(np.uint16) ^ hi[j]
        reg = g0[a] ^ g1[b] ^ bulk[j]
    return _merge_lanes(reg, _LANE)


def _merge_lanes(regs: np.ndarray, length: int) -> int:
    """Merge raw CRCs of consecutive equal-length lanes into the raw CRC of their concatenation."""
    n = len(regs)
    width = 1 << (n - 1).bit_length()
    if width != n:  # leading zero lanes from register 0 contribute nothing
        regs = np.concatenate([np.zeros(width - n, dtype=np.uint32), regs])
    while len(regs) > 1:
        regs = _apply_zeros(regs[0::2], length) ^ regs[1::2]
        length *= 2
    return int(regs[0])


# ---- "append n zero bytes" as a GF(2) linear operator -------------------------------------
@functools.cache
def _zeros_columns(n: int) -> tuple[int, ...]:
    """Images of the 32 unit registers after n zero bytes."""
    if n == 0:
        return tuple(1 << i for i in range(32))
    if n == 1:
        return tuple((1 << i >> 8) ^ _T[(1 << i) & 0xFF] for i in range(32))
    half = _zeros_columns(n // 2)
    cols = tuple(_mat_vec(half, c) for c in half)
    if n % 2:
        one = _zeros_columns(1)
        cols = tuple(_mat_vec(one, c) for c in cols)
    return cols


def _mat_vec(cols: tuple[int, ...], vec: int) -> int:
    out = 0
    i = 0
    while vec:
        if vec & 1:
            out ^= cols[i]
        vec >>= 1
        i += 1
    return out


def _zeros(state: int, n: int) -> int:
    return _mat_vec(_zeros_columns(n), state) if state else 0


@functools.cache
def _zeros_tables(n: int) -> np.ndarray:
    """Per-byte lookup tables (4 x 256) of the n-zero-bytes operator, for numpy arrays."""
    cols = np.array(_zeros_columns(n), dtype=np.uint32)
    b = np.arange(256, dtype=np.uint32)
    tables = np.zeros((4, 256), dtype=np.uint32)
    for k in range(4):
        for bit in range(8):
            sel = ((b >> np.uint32(bit)) & np.uint32(1)).astype(bool)
            tables[k][sel] ^= cols[8 * k + bit]
    return tables


def _apply_zeros(regs: np.ndarray, n: int) -> np.ndarray:
    t = _zeros_tables(n)
    out = t[0][regs & np.uint32(0xFF)]
    for k in range(1, 4):
        out ^= t[k][(regs >> np.uint32(8 * k)) & np.uint32(0xFF)]
    return out
