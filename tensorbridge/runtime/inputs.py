"""Deterministic model inputs: generated from (name, dtype, shape) specs, or loaded from .npz.

Generation rules (same seed, same name, same shape -> same bytes, on every platform):
- each input has its own generator seeded by ``(seed, crc32(name))``, so adding an input or
  reordering them does not change the others;
- float32/float64/float16/bfloat16: standard normal; the narrow floats (float8, float6, float4):
  uniform in [-2, 2); float8e8m0 (powers of two, positive): uniform in [0.5, 4);
- signed integers: uniform in [-8, 8); unsigned: [0, 16); both clipped to the type's range
  (small values keep index-like inputs mostly in range and still exercise negative arithmetic);
- bool: fair coin; complex: normal real and imaginary parts; string: ``"tok0"``..``"tok15"``;
- dynamic dims: the ``--shape`` override, else DEFAULT_BATCH_DIM (1) for the first dim and
  DEFAULT_DIM (16) for any other; each default used is logged at INFO.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tensorbridge.errors import UsageError
from tensorbridge.ir import DType

logger = logging.getLogger(__name__)

DEFAULT_BATCH_DIM = 1
DEFAULT_DIM = 16
Dim = int | str | None
Spec = tuple[str, DType | None, Sequence[Dim] | None]
_OPAQUE = (DType.RESOURCE, DType.VARIANT)
_NARROW_FLOAT_BITS = 8


def specs_from_signature(signature: Any) -> list[Spec]:
    """``(name, dtype, shape)`` for each input of an ``ir.Signature``, in signature order."""
    return [(name, v.dtype, v.shape) for name, v in signature.inputs.items()]


def parse_shape_overrides(
    items: Iterable[str], known_names: Iterable[str] | None = None
) -> dict[str, tuple[int, ...]]:
    """``["x=1,224,224,3", "mask="]`` -> ``{"x": (1, 224, 224, 3), "mask": ()}``.

    The name is everything before the last ``=``; ``name=`` means a scalar."""
    known = None if known_names is None else list(known_names)
    out: dict[str, tuple[int, ...]] = {}
    for item in items:
        name, eq, dims = item.rpartition("=")
        if not eq or not name:
            raise UsageError(f"bad --shape {item!r}: expected NAME=D0,D1,... (e.g. x=1,224,224,3)")
        if name in out:
            raise UsageError(f"--shape given twice for {name!r}")
        if known is not None and name not in known:
            raise UsageError(
                f"--shape {item!r}: no input named {name!r} (inputs: {', '.join(known)})"
            )
        out[name] = _parse_dims(item, dims)
    return out


def _parse_dims(item: str, dims: str) -> tuple[int, ...]:
    if not dims.strip():
        return ()
    try:
        values = tuple(int(d) for d in dims.split(","))
    except ValueError:
        raise UsageError(
            f"bad --shape {item!r}: dims must be comma-separated integers (e.g. x=1,224,224,3)"
        ) from None
    if any(d < 0 for d in values):
        raise UsageError(f"bad --shape {item!r}: dims must be >= 0")
    return values


def resolve_shape(name: str, shape: Sequence[Dim] | None, override: Sequence[int] | None):
    """The concrete shape of input ``name``: the override (checked against the static dims),
    else the static dims with defaults for the dynamic ones."""
    if override is not None:
        _check_override(name, shape, tuple(override))
        return tuple(int(d) for d in override)
    if shape is None:
        raise UsageError(f"input {name!r} has unknown rank: give its shape with --shape {name}=...")
    dims, defaults = [], []
    for i, d in enumerate(shape):
        if isinstance(d, int) and d >= 0:
            dims.append(d)
            continue
        dims.append(DEFAULT_BATCH_DIM if i == 0 else DEFAULT_DIM)
        defaults.append(f"dim {i} ({d if d is not None else '?'}) -> {dims[-1]}")
    if defaults:
        logger.info("input %r: dynamic %s; override with --shape %s=...",
                    name, ", ".join(defaults), name)  # fmt: skip
    return tuple(dims)


def _check_override(name: str, shape: Sequence[Dim] | None, override: tuple[int, ...]) -> None:
    if shape is None:
        return
    if len(shape) != len(override):
        raise UsageError(
            f"--shape {name}: rank {len(override)} given, but the input has rank {len(shape)} "
            f"({_fmt(shape)})"
        )
    for i, (d, o) in enumerate(zip(shape, override)):
        if isinstance(d, int) and d >= 0 and d != o:
            raise UsageError(
                f"--shape {name}: dim {i} is fixed at {d} in the model ({_fmt(shape)}), not {o}"
            )


def _fmt(shape: Sequence[Dim]) -> str:
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def make_inputs(
    specs: Iterable[Spec],
    seed: int = 0,
    shapes: Mapping[str, Sequence[int]] | None = None,
) -> dict[str, np.ndarray]:
    """Seeded inputs for every ``(name, dtype, shape)`` spec, in spec order."""
    specs = list(specs)
    shapes = dict(shapes or {})
    unknown = [n for n in shapes if n not in {s[0] for s in specs}]
    if unknown:
        names = ", ".join(s[0] for s in specs)
        raise UsageError(f"--shape for unknown input(s) {', '.join(unknown)} (inputs: {names})")
    out: dict[str, np.ndarray] = {}
    for name, dtype, shape in specs:
        concrete = resolve_shape(name, shape, shapes.get(name))
        rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
        out[name] = random_array(name, dtype, concrete, rng)
    return out


def random_array(name: str, dtype: DType | None, shape: tuple[int, ...], rng) -> np.ndarray:
    """One array of ``dtype`` and ``shape`` drawn from ``rng`` by the rules in the module doc."""
    if dtype is None or dtype in _OPAQUE:
        raise UsageError(f"input {name!r}: cannot generate values of type {dtype}; use --inputs")
    if dtype is DType.STRING:
        words = np.array([f"tok{i}" for i in range(16)], dtype=object)
        return words[rng.integers(0, 16, size=shape)]
    if dtype is DType.BOOL:
        return rng.random(shape) < 0.5
    if dtype.is_complex:
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype.numpy)
    if dtype.is_floating:
        return _random_float(dtype, shape, rng)
    if dtype.is_integer:
        return _random_int(dtype, shape, rng)
    raise UsageError(f"input {name!r}: cannot generate values of type {dtype}")


def _random_float(dtype: DType, shape: tuple[int, ...], rng) -> np.ndarray:
    if dtype is DType.FLOAT8E8M0:
        return rng.uniform(0.5, 4.0, size=shape).astype(dtype.numpy)
    if dtype.bits <= _NARROW_FLOAT_BITS:
        return rng.uniform(-2.0, 2.0, size=shape).astype(dtype.numpy)
    return rng.standard_normal(shape).astype(dtype.numpy)


def _random_int(dtype: DType, shape: tuple[int, ...], rng) -> np.ndarray:
    import ml_dtypes

    info = ml_dtypes.iinfo(dtype.numpy) if dtype.is_subbyte else np.iinfo(dtype.numpy)
    low, high = (-8, 8) if int(info.min) < 0 else (0, 16)
    low, high = max(low, int(info.min)), min(high, int(info.max) + 1)
    return rng.integers(low, high, size=shape, dtype=np.int64).astype(dtype.numpy)


def load_npz(
    path: str | Path,
    expected_names: Iterable[str],
    expected_dtypes: Mapping[str, DType | None] | None = None,
) -> dict[str, np.ndarray]:
    """Inputs from an ``.npz`` whose keys are exactly ``expected_names``, checking dtypes
    against ``expected_dtypes`` where given. Unicode string arrays become object arrays."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read inputs: {e}") from e
    names = list(expected_names)
    missing = [n for n in names if n not in arrays]
    extra = [n for n in arrays if n not in names]
    if missing or extra:
        raise UsageError(
            f"{path}: inputs do not match the model: missing {missing or 'none'}, "
            f"unexpected {extra or 'none'} (model inputs: {', '.join(names)})"
        )
    dtypes = dict(expected_dtypes or {})
    return {n: _check_dtype(path, n, arrays[n], dtypes.get(n)) for n in names}


def _check_dtype(path: Path, name: str, arr: np.ndarray, want: DType | None) -> np.ndarray:
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    if want is None:
        return arr
    if want is DType.STRING:
        ok = arr.dtype.kind == "O"
    elif arr.dtype.kind == "V" and arr.dtype.itemsize == want.numpy.itemsize and want.bits >= 8:
        arr, ok = arr.view(want.numpy), True  # ml_dtypes arrays come back from .npz as raw void
    else:
        ok = arr.dtype == want.numpy
    if not ok:
        raise UsageError(f"{path}: input {name!r} has dtype {arr.dtype}, the model wants {want}")
    return arr


def match_feeds(names: Sequence[str], feeds: Mapping[str, Any]) -> dict[str, Any]:
    """``feeds`` keyed by the model's input ``names``: exact names first, then ``x:0`` == ``x``
    (a SavedModel signature key vs an ONNX graph input name). Unmatched names are left out, so
    the session names what is missing."""
    from .compare import normalize_name

    by_norm = {normalize_name(k): k for k in feeds}
    out = {}
    for n in names:
        key = n if n in feeds else by_norm.get(normalize_name(n))
        if key is not None:
            out[n] = feeds[key]
    return out
