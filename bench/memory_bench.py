#!/usr/bin/env python
"""Benchmark: peak memory of the pass pipeline on a model with 1 GiB of weights (issue 3).

    /work/venv/bin/python bench/memory_bench.py     # writes its block of bench/RESULTS.md

The model (bench/out/memory/big.onnx + big.data, generated once): x [1, 4096] -> 16 x
(MatMul with a float32 [4096, 4096] weight (64 MiB) -> Identity) -> y, all weights in one
external data file (1 GiB); every 4th weight is stored transposed behind a Transpose node (as
TensorFlow exports store Dense kernels), so simplify's constant Transpose rule has 64 MiB
tensors to relay out. The generator writes the data file weight by weight, so it never holds
more than one weight itself.

Measured, each in a fresh process (peak RSS = max resident set size from GNU `time -v`, else a
getrusage wrapper; wall = whole process):
  - `python -m tensorbridge optimize big.onnx out.onnx` (the default pipeline);
  - load + save: `tensorbridge.api.load` then `tensorbridge.api.save`, no passes;
  - imports only (`import tensorbridge.api, onnx, onnxruntime`), the floor.
The goal: peak RSS below 1.5 x the weights (weights stay lazy: memory-mapped, not copied).
Mapped file pages that were read count in RSS too, so reading every weight once to write the
output costs up to 1 x the weights by itself.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from convert_bench import GNU_TIME, log, measure, median  # noqa: E402
from optimize_bench import update_results  # noqa: E402

OUT = BENCH / "out" / "memory"
N_WEIGHTS = 16
DIM = 4096  # 4096 x 4096 float32 = 64 MiB
WEIGHT_BYTES = N_WEIGHTS * DIM * DIM * 4
GOAL = 1.5



def write_external(f, name: str, raw: bytes, dims: list[int], data_name: str,
                   offset: int) -> tuple[Any, int]:
    """Append one float32 tensor's bytes to the open external-data file ``f`` (4 KiB aligned,
    as onnx writes them) and return its onnx.TensorProto pointing there, and the next offset."""
    from onnx import TensorProto

    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", data_name), ("offset", str(offset)), ("length", str(len(raw)))):
        e = t.external_data.add()
        e.key, e.value = k, v
    f.write(raw)
    offset += len(raw)
    pad = (-offset) % 4096
    f.write(b"\0" * pad)
    return t, offset + pad

def generate(path: Path) -> None:
    """big.onnx + big.data, written weight by weight (external data, 4 KiB aligned)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    data_name = f"{path.stem}.data"
    rng = np.random.default_rng(0)
    inits, nodes, offset = [], [], 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(data_name + ".tmp")
    with open(tmp, "wb") as f:
        for i in range(N_WEIGHTS):
            w = (rng.standard_normal((DIM, DIM), dtype=np.float32) / np.float32(DIM ** 0.5))
            transposed = i % 4 == 3  # stored [N, K] behind a Transpose, as TF exports do
            raw = (w.T.copy() if transposed else w).tobytes()
            t, offset = write_external(f, f"w{i}", raw, [DIM, DIM], data_name, offset)
            del w, raw
            inits.append(t)
            src = "x" if i == 0 else f"h{i - 1}"
            weight = f"w{i}"
            if transposed:
                nodes.append(helper.make_node("Transpose", [weight], [f"wt{i}"], perm=[1, 0]))
                weight = f"wt{i}"
            nodes.append(helper.make_node("MatMul", [src, weight], [f"m{i}"]))
            nodes.append(helper.make_node("Identity", [f"m{i}"], [f"h{i}" if i < N_WEIGHTS - 1 else "y"]))
    graph = helper.make_graph(
        nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, DIM])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, DIM])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    os.replace(tmp, path.with_name(data_name))
    onnx.save_model(model, str(path))  # tensors already carry their external-data fields


def _child_load_save(src: str, dst: str) -> None:
    from tensorbridge import api

    api.save(api.load(src), dst, overwrite=True)


def _child_imports() -> None:
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401

    import tensorbridge.api  # noqa: F401


def check_output(src: Path, dst: Path) -> dict:
    """Same y on ORT for one seeded x (both files loaded by ORT, which mmaps external data)."""
    import numpy as np
    import onnxruntime as ort

    x = np.random.default_rng(1).standard_normal((1, DIM)).astype(np.float32)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    ys = []
    for p in (src, dst):
        s = ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"])
        ys.append(s.run(None, {"x": x})[0])
        del s
    err = float(np.max(np.abs(ys[0].astype(np.float64) - ys[1])))
    return {"max_abs_err": err, "equal": err == 0.0}


def file_info(path: Path) -> dict:
    data = [p for p in path.parent.glob(f"{path.stem}*.data")] + [
        p for p in path.parent.glob(f"{path.name}.data")]
    return {"onnx_mb": path.stat().st_size / 2**20,
            "data_mb": sum(p.stat().st_size for p in data) / 2**20 if data else 0.0}


NOTES = [
    "Where the memory goes: the imports take ~60 MiB; the weights are never copied by load, the "
    "passes or save (load + save stays at ~0.14x although it writes 1 GiB). The optimize run's "
    "extra ~64 MiB over load + save is simplify's constant-Transpose rule: each "
    "Transpose(weight) becomes a lazy transposed constant, materialized one 64 MiB weight at a "
    "time while the output is written (on the same model without the Transposes, optimize "
    "measured 145 MiB vs 141 MiB for load + save). The outputs are single 1 GiB .onnx files: "
    "the exporter goes external only above ~2 GB unless asked.",
]


def report(res: dict) -> str:
    gib = WEIGHT_BYTES / 2**20
    L = ["### Memory: the pipeline on a model with 1 GiB of weights (bench/memory_bench.py)\n",
         f"Generated on {res['date']}. Model: x [1, {DIM}] -> {N_WEIGHTS} x (MatMul by a float32 "
         f"[{DIM}, {DIM}] weight -> Identity), weights {gib:.0f} MiB in one external data file, "
         f"every 4th weight stored transposed behind a Transpose node. "
         f"Fresh process per run, median of {res['runs']}; peak RSS = max resident set size "
         f"({res['rss_method']}), which includes memory-mapped file pages once read. Goal: "
         f"peak RSS < {GOAL} x weights = {GOAL * gib:.0f} MiB.\n",
         "| command | wall (s) | peak RSS (MiB) | RSS / weights | goal < 1.5x |",
         "|---|---|---|---|---|"]
    for key, label in (("imports", "imports only (`import tensorbridge.api, onnx, onnxruntime`)"),
                       ("load_save", "`api.load` + `api.save` (no passes)"),
                       ("optimize", "`python -m tensorbridge optimize big.onnx out.onnx`")):
        r = res["runs_"][key]
        if not r["ok"]:
            L.append(f"| {label} | **failed**: `{r['error']}` | | | |")
            continue
        ratio = r["rss_mb"] / gib
        goal = "" if key == "imports" else ("**met**" if ratio < GOAL else "**NOT met**")
        L.append(f"| {label} | {r['wall_s']:.1f} | {r['rss_mb']:.0f} | {ratio:.2f}x | {goal} |")
    L.append("")
    for key in ("load_save", "optimize"):
        r = res["runs_"][key]
        if r.get("check"):
            c = r["check"]
            L.append(f"- {key}: output y vs the original on ORT: max abs diff {c['max_abs_err']:.1e}; "
                     f"output files: {r['files']['onnx_mb']:.1f} MiB .onnx + "
                     f"{r['files']['data_mb']:.0f} MiB external data; per-run peak RSS MiB "
                     f"{[round(x) for x in r['rss_all']]}")
    L.append("")
    L.extend(f"- {n}" for n in NOTES + res.get("notes", []))
    L.append("")
    return "\n".join(L)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--results", default=str(BENCH / "RESULTS.md"))
    ap.add_argument("--note", action="append", default=[], help="extra line for RESULTS.md")
    args = ap.parse_args(argv)

    OUT.mkdir(parents=True, exist_ok=True)
    big = OUT / "big.onnx"
    if not big.exists() or not (OUT / "big.data").exists():
        log(f"generating {big} ({WEIGHT_BYTES / 2**30:.0f} GiB of weights) ...")
        generate(big)
    me = str(Path(__file__).resolve())
    cmds = {
        "imports": [sys.executable, me, "_imports"],
        "load_save": [sys.executable, me, "_load_save", str(big), str(OUT / "loadsave.onnx")],
        "optimize": [sys.executable, "-m", "tensorbridge", "optimize", str(big),
                     str(OUT / "optimized.onnx"), "--overwrite"],
    }
    res = {"date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
           "runs": args.runs, "runs_": {}, "notes": args.note,
           "rss_method": "GNU time -v" if os.access(GNU_TIME, os.X_OK) else "getrusage wrapper"}
    for key, cmd in cmds.items():
        rec = {"cmd": " ".join(cmd), "rss_all": [], "wall_all": [], "ok": True}
        for i in range(args.runs):
            r = measure(cmd)
            log(f"{key:10s} run {i + 1}/{args.runs}: " + (
                f"{r['wall_s']:.1f} s, {r['rss_mb']:.0f} MiB" if r["ok"] else f"FAILED ({r['error']})"))
            if not r["ok"]:
                rec.update(ok=False, error=r["error"])
                (OUT / f"{key}.stderr.txt").write_text(r["stderr"])
                break
            rec["rss_all"].append(r["rss_mb"])
            rec["wall_all"].append(r["wall_s"])
        rec["rss_mb"], rec["wall_s"] = median(rec["rss_all"]), median(rec["wall_all"])
        dst = {"load_save": OUT / "loadsave.onnx", "optimize": OUT / "optimized.onnx"}.get(key)
        if rec["ok"] and dst is not None:
            rec["files"] = file_info(dst)
            rec["check"] = check_output(big, dst)
        res["runs_"][key] = rec
    (OUT / "results.json").write_text(json.dumps(res, indent=2, default=str))
    update_results(Path(args.results), "memory", report(res))
    log(f"wrote {args.results} (memory block) and {OUT / 'results.json'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_load_save":
        _child_load_save(sys.argv[2], sys.argv[3])
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "_imports":
        _child_imports()
        sys.exit(0)
    sys.exit(main())
