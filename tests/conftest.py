"""Aggregates the lift conformance outcomes (user property ``lift`` = (outcome, op, detail),
see converters/savedmodel/test_lift_conformance.py) into a per-op table and the pass rates.

Here at the top of the test tree, not beside the test: with pytest-xdist the controller process
loads only the conftests on the command line's paths, and this hook runs in the controller, so
the table is printed by the whole suite (``pytest -n 2``, CI) as well as by that file alone."""

from __future__ import annotations

import collections

_COLUMNS = ("pass", "refused", "no-handler", "fail", "known-fail", "inexpressible", "not-imported")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    per_op: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    details: dict[str, list[str]] = collections.defaultdict(list)
    for key in ("passed", "failed", "xfailed"):
        for rep in terminalreporter.stats.get(key, []):
            if getattr(rep, "when", "call") != "call":
                continue
            for name, value in getattr(rep, "user_properties", []):
                if name == "lift":
                    outcome, op, detail = value
                    per_op[op][outcome] += 1
                    if detail and outcome != "pass":
                        details[outcome].append(detail)
    if not per_op:
        return
    w = terminalreporter.write_line
    terminalreporter.section("IR -> TF lift conformance")
    w(f"{'op':<28}{'cases':>6}" + "".join(f"{c:>14}" for c in _COLUMNS))
    total: collections.Counter = collections.Counter()
    for op in sorted(per_op):
        c = per_op[op]
        total.update(c)
        w(f"{op:<28}{sum(c.values()):>6}" + "".join(f"{c[k]:>14}" for k in _COLUMNS))
    w(f"{'TOTAL':<28}{sum(total.values()):>6}" + "".join(f"{total[k]:>14}" for k in _COLUMNS))
    handled = total["pass"] + total["refused"] + total["fail"] + total["known-fail"]
    if handled:
        w(f"pass rate over cases whose ops all have handlers: {total['pass']}/{handled} "
          f"= {100 * total['pass'] / handled:.1f}%")
    expressible = handled + total["no-handler"]  # all but inexpressible and not-imported
    if expressible:
        w(f"pass rate over cases TensorFlow can express: {total['pass']}/{expressible} "
          f"= {100 * total['pass'] / expressible:.1f}% (the bar: 95%)")
    for outcome in ("fail", "known-fail", "refused", "inexpressible", "no-handler"):
        for d in details[outcome]:
            w(f"  {outcome}: {d}")
