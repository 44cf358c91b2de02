"""CRC32C (Castagnoli) and the LevelDB/TensorFlow checksum mask.

The checksum is linear over GF(2), so a buffer is split into many equal *lanes* whose CRCs
advance together in numpy (one vectorised table step per 16 bytes of every lane); the lane
CRCs are then merged pairwise with "append n zero bytes" operators. Lanes are 1 KiB, or
shorter for small buffers (down to 16 bytes, as long as there are 32 of them): weights of a
few KiB (biases, norm scales: most tensors of a CNN) were 2-3x slower through the byte-table
loop, which now only takes buffers under 512 bytes and the last few bytes of a tail. Every
gather is ``np.take`` on a contiguous index array (fancy indexing with strided views was up
to several times slower). Large buffers run at about 250-500 MB/s depending on the machine;
from 1 MiB on, a buffer's two halves go to two threads when the process may use two CPUs
(numpy's gathers release the GIL; the halves' CRCs merge like lanes).
When an optional C package (``crc32c``, else ``google_crc32c``; both ~10 GB/s) is importable
it is used instead; neither is required.

Notation: ``raw`` CRCs start from register 0 with no final xor; the public value is
``raw(state=~crc) ^ 0xFFFFFFFF``. ``_zeros(x, n)`` is the register after feeding n zero
bytes from register x; ``crc(s, data) = _zeros(s, len) ^ crc(0, data)``.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

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
_LANE = 1024  # bytes per lane (fewer for small buffers)
_CHUNK = 16 << 20  # bytes per vectorised chunk (bounds the temporaries: ~4x this)
_STEP = 16  # bytes per vectorised step
_MIN_LANES = 32  # below this many lanes numpy's per-call cost outweighs the work
_MIN_LANED = _STEP * _MIN_LANES  # shorter buffers go through the byte loop
_PARALLEL_MIN = 1 << 20  # from this size on, two threads share a buffer


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
    if n < _MIN_LANED:
        return _bytes_loop(state, view)
    return _zeros(state, n) ^ _raw(np.frombuffer(view, dtype=np.uint8))


def _raw(arr: np.ndarray) -> int:
    """Raw CRC of ``arr`` from register 0; a large buffer is split in two halves computed in
    two threads (numpy's gathers release the GIL), then merged with the zeros operator."""
    n = len(arr)
    pool = _pool() if n >= _PARALLEL_MIN else None
    if pool is None:
        return _raw_serial(arr)
    _word_tables()  # build the shared tables once, before the threads use them
    cut = n // 2 // _LANE * _LANE
    second = pool.submit(_raw_serial, arr[cut:])
    first = _raw_serial(arr[:cut])
    return _zeros(first, n - cut) ^ second.result()


def _raw_serial(arr: np.ndarray) -> int:
    n, pos, reg = len(arr), 0, 0
    while n - pos >= _MIN_LANED:  # tails go round again with shorter lanes
        lane = _lane_length(n - pos)
        size = min(_CHUNK // lane, (n - pos) // lane) * lane
        reg = _zeros(reg, size) ^ _lanes_raw(arr[pos : pos + size], size // lane, lane)
        pos += size
    return _bytes_loop(reg, memoryview(arr[pos:]))


@functools.cache
def _pool() -> ThreadPoolExecutor | None:
    """One helper thread when this process may use two CPUs or more (None otherwise)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return ThreadPoolExecutor(1, thread_name_prefix="crc32c") if cpus > 1 else None


def _lane_length(n: int) -> int:
    """The longest lane (fewest serial steps) that still gives enough lanes to vectorise."""
    for lane in (_LANE, 256, 64):
        if n >= lane * _MIN_LANES:
            return lane
    return _STEP


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


def _lanes_raw(data: np.ndarray, lanes: int, lane: int = _LANE) -> int:
    """Raw CRC of ``data`` (``lanes`` * ``lane`` bytes): lane CRCs in parallel, then merged.

    Every gather is ``np.take`` on a contiguous index array: fancy indexing with the strided
    half-word views was several times slower.
    """
    g = _word_tables()
    steps = lane // _STEP
    half = data.view("<u2").reshape(lanes, steps, _STEP // 2)
    # Half-words 2.. of every step do not depend on the running register: look them up in bulk.
    idx = np.empty((lanes, steps), dtype=np.uint16)
    tmp = np.empty((lanes, steps), dtype=np.uint32)
    bulk = np.empty((lanes, steps), dtype=np.uint32)
    np.copyto(idx, half[:, :, 2])
    np.take(g[2], idx, out=bulk)
    for k in range(3, _STEP // 2):
        np.copyto(idx, half[:, :, k])
        np.take(g[k], idx, out=tmp)
        bulk ^= tmp
    # The serial pass reads one step of every lane at a time: make those rows contiguous.
    bulk = np.ascontiguousarray(bulk.T)
    lo = np.ascontiguousarray(half[:, :, 0].T, dtype=np.uint32)
    hi = np.ascontiguousarray(half[:, :, 1].T, dtype=np.uint32)
    reg = np.zeros(lanes, dtype=np.uint32)
    a, b = np.empty_like(reg), np.empty_like(reg)
    g0, g1 = g[0], g[1]
    low16, s16 = np.uint32(0xFFFF), np.uint32(16)
    for j in range(steps):
        np.bitwise_and(reg, low16, out=a)
        a ^= lo[j]
        np.right_shift(reg, s16, out=b)
        b ^= hi[j]
        np.take(g0, a, out=reg)
        reg ^= bulk[j]
        reg ^= np.take(g1, b)
    return _merge_lanes(reg, lane)


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
    """Through the cached power-of-two operators: any ``n`` costs no new matrix."""
    k = 0
    while state and n:
        if n & 1:
            state = _mat_vec(_zeros_columns(1 << k), state)
        n >>= 1
        k += 1
    return state


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
