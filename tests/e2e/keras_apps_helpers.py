"""Helpers for test_keras_applications.py: convert a SavedModel with tensorbridge's default
pipeline in a child process where importing TensorFlow raises, and inspect the ONNX file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
NOTF = REPO / "tests" / "helpers_notf"  # its sitecustomize.py blocks tensorflow/keras imports

# The child: load + default pass pipeline + save, as `tensorbridge convert` does.
_KERAS_APPS_CHILD = r"""
import json, sys, time
try:
    import tensorflow  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("the TensorFlow blocker does not work")

from tensorbridge.converters.onnx import export_onnx
from tensorbridge.converters.savedmodel.importer import import_savedmodel
from tensorbridge.passes import PassContext, default_pipeline

src, dst = sys.argv[1], sys.argv[2]
opset = int(sys.argv[3]) if len(sys.argv) > 3 else None
t0 = time.perf_counter()
model = default_pipeline()(import_savedmodel(src), PassContext()).model
export_onnx(model, dst, opset=opset)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
print(json.dumps({"seconds": time.perf_counter() - t0, "leaked": leaked}))
"""


def convert_app_without_tf(src: Path, dst: Path, opset: int | None = None) -> float:
    """Convert ``src`` to ``dst`` (at ``opset``, default: the IR's) with TensorFlow
    unimportable; returns the conversion seconds."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(NOTF), str(REPO)]))
    extra = [] if opset is None else [str(opset)]
    proc = subprocess.run(
        [sys.executable, "-c", _KERAS_APPS_CHILD, str(src), str(dst), *extra], capture_output=True,
        text=True, env=env, timeout=900, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(f"conversion of {src} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["leaked"] == [], f"TensorFlow was imported during conversion: {out['leaked']}"
    return out["seconds"]


def transpose_report(onnx_path: Path) -> dict:
    """Transposes of the main graph: how many, and those 'in the body' (downstream of a Conv,
    pool or MatMul, i.e. not the one layout change of an image input)."""
    import onnx

    g = onnx.load(str(onnx_path), load_external_data=False).graph
    producers = {o: n for n in g.node for o in n.output}
    heavy = {"Conv", "MaxPool", "AveragePool", "MatMul", "Gemm", "GlobalAveragePool", "GlobalMaxPool"}

    def after_heavy(node, seen):
        for i in node.input:
            p = producers.get(i)
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            if p.op_type in heavy or after_heavy(p, seen):
                return True
        return False

    transposes = [n for n in g.node if n.op_type == "Transpose"]
    body = [n.name for n in transposes if after_heavy(n, set())]
    return {"count": len(transposes), "body": body, "ops": Counter(n.op_type for n in g.node),
            "nodes": len(g.node), "unused_initializers": unused_initializers(g)}


def unused_initializers(g) -> list[str]:
    """Initializers of an onnx GraphProto that no node (nested subgraphs included) and no
    graph output reads."""
    import onnx

    used = {o.name for o in g.output}

    def walk(graph) -> None:
        for n in graph.node:
            used.update(n.input)
            for a in n.attribute:
                for sub in [a.g] if a.type == onnx.AttributeProto.GRAPH else a.graphs:
                    walk(sub)

    walk(g)
    return [t.name for t in g.initializer if t.name not in used]


def max_errors(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """(max abs error, max error relative to |want| where |want| > 0)."""
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    ref = np.abs(want.astype(np.float64))
    rel = diff[ref > 0] / ref[ref > 0]
    return float(diff.max(initial=0.0)), float(rel.max(initial=0.0))
