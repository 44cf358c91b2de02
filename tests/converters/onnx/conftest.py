"""Aggregates the conformance outcomes (recorded as user properties) into one summary."""

from __future__ import annotations

import collections
import re


def _reason_key(reason: str) -> str:
    """A skip reason without the case name, node names and numbers, to group cases by."""
    text = reason.split(": ", 1)[-1]
    text = re.sub(r"'[^']*'", "'_'", text)
    text = re.sub(r"\[[-0-9, ]*\]|\b\d+\b", "N", text)
    text = text.split("; onnx version converter:")[0]
    return text[:150]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    counts: collections.Counter = collections.Counter()
    reasons: dict[str, list[str]] = collections.defaultdict(list)
    for key in ("passed", "failed", "skipped"):
        for rep in terminalreporter.stats.get(key, []):
            if getattr(rep, "when", "call") != "call" and key != "skipped":
                continue
            for name, value in getattr(rep, "user_properties", []):
                if name.startswith("conformance"):
                    counts[f"{name}:{value[0]}"] += 1
                    if len(value) > 1 and value[1]:
                        reasons[f"{name}:{value[0]}"].append(value[1])
    if not counts:
        return
    terminalreporter.section("ONNX conformance summary")
    for k in sorted(counts):
        terminalreporter.write_line(f"{k}: {counts[k]}")
    for k in sorted(reasons):
        if "skip" in k:
            groups = collections.Counter(_reason_key(r) for r in reasons[k])
            for reason, n in groups.most_common():
                terminalreporter.write_line(f"  {k} x{n}: {reason}")
    for k in sorted(reasons):
        if "skip" in k or "fail" in k or "refused" in k or "ort" in k:
            for r in reasons[k][:400]:
                terminalreporter.write_line(f"  {k}: {r}")
