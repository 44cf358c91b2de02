"""Plain-text rendering of comparison rows: an aligned table for terminals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

COLUMNS = ("output", "status", "shape", "dtype", "max_abs", "max_rel", "mismatch", "atol/rtol",
           "reason")  # fmt: skip


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def _pair(expected: Any, actual: Any) -> str:
    if expected == actual or actual is None:
        return _shape(expected)
    return f"{_shape(expected)} vs {_shape(actual)}"


def _shape(s: Any) -> str:
    if s is None:
        return "-"
    if isinstance(s, list):
        return "[" + ",".join(str(d) for d in s) + "]"
    return str(s)


def format_row(r: Any) -> tuple[str, ...]:
    name = r.name if r.actual_name in (None, r.name) else f"{r.name} ({r.actual_name})"
    mismatch = "-" if r.mismatches is None else f"{r.mismatches}/{r.total}"
    tol = "-" if r.atol is None else f"{r.atol:g}/{r.rtol:g}"
    return (
        name, "ok" if r.passed else "FAIL", _pair(r.expected_shape, r.actual_shape),
        _pair(r.expected_dtype, r.actual_dtype), _num(r.max_abs_error), _num(r.max_rel_error),
        mismatch, tol, r.reason or "",
    )  # fmt: skip


def format_table(rows: Sequence[Any]) -> str:
    """An aligned table, one line per output, with a header and a rule."""
    cells = [COLUMNS, *(format_row(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cell, widths)).rstrip() for cell in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
