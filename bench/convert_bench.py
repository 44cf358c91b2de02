#!/usr/bin/env python
"""Benchmark: tensorbridge vs tf2onnx 1.17 on Keras 3 SavedModels (issue 4, "Must show": bench/).

Run with the project's environment (TensorFlow 2.21 + Keras 3 are needed only to *build* the
SavedModels and compute TensorFlow's reference outputs; both happen in child processes):

    /work/venv/bin/python bench/convert_bench.py            # everything, writes bench/RESULTS.md

Steps, per model (MobileNetV2, ResNet50, EfficientNetB0; weights=None, seeded, 224x224x3):
  1. build `keras.applications.X` and `model.export(dir)` (cached under bench/out/models/), and
     TensorFlow's own output for one seeded input (bench/out/models/X/ref.npz);
  2. `python -m tensorbridge convert DIR out.onnx --opset 17` in a fresh process, N times:
     whole-process wall time and peak RSS (GNU `/usr/bin/time -v`, else a getrusage wrapper);
  3. `python -m tf2onnx.convert --saved-model DIR --output out.onnx --opset 17` with tf2onnx 1.17
     in its own venv (bench/out/venv-tf2onnx, created if missing), N times; a failure is recorded
     with a one-line reason; one untimed warm-up run per tool, then the two tools' timed runs
     interleaved, so that load from other work on the machine hits both alike;
  4. for every ONNX file: node count, Transpose count, ONNX Runtime CPU latency (batch 1,
     default threads, median of M runs after warm-up, same seeded input) and max abs error vs TF;
  5. bench/RESULTS.md (and the raw numbers in bench/out/results.json).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
MODELS = ("MobileNetV2", "ResNet50", "EfficientNetB0")
SEED = 0
SHAPE = (1, 224, 224, 3)
OPSET = 17
TF2ONNX_VENV = OUT / "venv-tf2onnx"
# tf2onnx 1.17.0 (PyPI metadata): Requires-Python >=3.10, tested on Python 3.10-3.12 with
# TensorFlow 2.13-2.15. The newest TensorFlow it supports that has Python 3.11 wheels: 2.15.
# onnx is capped: pip otherwise picks onnx >= 1.18, whose import needs ml_dtypes.float4_e2m1fn
# (ml_dtypes >= 0.5), while TensorFlow 2.15 pins ml_dtypes ~= 0.3 -> "import tf2onnx" fails.
TF2ONNX_REQS = ("tf2onnx==1.17.*", "tensorflow-cpu==2.15.*", "onnx<1.18")
GNU_TIME = "/usr/bin/time"


def seeded_input():
    import numpy as np

    # Pixel-range input (the models' own preprocessing layers, where they have them, expect it).
    return np.random.default_rng(SEED).uniform(0.0, 255.0, SHAPE).astype(np.float32)


# --------------------------------------------------------------------------------------------
# child-process helpers (hidden sub-commands)
# --------------------------------------------------------------------------------------------

def _child_build(name: str, model_dir: str) -> None:
    """Build + export one Keras application and store TF's output for the seeded input."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    model = getattr(keras.applications, name)(weights=None, input_shape=SHAPE[1:])
    tmp = Path(model_dir + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.export(str(tmp), verbose=False)
    x = seeded_input()
    loaded = tf.saved_model.load(str(tmp))
    y = loaded.serve(tf.constant(x))
    if isinstance(y, (list, tuple)):
        y = y[0]
    elif isinstance(y, dict):
        y = next(iter(y.values()))
    # Logits (the classifier's pre-softmax values), from the Keras model itself.
    head = model.layers[-1]
    feats = np.asarray(keras.Model(model.inputs, head.input)(x), np.float64)
    logits = feats @ np.asarray(head.kernel, np.float64) + np.asarray(head.bias, np.float64)
    np.savez(tmp / "ref.npz", x=x, y=np.asarray(y, np.float64), logits=logits,
             y_spread=float(np.max(y) - np.min(y)))
    os.replace(tmp, model_dir)


def _child_rss(out_file: str, cmd: list[str]) -> int:
    """Fallback when GNU time is absent: run cmd, write the children's peak RSS (KiB)."""
    import resource

    rc = subprocess.run(cmd).returncode
    Path(out_file).write_text(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
    return rc


# --------------------------------------------------------------------------------------------
# measurement
# --------------------------------------------------------------------------------------------

def measure(cmd: list[str], env: dict | None = None, timeout: float = 1800) -> dict:
    """Run cmd in a fresh process; wall seconds (perf_counter around it) and peak RSS in MB."""
    with tempfile.TemporaryDirectory() as td:
        rss_file = Path(td) / "rss"
        if os.access(GNU_TIME, os.X_OK):
            full = [GNU_TIME, "-v", "-o", str(rss_file), *cmd]
        else:
            full = [sys.executable, __file__, "_rss", str(rss_file), "--", *cmd]
        t0 = time.perf_counter()
        try:
            p = subprocess.run(full, capture_output=True, text=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"ok": False, "wall_s": time.perf_counter() - t0, "rss_mb": None,
                    "error": f"timed out after {timeout:.0f} s", "stderr": ""}
        wall = time.perf_counter() - t0
        rss_kb = None
        if rss_file.exists():
            text = rss_file.read_text()
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
            rss_kb = int(m.group(1)) if m else int(text.strip() or 0) or None
    err = None if p.returncode == 0 else one_line_reason(p.stderr, p.stdout, p.returncode)
    return {"ok": p.returncode == 0, "wall_s": wall,
            "rss_mb": rss_kb / 1024 if rss_kb else None, "error": err,
            "stderr": p.stderr[-20000:]}


_NOISE = re.compile(r"^(\s*$|WARNING|W0000|I0000|E0000|.*cuda|.*oneDNN|.*TF_ENABLE|.*rebuild "
                    r"TensorFlow|.*cpu_feature_guard|.*To enable the following|.*Command exited)",
                    re.I)


def one_line_reason(stderr: str, stdout: str, rc: int) -> str:
    lines = [ln.strip() for ln in (stderr + "\n" + stdout).splitlines()]
    lines = [ln for ln in lines if ln and not _NOISE.match(ln)]
    # Prefer the last "SomethingError: ..." line (Python's traceback ends with it).
    for ln in reversed(lines):
        if re.match(r"^([\w.]+(Error|Exception)|error|Error)\b", ln):
            return ln[:400]
    return (lines[-1][:400] if lines else f"exit code {rc}")


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def tool_env(tool: str) -> dict:
    """The child's environment: bytecode caching on for both tools, as after a pip install.

    With PYTHONDONTWRITEBYTECODE set (some shells and CI images set it) every run recompiles
    the tool's own sources (0.1-0.25 s for tensorbridge, which is not byte-compiled by an
    editable install). Each tool gets its own PYTHONPYCACHEPREFIX under bench/out, filled by
    one untimed warm-up conversion (see convert_runs), so the source tree stays clean.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(OUT / f"pycache-{tool}")
    if tool == "tf2onnx":
        env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return env


def convert_runs(tools: dict[str, int], model_dir: Path, work: Path) -> dict[str, dict]:
    """``tools``: name -> number of runs. One untimed warm-up each, then the timed runs
    interleaved (A B B A A B ...), so that load from other work on the machine hits both
    tools alike instead of whichever happened to run during a busy minute."""
    jobs = {tool: _job(tool, model_dir, work / f"{tool}.onnx") for tool in tools}
    for tool, job in jobs.items():
        job["path"].unlink(missing_ok=True)
        warm = measure(job["cmd"], env=job["env"])  # fills the bytecode and page caches
        log(f"  {tool:12s} warm-up: {warm['wall_s']:.2f} s" + ("" if warm["ok"] else " (failed)"))
    order = list(tools)
    for i in range(max(tools.values(), default=0)):
        for tool in order if i % 2 == 0 else order[::-1]:
            job = jobs[tool]
            if i < tools[tool] and "error" not in job["rec"]:
                _timed_run(tool, job, i, tools[tool])
    return {tool: _summary(job["rec"]) for tool, job in jobs.items()}


def _job(tool: str, model_dir: Path, onnx_path: Path) -> dict:
    if tool == "tensorbridge":
        cmd = [sys.executable, "-m", "tensorbridge", "convert", str(model_dir), str(onnx_path),
               "--opset", str(OPSET)]
    else:
        cmd = [str(TF2ONNX_VENV / "bin" / "python"), "-m", "tf2onnx.convert", "--saved-model",
               str(model_dir), "--output", str(onnx_path), "--opset", str(OPSET)]
    return {"cmd": cmd, "env": tool_env(tool), "path": onnx_path,
            "rec": {"cmd": " ".join(cmd), "runs": []}}


def _timed_run(tool: str, job: dict, i: int, runs: int) -> None:
    onnx_path = job["path"]
    onnx_path.unlink(missing_ok=True)
    r = measure(job["cmd"], env=job["env"])
    missing = None if onnx_path.exists() else "exited 0 but wrote no output file"
    record_run(job["rec"], r, f"{tool:12s} run {i + 1}/{runs}", missing,
               onnx_path.parent / f"{tool}.stderr.txt")


def record_run(rec: dict, r: dict, label: str, missing: str | None, stderr_path: Path,
               wall: str = ".2f") -> bool:
    """One measured run (``measure``'s result) into ``rec["runs"]``, logged as ``label``. A run
    that exited 0 without writing its output fails with ``missing`` (None: the output exists);
    a failure's stderr goes to ``stderr_path`` and ``rec["error"]`` is set (a deterministic
    failure: no point repeating it). Returns whether the run succeeded."""
    if r["ok"] and missing is not None:
        r.update(ok=False, error=missing)
    log(f"  {label}: " + (f"{r['wall_s']:{wall}} s, {r['rss_mb'] or 0:.0f} MB" if r["ok"]
                          else f"FAILED ({r['error']})"))
    rec["runs"].append({k: v for k, v in r.items() if k != "stderr"})
    if not r["ok"]:
        stderr_path.parent.mkdir(parents=True, exist_ok=True)
        stderr_path.write_text(r["stderr"])
        rec["error"] = r["error"]
    return r["ok"]


def summarize_runs(rec: dict) -> list[dict]:
    """``rec``'s ok (every run succeeded), and median wall time and peak RSS of the successful
    runs; returns those runs."""
    ok_runs = [r for r in rec["runs"] if r["ok"]]
    rec["ok"] = bool(ok_runs) and len(ok_runs) == len(rec["runs"])
    rec["wall_s"] = median([r["wall_s"] for r in ok_runs])
    rec["rss_mb"] = median([r["rss_mb"] for r in ok_runs])
    return ok_runs


def _summary(rec: dict) -> dict:
    ok_runs = summarize_runs(rec)
    rec["n"] = len(ok_runs)
    rec["wall_s_all"] = [round(r["wall_s"], 3) for r in ok_runs]
    rec["rss_mb_all"] = [round(r["rss_mb"] or 0, 1) for r in ok_runs]
    return rec


def count_nodes(graph) -> tuple[int, dict]:
    """All nodes, including those inside subgraphs (If/Loop/Scan bodies)."""
    from onnx import AttributeProto

    n, ops = 0, {}
    for node in graph.node:
        n += 1
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
        for a in node.attribute:
            subs = [a.g] if a.type == AttributeProto.GRAPH else (
                list(a.graphs) if a.type == AttributeProto.GRAPHS else [])
            for g in subs:
                k, o = count_nodes(g)
                n += k
                for t, c in o.items():
                    ops[t] = ops.get(t, 0) + c
    return n, ops


def _session(model_or_path):
    import onnxruntime as ort

    so = ort.SessionOptions()  # intra-op threads: ORT's default
    so.log_severity_level = 3  # unused initializers are counted instead of logged
    # the files' runs are interleaved: a pool that spins after its run would take the cores
    # from the next file's run (measured: +/-10% noise on MobileNetV2); without spinning each
    # run has the machine to itself
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_or_path, so, providers=["CPUExecutionProvider"])


def analyse_onnx(onnx_path: Path, ref: dict) -> tuple[dict, object, dict]:
    """Static counts + numerics of one file; returns (stats, latency session, feed)."""
    import numpy as np
    import onnx

    m = onnx.load(str(onnx_path), load_external_data=False)
    nodes, ops = count_nodes(m.graph)
    used = {i for n in m.graph.node for i in n.input}
    unused_inits = sum(1 for t in m.graph.initializer if t.name not in used)
    sess = _session(str(onnx_path))
    inp = sess.get_inputs()[0]
    feed = {inp.name: ref["x"]}
    y = sess.run(None, feed)[0]
    ref_y = ref["y"]
    shape_ok = y.shape == ref_y.shape
    err = float(np.max(np.abs(y.astype(np.float64) - ref_y))) if shape_ok else None
    stats = {"nodes": nodes, "transposes": ops.get("Transpose", 0),
             "unused_initializers": unused_inits, "ops": dict(sorted(ops.items())),
             "max_abs_err": err, "shape_ok": shape_ok, "out_shape": list(y.shape),
             "input": f"{inp.name} {inp.shape}", "file_mb": onnx_path.stat().st_size / 2**20}
    # The softmax outputs of these random-weight models are nearly uniform, so also compare the
    # logits (the last Softmax's input, exposed as an extra output) relative to their scale.
    softmaxes = [n for n in m.graph.node if n.op_type == "Softmax"]
    if "logits" in ref and softmaxes:
        m.graph.output.append(onnx.helper.make_empty_tensor_value_info(softmaxes[-1].input[0]))
        logits = _session(m.SerializeToString()).run(None, feed)[-1].astype(np.float64)
        rl = ref["logits"]
        if logits.shape == rl.shape:
            stats["logits_rel_err"] = float(np.max(np.abs(logits - rl)) / np.max(np.abs(rl)))
    return stats, sess, feed


# Latency ratios within this of 1 are ties: the medians of repeated interleaved runs of the same
# two files differ by up to ~1% on this machine (MobileNetV2, 3 x 1000 runs: 0.996-1.008)
ORT_TIE = 0.01


def time_sessions(sessions: dict, ort_runs: int, warmup: int) -> dict:
    """Latency per session, runs interleaved (alternating order) so drift hits all alike."""
    for sess, feed in sessions.values():
        for _ in range(warmup):
            sess.run(None, feed)
    times = {k: [] for k in sessions}
    keys = list(sessions)
    for i in range(ort_runs):
        for k in (keys if i % 2 == 0 else keys[::-1]):
            sess, feed = sessions[k]
            t0 = time.perf_counter()
            sess.run(None, feed)
            times[k].append((time.perf_counter() - t0) * 1e3)
    return {k: {"ort_ms": statistics.median(v), "ort_ms_min": min(v)} for k, v in times.items()}


# --------------------------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------------------------

def ensure_tf2onnx_venv() -> None:
    py = TF2ONNX_VENV / "bin" / "python"
    def importable():
        p = subprocess.run([str(py), "-c", "import tf2onnx, tensorflow"], capture_output=True,
                           text=True)
        return p.returncode == 0, one_line_reason(p.stderr, p.stdout, p.returncode)

    if py.exists() and importable()[0]:
        return
    log(f"creating {TF2ONNX_VENV} (pip install {' '.join(TF2ONNX_REQS)}) ...")
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", "--clear", str(TF2ONNX_VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *TF2ONNX_REQS], check=True)
    ok, why = importable()
    if not ok:
        raise SystemExit(f"{TF2ONNX_VENV}: tf2onnx does not import after install: {why}")


def pkg_versions(python: str, names: list[str]) -> dict:
    code = ("import importlib.metadata as m, json, sys\n"
            "out = {}\n"
            "for n in sys.argv[1:]:\n"
            "    try: out[n] = m.version(n)\n"
            "    except Exception: pass\n"
            "print(json.dumps(out))")
    p = subprocess.run([python, "-c", code, *names], capture_output=True, text=True)
    return json.loads(p.stdout) if p.returncode == 0 else {}


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 2**20:.1f} GiB"
    except Exception:
        pass
    try:
        aff = len(os.sched_getaffinity(0))
    except AttributeError:
        aff = None
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "cpu_affinity": aff, "memory": mem,
            "os": platform.platform(), "python": platform.python_version()}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------

def _f(v, fmt):
    return "—" if v is None else format(v, fmt)


def write_results(res: dict, path: Path) -> None:
    L = []
    mi = res["machine"]
    L.append("# Conversion benchmark: tensorbridge vs tf2onnx 1.17\n")
    L.append(f"Generated by `bench/convert_bench.py` on {res['date']} "
             f"(script wall time {res['script_s'] / 60:.1f} min). Regenerate: see bench/README.md.\n")
    L.append("## Setup\n")
    L.append(f"- Machine: {mi['cpu']}, {mi['cpu_count']} CPUs (affinity {mi['cpu_affinity']}), "
             f"{mi['memory']} RAM, {mi['os']}")
    L.append(f"- Python {mi['python']}; load average (1 min) at start {res['load_start']:.2f}, "
             f"at end {res['load_end']:.2f} (other work on the machine inflates wall times and "
             f"latencies for both tools alike)")
    tb = res["versions"]["tensorbridge_env"]
    t2 = res["versions"]["tf2onnx_env"]
    L.append("- tensorbridge env: " + ", ".join(f"{k} {v}" for k, v in tb.items()))
    L.append("- tf2onnx env (own venv, bench/out/venv-tf2onnx): "
             + ", ".join(f"{k} {v}" for k, v in t2.items()))
    L.append(f"- Models: `keras.applications.X(weights=None)` after `keras.utils.set_random_seed"
             f"({SEED})`, input {SHAPE[1:]}, exported with Keras 3 `model.export()` "
             f"(TensorFlow {tb.get('tensorflow-cpu') or tb.get('tensorflow', '?')}).")
    L.append(f"- Conversion: `python -m tensorbridge convert DIR out.onnx --opset {OPSET}` vs "
             f"`python -m tf2onnx.convert --saved-model DIR --output out.onnx --opset {OPSET}`; "
             f"each a fresh process; wall = whole process (interpreter start to exit), peak RSS "
             f"= max resident set size of the process ({res['rss_method']}); "
             f"median of {res['runs']} runs after one untimed warm-up run per tool and model, "
             f"the two tools' runs interleaved; "
             f"bytecode caching on for both tools (PYTHONDONTWRITEBYTECODE removed, a "
             f"PYTHONPYCACHEPREFIX per tool under bench/out).")
    L.append(f"- ONNX Runtime: CPUExecutionProvider, default SessionOptions (intra-op threads = "
             f"ORT default) but no spinning of the thread pool between runs (the files' runs "
             f"are interleaved), batch 1, one seeded input (uniform [0, 255), seed {SEED}) used for "
             f"both files, {res['warmup']} warm-up runs then median of {res['ort_runs']}. "
             f"Max abs err is against TensorFlow {tb.get('tensorflow-cpu', '')} running the "
             f"SavedModel's `serve` endpoint on the same input (softmax outputs).")
    L.append("- Node count includes nodes inside subgraphs. No `--inputs-as-nchw` for either "
             "tool (both files take NHWC input).")
    if res.get("notes"):
        for n in res["notes"]:
            L.append(f"- Note: {n}")
    L.append("")

    verdicts = []
    for name in res["models"]:
        r = res["results"][name]
        a, b = r["tensorbridge"], r["tf2onnx"]
        L.append(f"## {name}\n")
        L.append("| | tensorbridge | tf2onnx 1.17 | tf2onnx / tensorbridge |")
        L.append("|---|---|---|---|")

        def cell(rec, key, fmt):
            if not rec["conv"]["ok"]:
                if key != "wall_s":
                    return ""
                skipped = rec["conv"].get("error", "").startswith("skipped")
                return "skipped" if skipped else "**failed**"
            src = rec["conv"] if key in ("wall_s", "rss_mb") else rec.get("onnx") or {}
            return _f(src.get(key), fmt)

        def ratio(key, sub, a=a, b=b):
            try:
                x = (a["conv"] if sub == "conv" else a["onnx"])[key]
                y = (b["conv"] if sub == "conv" else b["onnx"])[key]
                return f"{y / x:.2f}x" if x and y is not None else "—"
            except (KeyError, TypeError):
                return "—"

        rows = [("Conversion wall time (s)", "wall_s", ".2f", "conv"),
                ("Conversion peak RSS (MB)", "rss_mb", ".0f", "conv"),
                ("ONNX nodes", "nodes", "d", "onnx"),
                ("Transpose nodes", "transposes", "d", "onnx"),
                ("ORT latency, median (ms)", "ort_ms", ".2f", "onnx"),
                ("Max abs err vs TF (softmax output)", "max_abs_err", ".2e", "onnx"),
                ("Max rel err of logits vs Keras", "logits_rel_err", ".2e", "onnx"),
                ("ONNX file (MB)", "file_mb", ".1f", "onnx"),
                ("Unused initializers", "unused_initializers", "d", "onnx")]
        for label, key, fmt, sub in rows:
            no_ratio = ("max_abs_err", "logits_rel_err", "file_mb", "unused_initializers")
            rt = ratio(key, sub) if key not in no_ratio else ""
            L.append(f"| {label} | {cell(a, key, fmt)} | {cell(b, key, fmt)} | {rt} |")
        for tool, rec in (("tensorbridge", a), ("tf2onnx", b)):
            if not rec["conv"]["ok"] and rec["conv"].get("error", "").startswith("skipped"):
                continue
            if not rec["conv"]["ok"]:
                L.append(f"\n**{tool} failed**: `{rec['conv'].get('error')}` "
                         f"(full stderr: bench/out/{name}/{tool}.stderr.txt)")
            elif rec.get("onnx_error"):
                L.append(f"\n**{tool} output could not be run**: `{rec['onnx_error']}`")
        for tool, rec in (("tensorbridge", a), ("tf2onnx", b)):
            if rec["conv"]["ok"]:
                L.append(f"\n{tool} per-run wall s: {rec['conv']['wall_s_all']}; "
                         f"peak RSS MB: {rec['conv']['rss_mb_all']}")
        spread = res["spread"].get(name)
        if spread is not None:
            L.append(f"\nTF's softmax output spread (max - min) on the seeded input: {spread:.2e}"
                     + (" -- near-uniform (random weights), so its max abs err says little; the "
                        "logits row (max |diff| / max |logit|) is the meaningful check."
                        if spread < 1e-3 else "."))
        L.append("")
        # goals
        v = {"model": name}
        if a["conv"]["ok"] and b["conv"]["ok"]:
            v["speed"] = b["conv"]["wall_s"] / a["conv"]["wall_s"]
            v["mem"] = b["conv"]["rss_mb"] / a["conv"]["rss_mb"]
            if a.get("onnx") and b.get("onnx"):
                v["ort"] = b["onnx"]["ort_ms"] / a["onnx"]["ort_ms"]
        verdicts.append((v, a["conv"]["ok"], b["conv"]["ok"]))

    L.append("## Goals (issue 4): >= 10x faster, >= 5x less memory, output at least as fast on ORT\n")
    L.append("| Model | speed-up (goal >= 10x) | memory ratio (goal >= 5x) | "
             "ORT tf2onnx/tensorbridge (goal >= 1.00; within 1%: a tie) |")
    L.append("|---|---|---|---|")

    def mark(x, goal, tie=0.0):
        if x is None:
            return "n/a"
        if goal - tie <= x < goal:
            return f"{x:.3f}x MET (tie)"
        return f"{x:.2f}x {'MET' if x >= goal else 'NOT MET'}"

    for v, aok, bok in verdicts:
        if not aok:
            L.append(f"| {v['model']} | tensorbridge failed | | |")
        elif not bok:
            L.append(f"| {v['model']} | n/a: tf2onnx failed | n/a | n/a |")
        else:
            L.append(f"| {v['model']} | {mark(v.get('speed'), 10)} | {mark(v.get('mem'), 5)} | "
                     f"{mark(v.get('ort'), 1.0, ORT_TIE)} |")
    L.append("")
    both = [v for v, aok, bok in verdicts if aok and bok and "ort" in v]
    failed_tb = [v["model"] for v, aok, _ in verdicts if not aok]
    failed_t2 = [v["model"] for v, aok, bok in verdicts if aok and not bok]
    L.append("**Verdict:**")
    for label, key, goal in (("10x faster", "speed", 10), ("5x less memory", "mem", 5),
                             ("output at least as fast on ORT", "ort", 1.0)):
        low = goal - (ORT_TIE if key == "ort" else 0.0)
        met = [v["model"] for v in both if v[key] >= low]
        missed = [f"{v['model']} ({v[key]:.2f}x)" for v in both if v[key] < low]
        if not both:
            L.append(f"- {label}: not measurable (no model converted by both tools).")
        elif not missed:
            L.append(f"- {label}: **met** on every model compared ({', '.join(met)}).")
        else:
            L.append(f"- {label}: **not met** on {', '.join(missed)}"
                     + (f"; met on {', '.join(met)}." if met else "."))
    if failed_tb:
        L.append(f"- tensorbridge failed to convert: {', '.join(failed_tb)}.")
    if failed_t2:
        L.append(f"- tf2onnx failed to convert: {', '.join(failed_t2)} (no comparison possible).")
    L.append("")
    if res.get("summary"):
        L.append(res["summary"] + "\n")
    text = "\n".join(L)
    path.write_text(text + _kept_sections(path, text))


def _kept_sections(path: Path, text: str) -> str:
    """The sections of the old RESULTS.md this script does not write (the hand-written
    observations, the other bench scripts' sections), kept after the regenerated part."""
    if not path.exists():
        return ""
    ours = {line for line in text.splitlines() if line.startswith("## ")}
    old = path.read_text()
    parts = old.split("\n## ")[1:]
    kept = ["## " + part.rstrip("\n") for part in parts if "## " + part.splitlines()[0] not in ours]
    return "".join("\n" + k + "\n" for k in kept)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--runs", type=int, default=5, help="conversions per tool and model")
    ap.add_argument("--tf2onnx-runs", type=int, help="override --runs for tf2onnx")
    ap.add_argument("--ort-runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--skip-tf2onnx", action="store_true")
    ap.add_argument("--rebuild", action="store_true", help="re-export the SavedModels")
    ap.add_argument("--results", default=str(BENCH / "RESULTS.md"))
    ap.add_argument("--note", action="append", default=[], help="extra line for RESULTS.md")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    import numpy as np

    models = [m for m in args.models.split(",") if m]
    OUT.mkdir(parents=True, exist_ok=True)
    if not args.skip_tf2onnx:
        ensure_tf2onnx_venv()

    res = {"date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
           "machine": machine_info(), "models": models, "runs": args.runs,
           "load_start": os.getloadavg()[0], "ort_runs": args.ort_runs, "warmup": args.warmup,
           "results": {}, "notes": args.note,
           "rss_method": ("GNU time -v" if os.access(GNU_TIME, os.X_OK)
                          else "getrusage(RUSAGE_CHILDREN) in a wrapper")}
    res["versions"] = {
        "tensorbridge_env": pkg_versions(sys.executable, [
            "tensorbridge", "onnx", "onnxruntime", "onnxruntime-gpu", "numpy", "protobuf",
            "tensorflow", "tensorflow-cpu", "keras"]),
        "tf2onnx_env": ({} if args.skip_tf2onnx else pkg_versions(
            str(TF2ONNX_VENV / "bin" / "python"),
            ["tf2onnx", "tensorflow", "tensorflow-cpu", "keras", "onnx", "numpy", "protobuf"])),
    }
    try:
        git = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
        res["versions"]["tensorbridge_env"]["tensorbridge"] += f" (git {git})"
    except Exception:
        pass

    for name in models:
        mdir = OUT / "models" / name
        if args.rebuild:
            shutil.rmtree(mdir, ignore_errors=True)
        if (mdir / "ref.npz").exists() and "logits" not in np.load(mdir / "ref.npz"):
            shutil.rmtree(mdir)  # cached by an older version of this script
        if not (mdir / "saved_model.pb").exists():
            log(f"{name}: building + exporting with Keras 3 ...")
            mdir.parent.mkdir(parents=True, exist_ok=True)
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
            subprocess.run([sys.executable, __file__, "_build", name, str(mdir)], check=True,
                           env=env)
        ref = dict(np.load(mdir / "ref.npz"))
        res.setdefault("spread", {})[name] = float(ref["y_spread"])
        work = OUT / name
        work.mkdir(parents=True, exist_ok=True)
        tools = {"tensorbridge": args.runs}
        if not args.skip_tf2onnx:
            tools["tf2onnx"] = args.tf2onnx_runs or args.runs
        for tool in tools:
            (work / f"{tool}.stderr.txt").unlink(missing_ok=True)
        log(f"{name}: converting, interleaved: " + ", ".join(f"{t} x{n}" for t, n in tools.items()))
        r = {tool: {"conv": rec} for tool, rec in convert_runs(tools, mdir, work).items()}
        if args.skip_tf2onnx:
            r["tf2onnx"] = {"conv": {"ok": False, "error": "skipped (--skip-tf2onnx)"}}
        sessions = {}
        for tool, rec in r.items():
            if rec["conv"]["ok"]:
                try:
                    rec["onnx"], sess, feed = analyse_onnx(work / f"{tool}.onnx", ref)
                    sessions[tool] = (sess, feed)
                except Exception as e:  # the file was written but ORT cannot run it
                    rec["onnx_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                    log(f"  {tool}: ORT failed: {rec['onnx_error']}")
        for tool, t in time_sessions(sessions, args.ort_runs, args.warmup).items():
            o = r[tool]["onnx"]
            o.update(t)
            log(f"  {tool}: {o['nodes']} nodes, {o['transposes']} Transpose, ORT {o['ort_ms']:.2f} "
                f"ms, max abs err {o['max_abs_err']}, logits rel err {o.get('logits_rel_err')}")
        res["results"][name] = r

    res["script_s"] = time.perf_counter() - t_start
    res["load_end"] = os.getloadavg()[0]
    (OUT / "results.json").write_text(json.dumps(res, indent=2, default=str))
    write_results(res, Path(args.results))
    log(f"wrote {args.results} and {OUT / 'results.json'} ({res['script_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_build":
        _child_build(sys.argv[2], sys.argv[3])
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "_rss":
        sep = sys.argv.index("--")
        sys.exit(_child_rss(sys.argv[2], sys.argv[sep + 1:]))
    sys.exit(main())
