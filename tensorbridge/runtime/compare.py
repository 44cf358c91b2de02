"""Output comparison: per-output statistics under per-dtype tolerances.

An element passes when ``|actual - expected| <= atol + rtol * |expected|`` (numpy's allclose
rule, computed in float64 / complex128), or when both are NaN, or both are the same infinity.
Default tolerances (atol, rtol), chosen a few units in the last place above each type's epsilon:

======================  ========  ========
float64, complex128     1e-8      1e-7
float32, complex64      1e-5      1e-4
float16                 1e-3      1e-2
bfloat16                1e-2      5e-2
float8/float6/float4    2.5e-1    5e-1
integers                0         0
bool, string            exact     exact (overrides never apply)
======================  ========  ========

On a GPU (``gpu=True``: a side ran on CUDAExecutionProvider) the float defaults widen:
kernels reorder sums, fuse ops and may use TF32 tensor cores for float32 matmuls and
convolutions (ORT's CUDA provider does by default on Ampere and newer), and float16 kernels
accumulate in float16. GPU defaults: float32 1e-3/1e-3, float16 1e-2/1e-2,
bfloat16 5e-2/5e-2; float64 and the others keep the table above.

``atol``/``rtol`` overrides (``--atol/--rtol``) replace the defaults for floating, complex and
integer outputs (quantized models are often off by one). Max relative error is taken over the
elements whose expected value is non-zero; both maxima ignore NaN/inf positions, which must
match exactly. Outputs are matched by name, treating ``y:0`` and ``y`` as the same name; when
exactly one output of each side is left unmatched (a SavedModel signature key such as
``output_0`` against a graph tensor name such as ``dense_1/Softmax:0``) and both have the same
shape and dtype, those two are paired and the row shows both names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tensorbridge.errors import NumericMismatchError
from tensorbridge.ir import DType

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_TOLERANCES: dict[DType, tuple[float, float]] = {
    DType.DOUBLE: (1e-8, 1e-7),
    DType.COMPLEX128: (1e-8, 1e-7),
    DType.FLOAT: (1e-5, 1e-4),
    DType.COMPLEX64: (1e-5, 1e-4),
    DType.FLOAT16: (1e-3, 1e-2),
    DType.BFLOAT16: (1e-2, 5e-2),
}
GPU_TOLERANCES: dict[DType, tuple[float, float]] = {
    DType.FLOAT: (1e-3, 1e-3),
    DType.COMPLEX64: (1e-3, 1e-3),
    DType.FLOAT16: (1e-2, 1e-2),
    DType.BFLOAT16: (5e-2, 5e-2),
}
NARROW_FLOAT_TOLERANCE = (2.5e-1, 5e-1)
EXACT = (0.0, 0.0)


def default_tolerance(dtype: DType | None, gpu: bool = False) -> tuple[float, float]:
    """(atol, rtol) for ``dtype`` by the tables in the module docstring."""
    if gpu and dtype in GPU_TOLERANCES:
        return GPU_TOLERANCES[dtype]
    if dtype in DEFAULT_TOLERANCES:
        return DEFAULT_TOLERANCES[dtype]
    if dtype is not None and dtype.is_floating:
        return NARROW_FLOAT_TOLERANCE
    return EXACT


def tolerance_for(dtype: DType | None, atol: float | None, rtol: float | None, gpu: bool = False):
    """Defaults for ``dtype`` with the overrides applied (never to bool or string)."""
    d_atol, d_rtol = default_tolerance(dtype, gpu)
    if dtype in (DType.BOOL, DType.STRING) or dtype is None:
        return EXACT
    return (d_atol if atol is None else atol, d_rtol if rtol is None else rtol)


def normalize_name(name: str) -> str:
    """``y:0`` -> ``y`` (a TF tensor name's first output); other names unchanged."""
    return name[:-2] if name.endswith(":0") else name


@dataclass
class OutputComparison:
    """One row of a comparison report."""

    name: str
    actual_name: str | None
    expected_shape: list[int] | None
    actual_shape: list[int] | None
    expected_dtype: str | None
    actual_dtype: str | None
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    mismatches: int | None = None
    total: int | None = None
    atol: float | None = None
    rtol: float | None = None
    passed: bool = False
    reason: str = ""


@dataclass
class CompareReport:
    """All rows, in expected-output order, then outputs only the actual side has."""

    rows: list[OutputComparison] = field(default_factory=list)
    atol: float | None = None
    rtol: float | None = None

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; the keys are a stable schema identified by ``schema_version``."""
        return {
            "schema_version": SCHEMA_VERSION,
            "ok": self.ok,
            "atol_override": self.atol,
            "rtol_override": self.rtol,
            "outputs": [{k: _json_value(v) for k, v in asdict(r).items()} for r in self.rows],
        }

    def summary(self) -> str:
        failed = [r.name for r in self.rows if not r.passed]
        if not failed:
            return f"outputs match: {len(self.rows)} of {len(self.rows)} within tolerance"
        return f"outputs differ: {len(failed)} of {len(self.rows)} failed ({', '.join(failed)})"

    def table(self) -> str:
        from .report import format_table

        return format_table(self.rows)

    def raise_if_failed(self) -> None:
        """Raise NumericMismatchError (exit code 4) carrying this report when not ok."""
        if not self.ok:
            raise NumericMismatchError(self.summary(), report=self)


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not np.isfinite(v):
        return str(v)  # "inf" / "nan": strict JSON has no such numbers
    return v


def compare_outputs(
    expected: Mapping[str, Any],
    actual: Mapping[str, Any],
    atol: float | None = None,
    rtol: float | None = None,
    *,
    gpu: bool = False,
) -> CompareReport:
    """Compare ``actual`` against ``expected`` output by output (see the module docstring)."""
    report = CompareReport(atol=atol, rtol=rtol)
    def same_kind(e: str, a: str) -> bool:
        x, y = np.asarray(expected[e]), np.asarray(actual[a])
        return x.shape == y.shape and x.dtype == y.dtype

    pairs, extra = _match_names(list(expected), list(actual), same_kind)
    for name, actual_name in pairs:
        exp = np.asarray(expected[name])
        act = None if actual_name is None else np.asarray(actual[actual_name])
        row = compare_arrays(name, exp, act, actual_name, atol=atol, rtol=rtol, gpu=gpu)
        report.rows.append(row)
    for actual_name in extra:
        act = np.asarray(actual[actual_name])
        report.rows.append(OutputComparison(
            actual_name, actual_name, None, list(act.shape), None, dtype_name(act),
            reason="missing in expected: output only the actual model produces",
        ))  # fmt: skip
    logger.info("compare: %s", report.summary())
    return report


def _match_names(expected: list[str], actual: list[str], same_kind=lambda e, a: True):
    """Pairs (expected name, actual name or None) and the unmatched actual names.
    Exact names match first; then ``:0``-normalized names; then the last one left on each side."""
    remaining = [a for a in actual if a not in expected]
    pairs: list[tuple[str, str | None]] = []
    for name in expected:
        if name in actual:
            pairs.append((name, name))
            continue
        match = next((a for a in remaining if normalize_name(a) == normalize_name(name)), None)
        if match is not None:
            remaining.remove(match)
        pairs.append((name, match))
    unmatched = [k for k, (_, a) in enumerate(pairs) if a is None]
    if len(unmatched) == 1 and len(remaining) == 1:  # one output each: key vs tensor name
        name = pairs[unmatched[0]][0]
        if _base(name) != _base(remaining[0]) and same_kind(name, remaining[0]):
            pairs[unmatched[0]] = (name, remaining.pop())
    return pairs, remaining


def _base(name: str) -> str:
    """``op:1`` -> ``op``: names of one op's outputs share it (``y:1`` is not ``y``)."""
    head, sep, index = name.rpartition(":")
    return head if sep and index.isdigit() else name


def _dtype_of(arr: np.ndarray) -> DType | None:
    try:
        return DType.from_numpy(arr.dtype)
    except ValueError:
        return None


def dtype_name(arr: np.ndarray) -> str:
    dt = _dtype_of(arr)
    return str(dt) if dt is not None else str(arr.dtype)


def compare_arrays(
    name: str,
    expected: np.ndarray,
    actual: np.ndarray | None,
    actual_name: str | None = None,
    *,
    atol: float | None = None,
    rtol: float | None = None,
    gpu: bool = False,
) -> OutputComparison:
    """One report row: shape, dtype and, where shapes agree, error statistics."""
    dtype = _dtype_of(expected)
    row = OutputComparison(
        name, actual_name, list(expected.shape), None, dtype_name(expected), None,
        total=int(expected.size),
    )  # fmt: skip
    if actual is None:
        row.reason = "missing in actual: the actual model has no such output"
        return row
    row.actual_shape, row.actual_dtype = list(actual.shape), dtype_name(actual)
    if expected.shape != actual.shape:
        row.reason = f"shape mismatch: expected {row.expected_shape}, got {row.actual_shape}"
        return row
    row.atol, row.rtol = tolerance_for(dtype, atol, rtol, gpu)
    _fill_errors(row, expected, actual, dtype)
    if row.expected_dtype != row.actual_dtype:
        row.reason = f"dtype mismatch: expected {row.expected_dtype}, got {row.actual_dtype}"
        row.passed = False
    return row


def _fill_errors(row: OutputComparison, exp: np.ndarray, act: np.ndarray, dtype) -> None:
    if dtype in (DType.STRING, DType.BOOL) or _dtype_of(act) in (DType.STRING, DType.BOOL):
        bad = int(np.count_nonzero(_as_text(exp) != _as_text(act)))
        row.mismatches, row.passed = bad, bad == 0
        row.reason = "" if bad == 0 else f"{bad} element(s) differ"
        return
    kind = np.complex128 if dtype is not None and dtype.is_complex else np.float64
    e, a = exp.astype(kind), act.astype(kind)
    stats = numeric_errors(e, a, row.atol or 0.0, row.rtol or 0.0)
    row.max_abs_error, row.max_rel_error, row.mismatches, nan_bad = stats
    if dtype is not None and dtype.is_integer and not (row.atol or row.rtol):
        row.mismatches = int(np.count_nonzero(exp != act))  # exact, even past 2**53
    row.passed = row.mismatches == 0
    if nan_bad:
        row.reason = f"NaN/inf placement mismatch at {nan_bad} element(s)"
    elif not row.passed:
        row.reason = f"{row.mismatches} element(s) beyond atol={row.atol:g} rtol={row.rtol:g}"


def _as_text(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind not in "OSU":
        return arr
    decode = np.vectorize(lambda v: v.decode("utf-8", "surrogateescape")
                          if isinstance(v, bytes) else str(v), otypes=[object])  # fmt: skip
    return decode(arr) if arr.size else arr.astype(object)


def numeric_errors(e: np.ndarray, a: np.ndarray, atol: float, rtol: float):
    """(max abs error, max rel error, mismatching elements, of which NaN/inf placement).
    NaN equals NaN; inf equals inf of the same sign; maxima are over finite pairs only."""
    finite = np.isfinite(e) & np.isfinite(a)
    special_ok = (np.isnan(e) & np.isnan(a)) | (~np.isnan(e) & (e == a) & ~finite)
    special_bad = ~finite & ~special_ok
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - e, where=finite, out=np.zeros(e.shape, dtype=np.float64))
        mag = np.abs(e).astype(np.float64)
        beyond = finite & ~(diff <= atol + rtol * mag)
    rel_mask = finite & (mag > 0)
    rel = np.divide(diff, mag, where=rel_mask, out=np.zeros(e.shape, dtype=np.float64))
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float(rel.max()) if rel.size else 0.0
    nan_bad = int(np.count_nonzero(special_bad))
    return max_abs, max_rel, int(np.count_nonzero(beyond)) + nan_bad, nan_bad
