#!/usr/bin/env python
"""Benchmark: a model whose weights exceed 2 GB, ONNX -> SavedModel -> ONNX (issue 5 item 5).

    /work/venv/bin/python bench/large_model_bench.py   # writes its section of bench/RESULTS.md

The model (bench/out/large/big.onnx + big.data, generated once): x [1, 4096] -> 36 x (MatMul
by a float32 [4096, 4096] weight (64 MiB) -> Tanh) -> y; 2304 MiB (2.42 GB) of weights in one
external data file. The generator writes the data file weight by weight and builds a ModelProto
whose initializers only point into it, so it never holds more than one weight itself.

Measured, each in a fresh process (wall = whole process; peak RSS = max resident set size from
GNU `time -v`, else a getrusage wrapper; it includes memory-mapped file pages while mapped):
  (a) `python -m tensorbridge convert big.onnx big_sm/`   ONNX -> SavedModel (sharded variables)
  (b) `python -m tensorbridge convert big_sm/ back.onnx`  SavedModel -> ONNX (external data)
  (c) `python -m tensorbridge convert big.onnx frozen_sm/ --freeze`  must be refused (exit 1,
      a message naming the 2 GB limit), and leave nothing behind;
  (0) the imports alone (the floor).
Goal: peak RSS of (a) and (b) < 0.5 x the weights' size.

Checks (each runtime in its own child process): ONNX Runtime on big.onnx and back.onnx, and
TensorFlow (`tf.saved_model.load(big_sm).signatures["serving_default"]`) on the same seeded x;
max abs difference against big.onnx on ORT. The SavedModel's bundle: number of data shards,
their total size vs the weight bytes (plus the TF2 object-graph entry), every float variable's
entry size.

Profiling: `TB_BENCH_VMHWM=1` makes the conversions run through this script's `_convert`
child, which wraps the main phase functions (load, passes, lift, SavedModel/bundle/ONNX
writers) and prints /proc/self/status VmHWM and VmRSS after each to stderr (monkeypatched
here; the package is untouched). `--profile` runs (a) and (b) once that way and prints it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from convert_bench import GNU_TIME, log, measure, median  # noqa: E402
from memory_bench import write_external  # noqa: E402
from results_md import replace_section  # noqa: E402

OUT = BENCH / "out" / "large"
N_WEIGHTS = 36
DIM = 4096  # 4096 x 4096 float32 = 64 MiB
WEIGHT_BYTES = N_WEIGHTS * DIM * DIM * 4
GOAL = 0.5
SECTION = "## Large model (> 2 GB) round trip"
SEED_W, SEED_X = 0, 1


# ---- the model ------------------------------------------------------------------------------
def generate(path: Path) -> None:
    """big.onnx + big.data, written weight by weight (external data, 4 KiB aligned)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    data_name = f"{path.stem}.data"
    rng = np.random.default_rng(SEED_W)
    inits, nodes, offset = [], [], 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(data_name + ".tmp")
    with open(tmp, "wb") as f:
        for i in range(N_WEIGHTS):
            # scaled so the activations keep their size through the chain (Tanh bounds them)
            w = rng.standard_normal((DIM, DIM), dtype=np.float32) * np.float32(1.5 / DIM ** 0.5)
            raw = w.tobytes()
            t, offset = write_external(f, f"w{i}", raw, [DIM, DIM], data_name, offset)
            del w, raw
            inits.append(t)
            src = "x" if i == 0 else f"h{i - 1}"
            nodes.append(helper.make_node("MatMul", [src, f"w{i}"], [f"m{i}"]))
            nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"h{i}" if i < N_WEIGHTS - 1 else "y"]))
    graph = helper.make_graph(
        nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, DIM])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, DIM])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    os.replace(tmp, path.with_name(data_name))
    onnx.save_model(model, str(path))  # tensors already carry their external-data fields


def seeded_x():
    import numpy as np

    return np.random.default_rng(SEED_X).standard_normal((1, DIM)).astype(np.float32)


# ---- child processes ------------------------------------------------------------------------
def _child_imports() -> None:
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401

    import tensorbridge.api  # noqa: F401


def _child_ort(model: str, out_npy: str) -> None:
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    y = s.run(None, {s.get_inputs()[0].name: seeded_x()})
    np.save(out_npy, y[names.index("y") if "y" in names else 0])


def _child_tf(sm_dir: str, out_npy: str) -> None:
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(sm_dir)
    fn = loaded.signatures["serving_default"]
    res = fn(x=tf.constant(seeded_x()))
    y = res["y"] if "y" in res else next(iter(res.values()))
    np.save(out_npy, y.numpy())
    print(json.dumps({"variables": len(loaded.variables) if hasattr(loaded, "variables") else None,
                      "inputs": str(fn.structured_input_signature),
                      "outputs": sorted(res)}))


def _status() -> str:
    vals = {}
    with open("/proc/self/status") as f:
        for ln in f:
            if ln.startswith(("VmHWM", "VmRSS")):
                k, v = ln.split(":")
                vals[k] = int(v.split()[0]) // 1024
    return f"VmHWM {vals.get('VmHWM', 0):5d} MiB  VmRSS {vals.get('VmRSS', 0):5d} MiB"


# (module, attribute path) of the phases to watch with TB_BENCH_VMHWM=1
WATCH = [
    ("tensorbridge.api", "load"),
    ("tensorbridge.api", "_prepare_layout"),
    ("tensorbridge.api", "_run_default_pipeline"),
    ("tensorbridge.api", "_export_savedmodel"),
    ("tensorbridge.api", "save"),
    ("tensorbridge.converters.savedmodel.writer", "lift_model"),
    ("tensorbridge.converters.savedmodel.writer", "_saved_model"),
    ("tensorbridge.converters.savedmodel.variables_out", "VariableTable.write_bundle"),
    ("tensorbridge.converters.savedmodel.bundle.writer", "BundleWriter.add"),
    ("tensorbridge.converters.onnx._write", "build_light_proto"),
    ("tensorbridge.converters.onnx._write", "ExternalPlan.write"),
    ("tensorbridge.converters.onnx._write", "ModelStream.write"),
]


def _install_watch() -> None:
    """Wrap each WATCH function to print VmHWM/VmRSS (and its wall time) when it returns."""
    for mod_name, attr in WATCH:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        owner, *rest = attr.split(".")
        holder = mod
        if rest:
            holder = getattr(mod, owner, None)
            name = rest[0]
        else:
            name = owner
        fn = getattr(holder, name, None) if holder is not None else None
        if fn is None:
            continue

        def make(fn=fn, label=attr):
            counter = {"n": 0}

            @functools.wraps(fn)
            def wrapper(*a, **k):
                t0 = time.perf_counter()
                r = fn(*a, **k)
                counter["n"] += 1
                if label != "BundleWriter.add" or counter["n"] % 6 == 0:
                    print(f"[vmhwm] {label:34s} #{counter['n']:<3d} {time.perf_counter() - t0:6.1f} s  "
                          f"{_status()}", file=sys.stderr, flush=True)
                return r
            return wrapper
        setattr(holder, name, make())


def _child_convert(args: list[str]) -> int:
    if os.environ.get("TB_BENCH_VMHWM"):
        print(f"[vmhwm] start{'':30s}          {_status()}", file=sys.stderr, flush=True)
        import tensorbridge.api  # noqa: F401

        _install_watch()
        print(f"[vmhwm] imports{'':28s}          {_status()}", file=sys.stderr, flush=True)
    from tensorbridge.cli import cli

    try:
        cli(args=args, prog_name="tensorbridge")
        rc = 0
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    if os.environ.get("TB_BENCH_VMHWM"):
        print(f"[vmhwm] end{'':32s}          {_status()}", file=sys.stderr, flush=True)
    return rc or 0


def measure_rc(cmd: list[str]) -> dict:
    """Like convert_bench.measure, plus the exit code (GNU time -v only)."""
    import tempfile

    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "time"
        t0 = time.perf_counter()
        p = subprocess.run([GNU_TIME, "-v", "-o", str(out), *cmd], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.read_text())
    return {"rc": p.returncode, "wall_s": wall, "rss_mb": int(m.group(1)) / 1024 if m else None,
            "stderr": p.stderr}


# ---- checks ---------------------------------------------------------------------------------

def outputs(big: Path, back: Path, sm: Path) -> dict:
    """y of big.onnx (ORT), back.onnx (ORT) and big_sm (TF), each from its own child; peak RSS
    of each child too (that memory is the runtime's, not tensorbridge's)."""
    import numpy as np

    me = str(Path(__file__).resolve())
    res, ys = {}, {}
    for key, cmd in (("ort_src", [sys.executable, me, "_ort", str(big), str(OUT / "y_src.npy")]),
                     ("ort_back", [sys.executable, me, "_ort", str(back), str(OUT / "y_back.npy")]),
                     ("tf", [sys.executable, me, "_tf", str(sm), str(OUT / "y_tf.npy")])):
        if key == "ort_back" and not back.exists() or key == "tf" and not sm.exists():
            res[key] = {"ok": False, "error": "no output to run"}
            continue
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        r = measure(cmd, env=env)
        res[key] = {"ok": r["ok"], "wall_s": r["wall_s"], "rss_mb": r["rss_mb"], "error": r["error"]}
        if r["ok"]:
            ys[key] = np.load(OUT / {"ort_src": "y_src.npy", "ort_back": "y_back.npy",
                                     "tf": "y_tf.npy"}[key])
            res[key]["shape"] = list(ys[key].shape)
        else:
            (OUT / f"{key}.stderr.txt").write_text(r["stderr"])
    ref64 = float64_reference(big)
    for key, y in ys.items():
        if y.shape == ref64.shape:
            res[key]["max_abs_err_vs_f64"] = float(np.max(np.abs(y - ref64)))
    if "ort_src" in ys:
        ref = ys["ort_src"].astype(np.float64)
        res["y_absmax"] = float(np.max(np.abs(ref)))
        for key in ("ort_back", "tf"):
            if key in ys:
                if ys[key].shape != ref.shape:
                    res[key]["max_abs_err"] = None
                    res[key]["error"] = f"shape {ys[key].shape} vs {ref.shape}"
                    continue
                err = float(np.max(np.abs(ys[key] - ref)))
                res[key]["max_abs_err"] = err
                res[key]["within_1e-5"] = err <= 1e-5
                # tensorbridge check's default float32 tolerance: |a - b| <= 1e-5 + 1e-4 |b|
                tol = 1e-5 + 1e-4 * np.abs(ref)
                res[key]["within_check_tol"] = bool(np.all(np.abs(ys[key] - ref) <= tol))
    return res


def _onnx_regions(path: Path) -> dict:
    """name -> (data file, offset, length) of every external initializer of an ONNX file."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    out = {}
    for t in m.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            kv = {e.key: e.value for e in t.external_data}
            out[t.name] = (path.parent / kv["location"], int(kv.get("offset", 0)), int(kv["length"]))
    return out


def _same_bytes(a: tuple, b: tuple, chunk: int = 16 << 20) -> bool:
    (pa, oa, na), (pb, ob, nb) = a, b
    if na != nb:
        return False
    with open(pa, "rb") as fa, open(pb, "rb") as fb:
        fa.seek(oa)
        fb.seek(ob)
        left = na
        while left:
            n = min(left, chunk)
            if fa.read(n) != fb.read(n):
                return False
            left -= n
    return True


def weights_identical(big: Path, sm: Path, back: Path) -> dict:
    """Every weight's bytes: big.data vs the SavedModel's bundle and vs back.data (streamed)."""
    from tensorbridge.converters.savedmodel.bundle import BundleReader
    from tensorbridge.converters.savedmodel.bundle.reader import data_path

    src = _onnx_regions(big)
    res = {"weights": len(src)}
    if sm.exists():
        r = BundleReader(sm / "variables" / "variables")
        same = 0
        for name, region in src.items():
            key = next((k for k in (f"{name}/.ATTRIBUTES/VARIABLE_VALUE", name) if k in r), None)
            if key is None:
                continue
            e = r.entry(key)
            same += _same_bytes(region, (data_path(r.prefix, e.shard_id, r.num_shards), e.offset, e.size))
        res["bundle_identical"] = same
    if back.exists():
        dst = _onnx_regions(back)
        same = 0
        for name, region in src.items():  # back.onnx names a weight by its checkpoint key
            key = next((k for k in (name, f"{name}/.ATTRIBUTES/VARIABLE_VALUE") if k in dst), None)
            same += key is not None and _same_bytes(region, dst[key])
        res["back_identical"] = same
        res["back_names"] = sorted(dst)[:2]
    return res


def float64_reference(big: Path):
    """y of the model computed in float64 by numpy, weight by weight (memory-mapped)."""
    import numpy as np

    x = seeded_x().astype(np.float64)
    regions = _onnx_regions(big)
    for i in range(N_WEIGHTS):
        path, off, n = regions[f"w{i}"]
        w = np.memmap(path, dtype="<f4", mode="r", offset=off, shape=(DIM, DIM))
        x = np.tanh(x @ w.astype(np.float64))
        del w
    return x


def bundle_info(sm: Path) -> dict:
    """Shards, data bytes and entries of big_sm/variables."""
    from tensorbridge.converters.savedmodel.bundle import BundleReader

    prefix = sm / "variables" / "variables"
    r = BundleReader(prefix)
    shards = sorted((sm / "variables").glob("variables.data-*"))
    sizes = [p.stat().st_size for p in shards]
    float_keys = [k for k in r.keys() if r.dtype(k).name.lower() in ("float", "float32")]
    float_bytes = sum(r.entry(k).size for k in float_keys)
    other = {k: r.entry(k).size for k in r.keys() if k not in float_keys}
    return {"num_shards_header": r.num_shards, "data_files": [p.name for p in shards],
            "shard_bytes": sizes, "data_bytes": sum(sizes), "float_variables": len(float_keys),
            "float_bytes": float_bytes, "other_entries": other,
            "float_bytes_equal_weights": float_bytes == WEIGHT_BYTES,
            "data_bytes_equal": sum(sizes) == float_bytes + sum(other.values()),
            "files_in_dir": sorted(str(p.relative_to(sm)) for p in sm.rglob("*") if p.is_file())}


def onnx_files(path: Path) -> dict:
    data = sorted(p for p in path.parent.iterdir() if p.name.startswith(path.stem) and p.suffix == ".data")
    return {"onnx_bytes": path.stat().st_size if path.exists() else None,
            "data_files": [p.name for p in data], "data_bytes": sum(p.stat().st_size for p in data)}


# ---- report ---------------------------------------------------------------------------------
def report(res: dict) -> str:
    mib = WEIGHT_BYTES / 2**20
    L = [SECTION + "\n",
         f"Generated by `bench/large_model_bench.py` on {res['date']} (regenerate: see "
         "bench/README.md). Model: x [1, 4096] -> "
         f"{N_WEIGHTS} x (MatMul by a float32 [{DIM}, {DIM}] weight -> Tanh) -> y; weights "
         f"{WEIGHT_BYTES} bytes ({mib:.0f} MiB, {WEIGHT_BYTES / 1e9:.2f} GB) in one external data "
         "file, generated tensor by tensor. Each command is a fresh process, median of "
         f"{res['runs']} run(s); peak RSS = max resident set size ({res['rss_method']}), which "
         f"counts memory-mapped file pages while they are mapped. Goal: peak RSS of (a) and (b) "
         f"< {GOAL} x weights = {GOAL * mib:.0f} MiB. Machine: {res['machine']}.\n",
         "| command | wall (s) | peak RSS (MiB) | weights (MiB) | RSS / weights | goal < 0.5x |",
         "|---|---|---|---|---|---|"]
    labels = {"imports": "(0) imports only (`import tensorbridge.api, onnx, onnxruntime`)",
              "to_sm": "(a) `python -m tensorbridge convert big.onnx big_sm/`",
              "to_onnx": "(b) `python -m tensorbridge convert big_sm/ back.onnx`",
              "freeze": "(c) `python -m tensorbridge convert big.onnx frozen_sm/ --freeze`"}
    for key, label in labels.items():
        r = res["cmds"].get(key)
        if r is None:
            continue
        if key == "freeze":
            ratio = r["rss_mb"] / mib if r.get("rss_mb") else None
            verdict = "(expected 1)" if r["rc"] == 1 else "**unexpected**"
            L.append(f"| {label} | {r['wall_s']:.1f} | {r['rss_mb']:.0f} | {mib:.0f} | "
                     f"{ratio:.2f}x | refused: exit {r['rc']} {verdict} |")
            continue
        if not r["ok"]:
            L.append(f"| {label} | **failed**: `{r['error']}` | | | | |")
            continue
        ratio = r["rss_mb"] / mib
        goal = "" if key == "imports" else ("**met**" if ratio < GOAL else "**NOT met**")
        L.append(f"| {label} | {r['wall_s']:.1f} | {r['rss_mb']:.0f} | {mib:.0f} | {ratio:.2f}x | {goal} |")
    L.append("")
    for key in ("to_sm", "to_onnx"):
        r = res["cmds"].get(key)
        if r and r.get("rss_all"):
            L.append(f"- {key}: per-run peak RSS MiB {[round(x) for x in r['rss_all']]}, wall s "
                     f"{[round(x, 1) for x in r['wall_all']]}")
    fr = res["cmds"].get("freeze")
    if fr:
        L.append(f"- (c) `--freeze`: exit code {fr['rc']}, message: `{fr['message']}`; output "
                 f"directory left behind: {fr['left_behind']}")
    b = res.get("bundle")
    if b:
        L.append(f"- big_sm/variables: {len(b['data_files'])} data shards "
                 f"({', '.join(b['data_files'])}; sizes {b['shard_bytes']} bytes); "
                 f"{b['float_variables']} float variables, {b['float_bytes']} bytes "
                 f"(= the weights: {b['float_bytes_equal_weights']}); total data {b['data_bytes']} "
                 f"bytes = weights + other entries {b['other_entries']} bytes: {b['data_bytes_equal']}")
    o = res.get("back_files")
    if o:
        L.append(f"- back.onnx: {o['onnx_bytes']} bytes + external data {o['data_files']} "
                 f"{o['data_bytes']} bytes")
    c = res.get("check", {})
    for key, label in (("ort_back", "back.onnx on ORT"), ("tf", "big_sm in TensorFlow")):
        r = c.get(key)
        if not r:
            continue
        if r.get("ok") and r.get("max_abs_err") is not None:
            L.append(f"- {label} vs big.onnx on ORT (same seeded x, |y| max {c.get('y_absmax', 0):.3f}): "
                     f"max abs diff {r['max_abs_err']:.2e} "
                     f"({'within' if r['within_1e-5'] else '**NOT within**'} "
                     f"1e-5; {'within' if r['within_check_tol'] else '**NOT within**'} `tensorbridge "
                     f"check`'s float32 tolerance 1e-5 + 1e-4 x |y|); vs a float64 numpy reference "
                     f"{r.get('max_abs_err_vs_f64', float('nan')):.2e}; that process's peak RSS "
                     f"{r['rss_mb']:.0f} MiB, {r['wall_s']:.1f} s")
        else:
            L.append(f"- {label}: **failed**: `{r.get('error')}`")
    if c.get("ort_src", {}).get("rss_mb"):
        L.append(f"- big.onnx on ORT (the reference): vs the float64 numpy reference "
                 f"{c['ort_src'].get('max_abs_err_vs_f64', float('nan')):.2e}; peak RSS "
                 f"{c['ort_src']['rss_mb']:.0f} MiB, {c['ort_src']['wall_s']:.1f} s")
    w = res.get("weights_identical")
    if w:
        L.append(f"- weight bytes, streamed and compared with big.data: {w.get('bundle_identical')}/"
                 f"{w['weights']} identical in big_sm's bundle, {w.get('back_identical')}/{w['weights']} "
                 f"in back.data (back.onnx names them by checkpoint key, e.g. "
                 f"`{(w.get('back_names') or ['?'])[0]}`)")
    L.append("")
    L.extend(f"- {n}" for n in res.get("notes", []))
    if res.get("notes"):
        L.append("")
    return "\n".join(L)


def update_section(path: Path, text: str) -> None:
    """Replace (or append) this script's section of RESULTS.md, leaving the rest alone."""
    replace_section(path, SECTION, text.removeprefix(SECTION + "\n").lstrip("\n"))


def machine() -> str:
    import platform

    cpu = ""
    try:
        for ln in open("/proc/cpuinfo"):
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = f"{int(open('/proc/meminfo').readline().split()[1]) / 2**20:.0f} GiB RAM"
    except (OSError, ValueError):
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), {mem}, Python {platform.python_version()}"


# ---- main -----------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1, help="runs of (a) and (b) (median reported)")
    ap.add_argument("--results", default=str(BENCH / "RESULTS.md"))
    ap.add_argument("--note", action="append", default=[], help="extra line for RESULTS.md")
    ap.add_argument("--profile", action="store_true",
                    help="run (a) and (b) once with the VmHWM hook and print it; no report")
    ap.add_argument("--no-check", action="store_true", help="skip the ORT/TF runs")
    ap.add_argument("--clean", action="store_true", help="delete bench/out/large at the end")
    ap.add_argument("--from-json", action="store_true",
                    help="rewrite the section from bench/out/large/results.json (notes: --note "
                         "when given, else the stored ones); no runs")
    args = ap.parse_args(argv)
    if args.from_json:
        res = json.loads((OUT / "results.json").read_text())
        if args.note:
            res["notes"] = args.note
            (OUT / "results.json").write_text(json.dumps(res, indent=2, default=str))
        update_section(Path(args.results), report(res))
        return 0

    OUT.mkdir(parents=True, exist_ok=True)
    big, sm, back, frozen = OUT / "big.onnx", OUT / "big_sm", OUT / "back.onnx", OUT / "frozen_sm"
    if not big.exists() or not (OUT / "big.data").exists():
        log(f"generating {big} ({WEIGHT_BYTES / 2**30:.2f} GiB of weights) ...")
        r = measure([sys.executable, str(Path(__file__).resolve()), "_generate", str(big)])
        log(f"generated in {r['wall_s']:.1f} s, generator peak RSS {r['rss_mb']:.0f} MiB")
        if not r["ok"]:
            print(r["stderr"], file=sys.stderr)
            return 1
    me = str(Path(__file__).resolve())
    conv = [sys.executable, me, "_convert", "convert"]
    if args.profile:
        env = dict(os.environ, TB_BENCH_VMHWM="1")
        for cmd in ([*conv, str(big), str(sm), "--overwrite"],
                    [*conv, str(sm), str(back), "--overwrite"]):
            log(" ".join(cmd[2:]))
            p = subprocess.run(cmd, env=env, text=True, capture_output=True)
            print("\n".join(ln for ln in p.stderr.splitlines() if ln.startswith("[vmhwm]") or p.returncode),
                  flush=True)
        return 0

    cmds = {
        "imports": [sys.executable, me, "_imports"],
        "to_sm": [sys.executable, "-m", "tensorbridge", "convert", str(big), str(sm), "--overwrite"],
        "to_onnx": [sys.executable, "-m", "tensorbridge", "convert", str(sm), str(back), "--overwrite"],
    }
    res = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "runs": args.runs, "cmds": {}, "notes": args.note, "machine": machine(),
           "weight_bytes": WEIGHT_BYTES,
           "rss_method": "GNU time -v" if os.access(GNU_TIME, os.X_OK) else "getrusage wrapper"}
    for key, cmd in cmds.items():
        rec = {"cmd": " ".join(cmd), "rss_all": [], "wall_all": [], "ok": True}
        for i in range(1 if key == "imports" else args.runs):
            r = measure(cmd)
            log(f"{key:8s} run {i + 1}: " + (f"{r['wall_s']:.1f} s, {r['rss_mb']:.0f} MiB"
                                            if r["ok"] else f"FAILED ({r['error']})"))
            if not r["ok"]:
                rec.update(ok=False, error=r["error"])
                (OUT / f"{key}.stderr.txt").write_text(r["stderr"])
                break
            rec["rss_all"].append(r["rss_mb"])
            rec["wall_all"].append(r["wall_s"])
        rec["rss_mb"], rec["wall_s"] = median(rec["rss_all"]), median(rec["wall_all"])
        res["cmds"][key] = rec
        if key == "to_sm" and rec["ok"]:
            res["bundle"] = bundle_info(sm)
            log(f"bundle: {res['bundle']['data_files']} {res['bundle']['shard_bytes']}")
        if key == "to_onnx" and rec["ok"]:
            res["back_files"] = onnx_files(back)

    # (c) --freeze past 2 GB: refused, exit 1, clear message, nothing left behind
    shutil.rmtree(frozen, ignore_errors=True)
    fcmd = [sys.executable, "-m", "tensorbridge", "convert", str(big), str(frozen), "--freeze"]
    fr = measure_rc(fcmd)
    msg = [ln for ln in fr["stderr"].splitlines() if ln.strip()]
    res["cmds"]["freeze"] = {"cmd": " ".join(fcmd), "rc": fr["rc"], "wall_s": fr["wall_s"],
                             "rss_mb": fr["rss_mb"], "message": " / ".join(msg[-3:]),
                             "left_behind": frozen.exists() or any(OUT.glob(".frozen_sm*"))}
    log(f"freeze: exit {fr['rc']}: {res['cmds']['freeze']['message']}")

    if not args.no_check:
        log("comparing the weights' bytes ...")
        res["weights_identical"] = weights_identical(big, sm, back)
        log(json.dumps(res["weights_identical"]))
        log("checking outputs on ORT and TF ...")
        res["check"] = outputs(big, back, sm)
        log(json.dumps(res["check"]))
    (OUT / "results.json").write_text(json.dumps(res, indent=2, default=str))
    update_section(Path(args.results), report(res))
    log(f"wrote {args.results} ({SECTION[3:]}) and {OUT / 'results.json'}")
    if args.clean:
        for p in (big, OUT / "big.data", back, OUT / "back.data"):
            p.unlink(missing_ok=True)
        shutil.rmtree(sm, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        sub, rest = sys.argv[1], sys.argv[2:]
        if sub == "_generate":
            generate(Path(rest[0]))
        elif sub == "_imports":
            _child_imports()
        elif sub == "_ort":
            _child_ort(*rest)
        elif sub == "_tf":
            _child_tf(*rest)
        elif sub == "_convert":
            sys.exit(_child_convert(rest))
        else:
            sys.exit(f"unknown sub-command {sub}")
        sys.exit(0)
    sys.exit(main())
