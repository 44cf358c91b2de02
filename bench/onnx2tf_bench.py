#!/usr/bin/env python
"""Benchmark: ONNX -> SavedModel, tensorbridge vs onnx2tf (issue 5, "Must show").

Run with the project's environment (PyTorch, scikit-learn and skl2onnx write the ONNX files,
TensorFlow 2.21 runs the SavedModels):

    /work/venv/bin/python bench/onnx2tf_bench.py       # writes its section of bench/RESULTS.md

Steps:
  1. onnx2tf goes into its own venv, bench/out/venv-onnx2tf (created when missing, with
     Python >= 3.12 when one is found: onnx2tf 2.x requires it; `pip install onnx2tf==PIN`,
     which pulls its pinned tensorflow, onnx, onnx-graphsurgeon, sng4onnx, ai-edge-litert ...);
  2. the three files of bench/real_models.py (TransformerEncoder, Conv-BN CNN, sklearn
     pipeline) are written to bench/out/onnx2tf/models/;
  3. each tool converts each file to a SavedModel in a fresh process, N times: whole-process
     wall time and peak RSS (bench/convert_bench.py's `measure`);
  4. TF latency of each SavedModel (`tf.saved_model.load` + `signatures["serving_default"]`,
     CPU, batch 1 and 8, median of 50 calls after 10 warm-ups; each in a child process: ours
     and onnx2tf's in the main venv's TensorFlow, onnx2tf's also in its own venv's) next to
     ONNX Runtime (CPU, default session) on the source file; max abs error vs ORT;
  5. ONNX backend node tests: one case per op (the first, by name, whose model ONNX Runtime
     runs and reproduces the expected outputs), converted by each tool and run in TF, compared
     with the expected outputs (allclose rtol 1e-3, atol 1e-5); per case a 60 s timeout, cases
     run by worker processes (TF imported once per worker), a total budget (20 min per tool);
  6. the section "ONNX -> SavedModel: tensorbridge vs onnx2tf" of bench/RESULTS.md (only that
     section is replaced; raw numbers in bench/out/onnx2tf/results.json).

onnx2tf's SavedModel takes channel-last inputs where the ONNX file is channel-first (that is
its design); the TF runner transposes an input (and compares an output) channel-last when the
signature's shape asks for it, and maps onnx2tf's `output_N` keys to the ONNX outputs in order.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import real_models  # noqa: E402
from convert_bench import (  # noqa: E402
    log,
    machine_info,
    measure,
    one_line_reason,
    pkg_versions,
    record_run,
    summarize_runs,
)
from onnx2tf_report import NODE_ATOL, NODE_RTOL, SEQ, report  # noqa: E402
from results_md import replace_section  # noqa: E402

REPO = BENCH.parent
OUT = BENCH / "out" / "onnx2tf"
VENV = BENCH / "out" / "venv-onnx2tf"
# newest per Python (onnx2tf >= 2.0 requires Python >= 3.12; its `tensorflow` extra pins
# tensorflow 2.21.0, tf-keras 2.21.0, keras 3.15.0, the main venv's TF version)
ONNX2TF_PIN = {"3.13": "onnx2tf[tensorflow]==2.6.9", "3.12": "onnx2tf[tensorflow]==2.6.9",
               "3.11": "onnx2tf==1.29.24"}
SECTION = "## ONNX -> SavedModel: tensorbridge vs onnx2tf"
MODELS = ("transformer", "cnn", "sklearn", "cnn224")
BATCHES = (1, 8)
TF_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}

# --------------------------------------------------------------------------------------------
# children (run with `python -c`, in either venv: numpy + tensorflow only)
# --------------------------------------------------------------------------------------------

# Shared by the children: feed a signature with ONNX-layout arrays, return outputs in order.
_TF_COMMON = r'''
import json, sys, time, re
import numpy as np
import tensorflow as tf

def _sanitize(n):
    return re.sub(r"[^0-9A-Za-z_]", "_", n)

def _fit(x, spec):
    """x as the signature wants it: as is, or channel-last (onnx2tf's layout)."""
    shape = spec.shape
    def ok(a):
        return shape.rank is None or (len(shape) == a.ndim and all(
            d is None or d == s for d, s in zip(shape.as_list(), a.shape)))
    if ok(x) or x.ndim < 3:
        return x, False
    y = np.transpose(x, (0, *range(2, x.ndim), 1))
    return (y, True) if ok(y) else (x, False)

def make_runner(sm_dir, in_names, out_names):
    fn = tf.saved_model.load(sm_dir).signatures["serving_default"]
    specs = fn.structured_input_signature[1]
    keys = {}
    for i, n in enumerate(in_names):
        for k in (n, _sanitize(n), _sanitize(n).lower()):
            if k in specs:
                keys[n] = k
                break
        else:
            keys[n] = sorted(specs)[i] if len(specs) == len(in_names) else n
    outs = list(fn.structured_outputs)
    if all(n in outs for n in out_names):
        omap = list(out_names)
    else:
        def idx(k):
            m = re.search(r"(\d+)$", k)
            return int(m.group(1)) if m else 0
        omap = sorted(outs, key=idx) if len(outs) == len(out_names) else outs
    notes = set()
    def run(feeds):
        args = {}
        for n, x in feeds.items():
            y, t = _fit(x, specs[keys[n]])
            if t:
                notes.add(f"input {n} transposed channel-last")
            args[keys[n]] = tf.constant(y)
        res = fn(**args)
        return [res[k].numpy() for k in omap]
    return run, notes

def channel_last(x):
    return np.transpose(x, (0, *range(2, x.ndim), 1)) if x.ndim >= 3 else x
'''

# argv: spec.json = {"sms": [[label, dir], ...], "onnx": path, "feeds": npz ("b{B}/name"),
# "inputs": [...], "outputs": [...], "runs": N, "warmup": N, "out_dir": dir}. ONNX Runtime (label
# "ort") and every SavedModel in this one process, their calls interleaved (the order reversed
# every other round) so that load changes hit all alike. Prints json {label: {"latency_ms":
# {B: ms}, "notes": [...]} | {"error": ...}}; outputs in out_dir/outs_LABEL.npz.
_LATENCY_CHILD = _TF_COMMON + r'''
import os
import onnxruntime as ort
spec = json.load(open(sys.argv[1]))
in_names, out_names = spec["inputs"], spec["outputs"]
data = np.load(spec["feeds"])
so = ort.SessionOptions()
so.log_severity_level = 3
sess = ort.InferenceSession(spec["onnx"], so, providers=["CPUExecutionProvider"])
runners, result = {"ort": (lambda feeds: sess.run(None, feeds))}, {"ort": {"notes": []}}
notes = {}
for label, sm in spec["sms"]:
    try:
        runners[label], notes[label] = make_runner(sm, in_names, out_names)
        result[label] = {}
    except Exception as e:
        result[label] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
saved = {k: {} for k in runners}
for b in sorted({int(k.split("/")[0][1:]) for k in data.files}):
    feeds = {n: data[f"b{b}/{n}"] for n in in_names}
    for label in list(runners):
        try:
            for _ in range(int(spec["warmup"])):
                outs = runners[label](feeds)
            for n, o in zip(out_names, outs):
                saved[label][f"b{b}/{n}"] = o
        except Exception as e:
            result[label] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
            del runners[label]
    ts = {k: [] for k in runners}
    keys = list(runners)
    for i in range(int(spec["runs"])):
        for label in (keys if i % 2 == 0 else keys[::-1]):
            t0 = time.perf_counter()
            runners[label](feeds)
            ts[label].append((time.perf_counter() - t0) * 1e3)
    for label, v in ts.items():
        result[label].setdefault("latency_ms", {})[b] = float(np.median(v))
for label in runners:
    np.savez(os.path.join(spec["out_dir"], f"outs_{label}.npz"), **saved[label])
    result[label]["notes"] = sorted(notes.get(label, ()))
    result[label]["tf"] = tf.__version__
print(json.dumps(result))
'''

# A node-test worker: argv: tool, json list of case dirs. Per case writes CASE/TOOL.json
# ({"status": "pass"|"fail"|"convert_error"|"run_error", "why": ...}); CASE/TOOL.started first.
_NODE_WORKER = _TF_COMMON + r'''
import signal, shutil, traceback, os, io, contextlib
tool, cases = sys.argv[1], json.loads(sys.argv[2])
RTOL, ATOL = float(sys.argv[3]), float(sys.argv[4])
ONNX2TF_API = json.loads(sys.argv[5])
VARIANT = sys.argv[6]  # "" (every input fed) or "const" (inputs after the first as constants)
TAG = tool + (f".{VARIANT}" if VARIANT else "")

class CaseTimeout(Exception):
    pass

def _alarm(*_):
    raise CaseTimeout("timed out (60 s)")

signal.signal(signal.SIGALRM, _alarm)

def convert(src, dst):
    if tool == "tensorbridge":
        import tensorbridge as tb
        tb.convert(src, dst)
    else:
        import onnx2tf
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            onnx2tf.convert(input_onnx_file_path=src, output_folder_path=dst, non_verbose=True,
                            **ONNX2TF_API)

def close(g, w):
    if g.dtype == bool or w.dtype == bool:
        return bool(np.array_equal(g.astype(bool), w.astype(bool)))
    return bool(np.allclose(g.astype(np.float64), w.astype(np.float64), rtol=RTOL, atol=ATOL,
                            equal_nan=True))

def one_line(e):
    s = f"{type(e).__name__}: {e}".strip().splitlines()
    return s[0][:300] if s else type(e).__name__

for case in cases:
    open(os.path.join(case, f"{TAG}.started"), "w").close()
    meta = json.load(open(os.path.join(case, "case.json")))
    feed_names = meta["const_inputs"] if VARIANT else meta["inputs"]
    dst = os.path.join(case, f"{TAG}_sm")
    shutil.rmtree(dst, ignore_errors=True)
    res = {}
    signal.alarm(int(meta["timeout"]))
    t0 = time.perf_counter()
    try:
        try:
            convert(os.path.join(case, "model_const.onnx" if VARIANT else "model.onnx"), dst)
        except CaseTimeout:
            raise
        except BaseException as e:
            res = {"status": "convert_error", "why": one_line(e)}
            # onnx2tf writes the SavedModel before its .tflite step: judge the SavedModel
            if not os.path.exists(os.path.join(dst, "saved_model.pb")):
                raise StopIteration
            res["note"] = "raised after writing the SavedModel: " + res.pop("why")
        try:
            run, notes = make_runner(dst, feed_names, meta["outputs"])
            data = np.load(os.path.join(case, "data.npz"))
            got = run({n: data["in/" + n] for n in feed_names})
        except CaseTimeout:
            raise
        except BaseException as e:
            res = {**res, "status": "run_error", "why": one_line(e)}
            raise StopIteration
        why = None
        for n, g in zip(meta["outputs"], got):
            w = data["out/" + n]
            cands = [w] + ([channel_last(w)] if w.ndim >= 3 else [])
            if not any(g.shape == c.shape and close(g, c) for c in cands):
                if all(g.shape != c.shape for c in cands):
                    why = f"{n}: shape {list(g.shape)} != {list(w.shape)}"
                elif g.shape == w.shape and w.dtype != bool:
                    err = float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64))))
                    why = f"{n}: values differ (max abs err {err:.3g})"
                else:
                    why = f"{n}: values differ"
                break
        res = {**res, "status": "fail" if why else "pass", "why": why}
    except StopIteration:
        pass
    except CaseTimeout as e:
        res = {"status": "timeout", "why": str(e)}
    finally:
        signal.alarm(0)
    res["seconds"] = time.perf_counter() - t0
    shutil.rmtree(dst, ignore_errors=True)
    with open(os.path.join(case, f"{TAG}.json"), "w") as f:
        json.dump(res, f)
'''


# --------------------------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------------------------

def _base_python() -> tuple[str, str]:
    """A Python >= 3.12 for onnx2tf 2.x when one is found, else this one; (path, "3.x")."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    cands = [shutil.which("python3.12"), shutil.which("python3.13"),
             *sorted(str(p) for p in pyenv.glob("3.1[23]*/bin/python3")),
             getattr(sys, "_base_executable", None) or sys.executable]
    for c in cands:
        if not c:
            continue
        p = subprocess.run([c, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True)
        if p.returncode == 0 and p.stdout.strip() in ONNX2TF_PIN:
            return c, p.stdout.strip()
    return sys.executable, f"{sys.version_info[0]}.{sys.version_info[1]}"


def ensure_venv() -> dict:
    py = VENV / "bin" / "python"

    def importable() -> tuple[bool, str]:
        p = subprocess.run([str(py), "-c", "import onnx2tf, tensorflow"], capture_output=True,
                           text=True, env=dict(os.environ, **TF_ENV))
        return p.returncode == 0, one_line_reason(p.stderr, p.stdout, p.returncode)

    if py.exists() and importable()[0]:
        return {"ok": True, "error": None}
    base, ver = _base_python()
    pin = ONNX2TF_PIN.get(ver, "onnx2tf")
    log(f"creating {VENV} with Python {ver} (pip install {pin}) ...")
    subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
    p = subprocess.run([str(py), "-m", "pip", "install", "-q", pin], capture_output=True,
                       text=True)
    ok, why = importable()
    if not ok:
        why = f"pip install {pin} failed: " + one_line_reason(p.stderr, p.stdout, p.returncode)
    return {"ok": ok, "error": None if ok else why}


# --------------------------------------------------------------------------------------------
# real files: conversion, latency, correctness
# --------------------------------------------------------------------------------------------

# onnx2tf's two ways to a SavedModel (2.x): the TensorFlow path (`-tb tf_converter`: builds the
# graph with TF/Keras ops and saves it; `-osd` adds the serving signature) and its new default
# backend (flatbuffer_direct, which builds its own ModelIR; `-fdosm` writes a SavedModel from it)
ONNX2TF_ARGS = {"onnx2tf": ["-tb", "tf_converter", "-osd"], "onnx2tf-fd": ["-fdosm"]}
ONNX2TF_API = {"onnx2tf": {"tflite_backend": "tf_converter", "output_signaturedefs": True},
               "onnx2tf-fd": {"flatbuffer_direct_output_saved_model": True}}
TOOLS = ("tensorbridge", *ONNX2TF_ARGS)


def convert_cmd(tool: str, name: str, src: Path, dst: Path) -> list[str]:
    if tool == "tensorbridge":
        return [sys.executable, "-m", "tensorbridge", "convert", str(src), str(dst), "--overwrite"]
    cmd = [str(VENV / "bin" / "onnx2tf"), "-i", str(src), "-o", str(dst), *ONNX2TF_ARGS[tool],
           "-n"]
    if name == "transformer":
        # without it onnx2tf reads [batch, seq, 32] as NCW and makes the input [batch, 32, seq]
        cmd += ["-kat", "x"]
    return cmd


def run_conversions(name: str, src: Path, runs: int, tools: tuple[str, ...]) -> dict:
    """Each run converts its own copy of ``src`` (onnx2tf rewrites the file it is given: with
    the ai.onnx.ml domain of the sklearn pipeline's nodes dropped, so ONNX Runtime could no
    longer load the source afterwards); a tool that changed its copy is recorded."""
    res = {}
    original = src.read_bytes()
    for tool in tools:
        dst = OUT / name / f"{tool}_sm"
        copy = OUT / name / "input" / tool / src.name
        cmd = convert_cmd(tool, name, copy, dst)
        env = dict(os.environ, **TF_ENV)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        rec = {"cmd": " ".join(cmd), "runs": []}
        for i in range(runs):
            shutil.rmtree(dst, ignore_errors=True)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(original)
            r = measure(cmd, env=env, timeout=900)
            if copy.read_bytes() != original:
                rec["modified_input"] = True
            missing = None if (dst / "saved_model.pb").exists() else "exited 0 but wrote no saved_model.pb"
            if not record_run(rec, r, f"{name:11s} {tool:12s} run {i + 1}/{runs}", missing,
                              OUT / name / f"{tool}.stderr.txt", wall=".1f"):
                break
        summarize_runs(rec)
        rec["path"] = str(dst)
        rec["files"] = sorted(p.name for p in dst.iterdir()) if dst.exists() else []
        res[tool] = rec
    return res


def build_cnn224(path: Path) -> None:
    """A larger NCHW CNN at 3x224x224 (dynamic batch), so that latency is not only call
    overhead: 5 stages of 2 x (Conv3x3-BN-ReLU) with 32..256 channels, MaxPool between them,
    global average pooling, Linear(256, 10); BN with seeded non-trivial statistics."""
    import torch
    from torch import nn

    torch.manual_seed(real_models.SEED)
    layers, cin = [], 3
    for i, cout in enumerate((32, 64, 128, 192, 256)):
        for _ in range(2):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU()]
            cin = cout
        layers.append(nn.MaxPool2d(2) if i < 4 else nn.AdaptiveAvgPool2d(1))
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(256, 10))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    model.eval()
    torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), str(path), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                      opset_version=real_models.OPSET, dynamo=False, do_constant_folding=False)


def _cnn224_input(batch: int, seq: int | None, seed: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)}


EXTRA_MODELS = {"cnn224": real_models.RealModel("cnn224", build_cnn224, ((1, None), (8, None)),
                                                _cnn224_input)}


def model_spec(name: str):
    return EXTRA_MODELS.get(name) or real_models.MODELS[name]


def build_files(names: tuple[str, ...]) -> dict[str, Path]:
    import warnings

    files = real_models.build_all(OUT / "models", tuple(n for n in names if n not in EXTRA_MODELS))
    for n in names:
        if n in EXTRA_MODELS:
            files[n] = OUT / "models" / f"{n}.onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                EXTRA_MODELS[n].build(files[n])
    return files


def _feeds(name: str) -> dict[int, dict]:
    spec = model_spec(name)
    seq = SEQ if name == "transformer" else None
    return {b: spec.make_input(b, seq, 0) for b in BATCHES}


def latency_run(name: str, src: Path, sms: list[tuple[str, Path]], feeds: dict[int, dict],
                in_names, out_names, runs: int, warmup: int) -> dict:
    """ORT and every SavedModel in one child process (main venv), calls interleaved."""
    import numpy as np

    work = OUT / name
    work.mkdir(parents=True, exist_ok=True)
    npz = work / "feeds.npz"
    np.savez(npz, **{f"b{b}/{n}": x for b, f in feeds.items() for n, x in f.items()})
    spec = {"sms": [[label, str(d)] for label, d in sms], "onnx": str(src), "feeds": str(npz),
            "inputs": in_names, "outputs": out_names, "runs": runs, "warmup": warmup,
            "out_dir": str(work)}
    (work / "latency_spec.json").write_text(json.dumps(spec))
    p = subprocess.run([sys.executable, "-c", _LATENCY_CHILD, str(work / "latency_spec.json")],
                       capture_output=True, text=True, env=dict(os.environ, **TF_ENV),
                       timeout=3600)
    if p.returncode != 0:
        err = one_line_reason(p.stderr, p.stdout, p.returncode)
        return {label: {"error": err} for label in ["ort", *(lbl for lbl, _ in sms)]}
    res = json.loads(p.stdout.strip().splitlines()[-1])
    for label, r in res.items():
        f = work / f"outs_{label}.npz"
        if "error" not in r and f.exists():
            data = np.load(f)
            r["outputs"] = {b: [data[f"b{b}/{n}"] for n in out_names] for b in feeds}
    return res


def max_err(got: list, want: list) -> tuple[float | None, str | None]:
    import numpy as np

    worst = 0.0
    for g, w in zip(got, want, strict=False):
        if g.shape != w.shape:
            wl = np.transpose(w, (0, *range(2, w.ndim), 1)) if w.ndim >= 3 else w
            if g.shape != wl.shape:
                return None, f"shape {list(g.shape)} != {list(w.shape)}"
            w = wl
        worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - w))) if g.size else 0.0)
    return worst, None


def analyse(name: str, src: Path, conv: dict, runs: int, warmup: int) -> dict:
    import onnx

    m = onnx.load(str(src))
    in_names = [i.name for i in m.graph.input
                if i.name not in {t.name for t in m.graph.initializer}]
    out_names = [o.name for o in m.graph.output]
    # onnx2tf[tensorflow] 2.6.9 pins tensorflow 2.21.0, the main venv's version: every
    # SavedModel runs in the main venv's TF, next to ORT, in one process
    sms = [(tool, Path(c["path"])) for tool, c in conv.items() if c.get("ok")]
    log(f"  {name:11s} latency: ORT + {', '.join(t for t, _ in sms)} (interleaved)")
    res = latency_run(name, src, sms, _feeds(name), in_names, out_names, runs, warmup)
    want = res.get("ort", {}).get("outputs")
    for label, r in res.items():
        r["ok"] = "error" not in r
        outs = r.pop("outputs", None)
        if label != "ort" and r["ok"] and want and outs:
            errs = [max_err(outs[b], want[b]) for b in BATCHES]
            r["max_abs_err"] = max((e for e, _ in errs if e is not None), default=None)
            r["err_why"] = next((w for _, w in errs if w), None)
    return res


# --------------------------------------------------------------------------------------------
# ONNX backend node tests
# --------------------------------------------------------------------------------------------

def select_node_cases(root: Path, timeout: int) -> tuple[list[dict], list[str]]:
    """One case per op: the first (by name) whose model ORT runs and reproduces; and the ops
    with no such case."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx.backend.test.case.node import collect_testcases

    by_op: dict[str, list] = {}
    for case in sorted(collect_testcases(None), key=lambda c: c.name):
        if case.name.endswith("_expanded") or "_expanded_" in case.name:
            continue
        nodes = case.model.graph.node
        if len(nodes) != 1 or not case.data_sets:
            continue
        n = nodes[0]
        op = f"{n.domain}::{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type
        by_op.setdefault(op, []).append(case)
    chosen = []
    so = ort.SessionOptions()
    so.log_severity_level = 4
    for op, cases in sorted(by_op.items()):
        for case in cases:
            inputs, outputs = (_arrays(xs) for xs in case.data_sets[0])
            if inputs is None or outputs is None:
                continue  # sequences / optionals
            g = case.model.graph
            in_names = [i.name for i in g.input][: len(inputs)]
            out_names = [o.name for o in g.output]
            try:
                sess = ort.InferenceSession(case.model.SerializeToString(), so,
                                            providers=["CPUExecutionProvider"])
                got = sess.run(None, dict(zip(in_names, inputs, strict=True)))
                if not all(gg.shape == w.shape and np.allclose(
                        gg.astype(np.float64) if gg.dtype != object else gg,
                        w.astype(np.float64) if w.dtype != object else w,
                        rtol=NODE_RTOL, atol=NODE_ATOL, equal_nan=True)
                        for gg, w in zip(got, outputs, strict=True)):
                    continue
            except Exception:
                continue
            d = root / op.replace("::", "__")
            d.mkdir(parents=True, exist_ok=True)
            for f in d.glob("*.json"):
                f.unlink()
            for f in d.glob("*.started"):
                f.unlink()
            onnx.save(case.model, str(d / "model.onnx"))
            onnx.save(_inputs_as_constants(case.model, inputs), str(d / "model_const.onnx"))
            np.savez(d / "data.npz", **{f"in/{n}": x for n, x in zip(in_names, inputs, strict=True)},
                     **{f"out/{n}": x for n, x in zip(out_names, outputs, strict=True)})
            meta = {"op": op, "case": case.name, "inputs": in_names, "outputs": out_names,
                    "const_inputs": in_names[:1], "timeout": timeout}
            (d / "case.json").write_text(json.dumps(meta))
            chosen.append({"op": op, "case": case.name, "dir": str(d)})
            break
    picked = {c["op"] for c in chosen}
    return chosen, sorted(op for op in by_op if op not in picked)


def _inputs_as_constants(model, inputs: list):
    """The case's model with every graph input after the first turned into an initializer
    holding the test's value (weights, axes, shapes, pads ... as a real exporter writes them)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    keep = list(g.input)[:1]
    for vi, x in zip(list(g.input)[1:], inputs[1:], strict=False):
        g.initializer.append(numpy_helper.from_array(x, vi.name))
    del g.input[:]
    g.input.extend(keep)
    return m


def _arrays(xs) -> list | None:
    """numpy arrays of a data set's values (TensorProtos and numpy scalars too), or None when
    one is a sequence/optional/map."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    out = []
    for x in xs:
        if isinstance(x, TensorProto):
            x = numpy_helper.to_array(x)
        elif isinstance(x, np.generic):
            x = np.asarray(x)
        if not isinstance(x, np.ndarray) or x.dtype == object:
            return None
        out.append(x)
    return out


def run_node_cases(tool: str, cases: list[dict], jobs: int, budget_s: float,
                   timeout: int, variant: str = "") -> dict:
    """Worker processes, each taking a share of the cases; a worker that dies or hangs past
    the per-case alarm is killed, its current case recorded, and the rest re-queued."""
    python = sys.executable if tool == "tensorbridge" else str(VENV / "bin" / "python")
    env = dict(os.environ, **TF_ENV)
    if tool == "tensorbridge":
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    pending = [c["dir"] for c in cases]
    tag = tool + (f".{variant}" if variant else "")
    for d in pending:  # a previous run's results
        for suffix in (".json", ".started"):
            (Path(d) / f"{tag}{suffix}").unlink(missing_ok=True)
    results: dict[str, dict] = {}
    t_start = time.perf_counter()

    def collect(dirs):
        left = []
        for d in dirs:
            f = Path(d) / f"{tag}.json"
            if f.exists():
                results[d] = json.loads(f.read_text())
            elif (Path(d) / f"{tag}.started").exists() and d not in results:
                results[d] = {"status": "crash", "why": "the worker died or hung on this case"}
            else:
                left.append(d)
        return left

    procs: list[tuple[subprocess.Popen, list[str], float]] = []
    while pending or procs:
        elapsed = time.perf_counter() - t_start
        while pending and len(procs) < jobs and elapsed < budget_s:
            share = pending[: max(1, -(-len(pending) // (jobs - len(procs))))]
            pending = pending[len(share):]
            p = subprocess.Popen([python, "-c", _NODE_WORKER, tool, json.dumps(share),
                                  str(NODE_RTOL), str(NODE_ATOL),
                                  json.dumps(ONNX2TF_API.get(tool, {})), variant], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            procs.append((p, share, time.perf_counter()))
        time.sleep(2)
        elapsed = time.perf_counter() - t_start
        still = []
        for p, share, _t0 in procs:
            done = sum((Path(d) / f"{tag}.json").exists() for d in share)
            stuck = _stuck(tag, share, timeout + 30)
            if p.poll() is None and elapsed < budget_s and not stuck:
                still.append((p, share, _t0))
                continue
            if p.poll() is None:
                os.killpg(p.pid, 9)
                p.wait()
            left = collect(share)
            log(f"  {tag}: worker finished {done}/{len(share)}"
                + (" (budget spent)" if elapsed >= budget_s else ""))
            if elapsed < budget_s:
                pending = left + pending
            else:
                for d in left:
                    results[d] = {"status": "not_run", "why": "total time budget spent"}
        procs = still
        if elapsed >= budget_s and not procs:
            for d in pending:
                results[d] = {"status": "not_run", "why": "total time budget spent"}
            pending = []
    out = {}
    for c in cases:
        r = results.get(c["dir"], {"status": "not_run", "why": "?"})
        out[c["op"]] = {"case": c["case"], **r}
    return {"cases": out, "seconds": time.perf_counter() - t_start}


def _stuck(tool: str, share: list[str], limit: float) -> bool:
    """The case a worker is on (started, no result) has run past the limit."""
    now = time.time()
    for d in share:
        s, r = Path(d) / f"{tool}.started", Path(d) / f"{tool}.json"
        if s.exists() and not r.exists() and now - s.stat().st_mtime > limit:
            return True
    return False


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------

def update_results(path: Path, body: str) -> None:
    """Replace this section of RESULTS.md (re-read right now); appended at the end if missing."""
    replace_section(path, SECTION, body)


# --------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--runs", type=int, default=3, help="conversions per tool and file")
    ap.add_argument("--lat-runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--skip-node-tests", action="store_true")
    ap.add_argument("--only-node-tests", action="store_true",
                    help="keep the real-file results of results.json, run the node tests")
    ap.add_argument("--merge", action="store_true",
                    help="keep results.json's other files (and node tests with "
                         "--skip-node-tests); replace only what this run measures")
    ap.add_argument("--node-timeout", type=int, default=60)
    ap.add_argument("--node-jobs", type=int, default=2)
    ap.add_argument("--node-budget-min", type=float, default=20.0, help="per tool")
    ap.add_argument("--node-tools", default=",".join(TOOLS))
    ap.add_argument("--results", type=Path, default=BENCH / "RESULTS.md")
    ap.add_argument("--observation", action="append", default=[],
                    help="a line for the report's observations (repeatable)")
    ap.add_argument("--from-json", action="store_true",
                    help="rewrite the section from bench/out/onnx2tf/results.json (no runs)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    raw = OUT / "results.json"
    if args.from_json:
        res = json.loads(raw.read_text())
        res["observations"] = args.observation or res.get("observations", [])
        update_results(args.results, report(res))
        log(f"wrote {args.results} from {raw}")
        return 0
    res = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "machine": machine_info(), "load_start": os.getloadavg()[0], "runs": args.runs,
           "lat_runs": args.lat_runs, "warmup": args.warmup, "models": {},
           "observations": args.observation}
    res["onnx2tf_status"] = ensure_venv()
    res["versions"] = {
        "tensorbridge": pkg_versions(sys.executable, ["tensorflow-cpu", "onnx", "onnxruntime",
                                                      "onnxruntime-gpu", "torch", "scikit-learn",
                                                      "skl2onnx"]),
        "onnx2tf": pkg_versions(str(VENV / "bin" / "python"),
                                ["onnx2tf", "tensorflow", "tf-keras", "onnx", "onnxruntime",
                                 "onnx-graphsurgeon", "sng4onnx", "onnxsim", "ai-edge-litert",
                                 "numpy", "protobuf"]) if res["onnx2tf_status"]["ok"] else {},
    }
    res["versions"]["onnx2tf"]["python"] = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True).stdout.strip() if (VENV / "bin" / "python").exists() else "?"
    tools = TOOLS if res["onnx2tf_status"]["ok"] else ("tensorbridge",)
    names = () if args.only_node_tests else tuple(args.models.split(","))
    prev = (json.loads(raw.read_text()) if (args.merge or args.only_node_tests) and raw.exists()
            else {})
    res["models"] = dict(prev.get("models", {}))
    if args.skip_node_tests and prev.get("node_tests"):
        res["node_tests"] = prev["node_tests"]
    files = build_files(names)
    for name in names:
        log(f"{name}: conversions")
        conv = run_conversions(name, files[name], args.runs, tools)
        res["models"][name] = {"convert": conv}
        if any(c["ok"] for c in conv.values()):
            res["models"][name]["analysis"] = analyse(name, files[name], conv, args.lat_runs,
                                                      args.warmup)
        raw.write_text(json.dumps(res, indent=1, default=str))
    if not args.skip_node_tests:
        log("node tests: selecting one case per op")
        cases, skipped = select_node_cases(OUT / "node", args.node_timeout)
        log(f"  {len(cases)} ops ({len(skipped)} with no case ORT runs)")
        kept = prev.get("node_tests", {}).get("tools", {}) if args.merge else {}
        nt = {"timeout": args.node_timeout, "jobs": args.node_jobs, "tools": dict(kept),
              "skipped_ops": skipped}  # --merge: other tools' results stay
        for variant in ("", "const"):
            for tool in args.node_tools.split(","):
                if tool not in tools:
                    continue
                key = tool + (f".{variant}" if variant else "")
                log(f"node tests: {key}")
                nt["tools"][key] = run_node_cases(tool, cases, args.node_jobs,
                                                  args.node_budget_min * 60, args.node_timeout,
                                                  variant)
                res["node_tests"] = nt
                raw.write_text(json.dumps(res, indent=1, default=str))
    res["load_end"] = os.getloadavg()[0]
    res["script_s"] = time.perf_counter() - t0
    raw.write_text(json.dumps(res, indent=1, default=str))
    # json round trip: batch keys become strings, as the report expects
    update_results(args.results, report(json.loads(json.dumps(res, default=str))))
    log(f"wrote {args.results} ({raw})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
