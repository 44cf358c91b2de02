"""Aggregates the conformance outcomes (recorded as user properties) into one summary."""

from __future__ import annotations

import collections


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
        if "skip" in k or "fail" in k or "refused" in k or "ort" in k:
            for r in reasons[k][:400]:
                terminalreporter.write_line(f"  {k}: {r}")
