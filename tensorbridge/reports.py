"""Reports returned by the API: plain data with a text summary and a JSON-able dict."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class SideInfo:
    """One side of a conversion or check: what ran it."""

    path: str
    format: str
    runtime: str = ""
    provider: str = ""


@dataclass
class ValueDiff:
    """One compared value of a bisection: a node output (or input) seen on both sides.
    ``status``: ``match``, ``differs``, ``shape differs`` (not comparable: a layout rewrite may
    keep a value's name), ``no counterpart`` (only DST has it), ``same feed`` (a graph input:
    both sides got the same array)."""

    name: str
    status: str
    shape: list[int] | None = None
    dtype: str | None = None
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    mismatches: int | None = None
    total: int | None = None
    reason: str = ""


@dataclass
class BisectReport:
    """Where two models first diverge. ``status``: ``found`` (``node`` is the earliest DST node,
    in topological order, whose output differs while all its compared inputs match),
    ``no divergence`` (every compared intermediate value matches), ``no counterparts`` (no value
    name is shared by the two graphs, so nothing can be compared), ``failed`` (a side cannot
    run through the IR on ONNX Runtime; ``hint`` says why)."""

    status: str
    candidates: int  # DST node outputs with a same-named value in SRC
    compared: int  # how many of them were compared before stopping
    batches: int
    batch_size: int
    node: str | None = None
    op_type: str | None = None
    output: ValueDiff | None = None
    inputs: list[ValueDiff] = field(default_factory=list)
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["output"] = None if self.output is None else _finite(asdict(self.output))
        d["inputs"] = [_finite(asdict(v)) for v in self.inputs]
        return d

    def summary(self) -> str:
        head = (f"bisect: {self.status} ({self.compared} of {self.candidates} shared values "
                f"compared in {self.batches} batch(es) of <= {self.batch_size})")  # fmt: skip
        if self.status != "found":
            return "\n".join(x for x in (head, self.hint) if x)
        lines = [head, f"first diverging node: {self.node!r} ({self.op_type})"]
        for label, v in [("output", self.output), *(("input", i) for i in self.inputs)]:
            if v is not None:
                lines.append(f"  {label:6} {v.name}: {_value_line(v)}")
        lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


def _value_line(v: ValueDiff) -> str:
    if v.max_abs_error is None:
        return v.status + (f" ({v.reason})" if v.reason else "")
    bad = "" if v.mismatches is None else f", {v.mismatches}/{v.total} beyond tolerance"
    return f"{v.status}: max abs {v.max_abs_error:.3g}, max rel {v.max_rel_error:.3g}{bad}"


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, float) and not math.isfinite(v) else v for k, v in d.items()}


@dataclass
class CheckReport:
    """The result of ``tensorbridge.check``: plain data; ``to_dict()``/``as_dict()`` give the
    JSON document (``to_json()`` the text) that ``tensorbridge check --json`` prints::

        {"schema_version": 1, "ok": bool,
         "src": {"path", "format", "runtime", "provider"}, "dst": {...same...},
         "device": "auto|cpu|cuda",
         "runs": [{"seed": int | null (null: inputs from --inputs), "schema_version": 1,
                   "ok": bool, "atol_override": float | null, "rtol_override": float | null,
                   "outputs": [{"name", "actual_name", "expected_shape", "actual_shape",
                                "expected_dtype", "actual_dtype", "max_abs_error",
                                "max_rel_error", "mismatches", "total", "atol", "rtol",
                                "passed", "reason"}]}],
         "bisect": null | {"status": "found|no divergence|no counterparts|failed", "candidates",
                   "compared", "batches", "batch_size", "node", "op_type", "hint",
                   "output": {"name", "status", "shape", "dtype", "max_abs_error",
                              "max_rel_error", "mismatches", "total", "reason"},
                   "inputs": [{...same as output...}]},
         "notes": [str]}

    ``runtime`` names what ran the side (``onnxruntime 1.x``, ``tensorflow 2.x``, or
    ``onnxruntime 1.x (SavedModel via the IR)``); ``provider`` the execution provider or
    TensorFlow device that really ran it. Non-finite floats are strings ("inf", "nan")."""

    src: SideInfo
    dst: SideInfo
    runs: list[Any]  # runtime.CompareReport per seed / input set
    seeds: list[int | None] = field(default_factory=list)
    device: str = "auto"
    bisect: BisectReport | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "ok": self.ok,
            "src": asdict(self.src),
            "dst": asdict(self.dst),
            "device": self.device,
            "runs": [dict(seed=s, **r.to_dict()) for s, r in zip(self.seeds, self.runs)],
            "bisect": None if self.bisect is None else self.bisect.to_dict(),
            "notes": list(self.notes),
        }

    as_dict = to_dict

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        lines = [
            f"src: {self.src.path} [{self.src.format}] on {self.src.runtime} ({self.src.provider})",
            f"dst: {self.dst.path} [{self.dst.format}] on {self.dst.runtime} ({self.dst.provider})",
        ]
        for seed, run in zip(self.seeds, self.runs):
            label = "inputs from file" if seed is None else f"seed {seed}"
            lines += [f"-- {label}", run.table()]
        lines += self.notes
        if self.bisect is not None:
            lines.append(self.bisect.summary())
        lines.append("MATCH" if self.ok else "MISMATCH")
        return "\n".join(lines)


@dataclass
class ConversionReport:
    src: SideInfo
    dst: SideInfo
    opset: int | None
    node_count: int
    seconds: float
    check: CheckReport | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.check is None or self.check.ok

    def to_dict(self) -> dict[str, Any]:
        d = {
            "schema_version": SCHEMA_VERSION,
            "src": asdict(self.src),
            "dst": asdict(self.dst),
            "opset": self.opset,
            "node_count": self.node_count,
            "seconds": round(self.seconds, 4),
            "notes": list(self.notes),
        }
        d["check"] = None if self.check is None else self.check.to_dict()
        return d

    def summary(self) -> str:
        head = (
            f"converted {self.src.path} [{self.src.format}] -> {self.dst.path} "
            f"[{self.dst.format}]: {self.node_count} nodes, opset {self.opset}, "
            f"{self.seconds:.2f}s"
        )
        parts = [head, *self.notes]
        if self.check is not None:
            parts.append(self.check.summary())
        return "\n".join(parts)


@dataclass
class InspectReport:
    path: str
    format: str
    producer: str
    opsets: dict[str, int]
    meta_graphs: list[dict[str, Any]]
    op_histogram: dict[str, int]
    initializer_count: int
    initializer_bytes: int
    variable_count: int = 0
    variable_bytes: int = 0
    unsupported_ops: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(schema_version=SCHEMA_VERSION, **asdict(self))

    def summary(self) -> str:
        lines = [f"{self.path} [{self.format}]  producer: {self.producer or '-'}"]
        if self.opsets:
            lines.append("opsets: " + ", ".join(f"{d or 'ai.onnx'}={v}" for d, v in self.opsets.items()))
        for mg in self.meta_graphs:
            lines.append(f"meta graph tags {{{','.join(mg['tags'])}}}")
            for sig in mg["signatures"]:
                lines.append(f"  signature {sig['key']!r} ({sig['method']})")
                for kind in ("inputs", "outputs"):
                    for name, typ in sig[kind].items():
                        lines.append(f"    {kind[:-1]:6} {name}: {typ}")
        lines.append(
            f"initializers: {self.initializer_count} ({_human(self.initializer_bytes)}); "
            f"variables: {self.variable_count} ({_human(self.variable_bytes)})"
        )
        lines.append(f"ops ({sum(self.op_histogram.values())} nodes):")
        width = max((len(k) for k in self.op_histogram), default=0)
        for op, n in self.op_histogram.items():
            lines.append(f"  {op:<{width}}  {n}")
        if self.unsupported_ops:
            lines.append("ops with no handler yet: " + ", ".join(
                f"{op} x{n}" for op, n in self.unsupported_ops.items()))
        elif self.format == "savedmodel":
            lines.append("every op has a handler")
        return "\n".join(lines)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
