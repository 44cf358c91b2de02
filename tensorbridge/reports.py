"""Reports returned by the API: plain data with a text summary and a JSON-able dict."""

from __future__ import annotations

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
class CheckReport:
    src: SideInfo
    dst: SideInfo
    runs: list[Any]  # runtime.CompareReport per seed / input set
    seeds: list[int | None] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "ok": self.ok,
            "src": asdict(self.src),
            "dst": asdict(self.dst),
            "runs": [dict(seed=s, **r.to_dict()) for s, r in zip(self.seeds, self.runs)],
        }

    def summary(self) -> str:
        lines = [
            f"src: {self.src.path} [{self.src.format}] on {self.src.runtime} ({self.src.provider})",
            f"dst: {self.dst.path} [{self.dst.format}] on {self.dst.runtime} ({self.dst.provider})",
        ]
        for seed, run in zip(self.seeds, self.runs):
            label = "inputs from file" if seed is None else f"seed {seed}"
            lines += [f"-- {label}", run.table()]
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
