#!/usr/bin/env python
"""Benchmark: memory of `tensorbridge check --bisect` (issue 6, "Must show": bounded memory).

The model is a chain of N (200) elementwise nodes, alternating ``Add(c)`` and ``Mul(c)`` with
scalar constants, on one float32 input of shape [4, 1024, 1024]: every activation is 16 MiB, so
holding all of them would take N x 16 MiB = 3.2 GiB per side. DST is SRC with one planted bug
near the end (node ``--bug-at``, default 190: an ``Add`` turned into a ``Sub``). For each batch
size K, a fresh child process runs ``tensorbridge.check(src, dst, bisect=True, bisect_batch=K)``
(the plain check first, then the bisection); whole-process peak RSS comes from GNU
``/usr/bin/time -v`` (else ``getrusage(RUSAGE_CHILDREN)``). A child without ``--bisect`` gives
the baseline.

    /work/venv/bin/python bench/check_bench.py                  # prints a markdown table
    /work/venv/bin/python bench/check_bench.py --append         # ... and appends it to RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SHAPE = (4, 1024, 1024)


def build(src: Path, dst: Path, n: int, bug_at: int) -> str:
    """Write the chain (SRC) and its copy with node ``bug_at`` turned into a Sub (DST)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.float32(0.001), "c_add"),
             numpy_helper.from_array(np.float32(0.999), "c_mul")]  # fmt: skip
    nodes, prev = [], "x"
    for i in range(n):
        op, c = ("Add", "c_add") if i % 2 == 0 else ("Mul", "c_mul")
        out = "y" if i == n - 1 else f"v{i}"
        nodes.append(helper.make_node(op, [prev, c], [out], name=f"n{i}_{op.lower()}"))
        prev = out
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(SHAPE))
    model = helper.make_model(helper.make_graph(nodes, "chain", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 17)], ir_version=8)  # fmt: skip
    onnx.save(model, str(src))
    bug = model.graph.node[bug_at if bug_at % 2 == 0 else bug_at - 1]
    bug.op_type = "Sub"
    onnx.save(model, str(dst))
    return bug.name


def child(src: str, dst: str, batch: int) -> None:
    """Run the check (with --bisect when batch > 0) and print one JSON line."""
    sys.path.insert(0, str(REPO))
    import tensorbridge as tb

    t0 = time.perf_counter()
    opts = tb.CheckOptions(device="cpu", bisect=batch > 0, bisect_batch=batch or None)
    report = tb.check(src, dst, opts)
    b = report.bisect
    print(json.dumps({
        "seconds": time.perf_counter() - t0, "ok": report.ok,
        "node": b.node if b else None, "batches": b.batches if b else 0,
        "compared": b.compared if b else 0, "candidates": b.candidates if b else 0,
    }))  # fmt: skip


def measure(src: Path, dst: Path, batch: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(src), str(dst), str(batch)]
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if timer:
        proc = subprocess.run([timer, "-v", *cmd], capture_output=True, text=True, check=True)
        kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    else:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # max over children so far
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(batch=batch, peak_rss_mib=kb / 1024, via="time -v" if timer else "getrusage")
    return result


def table(rows: list[dict], n: int, bug: str) -> str:
    act = 4 * 1024 * 1024 * 4 / 2**20
    lines = [
        "## check --bisect: memory (issue 6)",
        "",
        f"`bench/check_bench.py`, {platform.python_version()} on {os.cpu_count()} CPUs "
        f"({time.strftime('%Y-%m-%d', time.gmtime())}). Chain of {n} Add/Mul nodes on a float32 "
        f"[4, 1024, 1024] input ({act:.0f} MiB per activation, {n * act / 1024:.1f} GiB for all "
        f"of them per side); planted bug: `{bug}` turned into a Sub. Each row is a fresh process "
        "(load, plain check, then bisection); peak RSS of the whole process.",
        "",
        "| run | batch K | batches | values compared | found | wall s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = "check (no bisect)" if r["batch"] == 0 else "check --bisect"
        lines.append(f"| {name} | {r['batch'] or '-'} | {r['batches']} | {r['compared']}/"
                     f"{r['candidates']} | {r['node'] or '-'} | {r['seconds']:.1f} | "
                     f"{r['peak_rss_mib']:.0f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=3, metavar=("SRC", "DST", "K"), help=argparse.SUPPRESS)
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--bug-at", type=int, default=190)
    ap.add_argument("--batches", default="4,8,16", help="batch sizes K to measure")
    ap.add_argument("--append", action="store_true", help="append the table to RESULTS.md")
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    with tempfile.TemporaryDirectory(prefix="check-bench-") as tmp:
        src, dst = Path(tmp) / "chain.onnx", Path(tmp) / "chain_bug.onnx"
        bug = build(src, dst, args.nodes, args.bug_at)
        rows = []
        for k in [0, *(int(b) for b in args.batches.split(","))]:
            rows.append(measure(src, dst, k))
            print(json.dumps(rows[-1]), file=sys.stderr)
    text = table(rows, args.nodes, bug)
    print(text)
    if args.append:
        with open(BENCH / "RESULTS.md", "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
