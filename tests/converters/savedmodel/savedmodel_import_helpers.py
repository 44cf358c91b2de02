"""Helpers for test_import*.py: convert SavedModels to ONNX in a subprocess where importing
TensorFlow (or Keras) raises, and run TF's own signature functions for reference outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]

# Runs in the child: block tensorflow/keras, convert every job, report errors per job.
_CHILD = r"""
import importlib.abc, json, sys

class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tensorflow_core"):
            raise ImportError(f"{name} is blocked: conversion must not need TensorFlow")
        return None

sys.meta_path.insert(0, _NoTensorFlow())
try:
    import tensorflow  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("the TensorFlow blocker does not work")

from tensorbridge.converters.onnx import export_onnx
from tensorbridge.converters.savedmodel.importer import import_savedmodel

results = []
for job in json.loads(sys.argv[1]):
    try:
        model = import_savedmodel(job["src"], tags=job.get("tags"), signature=job.get("signature"))
        export_onnx(model, job["dst"])
        results.append({"ok": True})
    except Exception as e:  # reported to the parent test
        results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
print(json.dumps({"results": results, "leaked": leaked}))
"""


def convert_without_tf(jobs: list[dict]) -> list[dict]:
    """Each job: {"src", "dst", optional "tags" (list), "signature"}; one child process."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(jobs)], capture_output=True, text=True,
        env=env, timeout=600, check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"conversion child failed ({proc.returncode}):\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["leaked"] == [], f"TensorFlow was imported during conversion: {out['leaked']}"
    return out["results"]


def seeded_inputs(specs: dict[str, tuple[tuple[int, ...], np.dtype]], seed: int = 0):
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, (shape, dtype) in sorted(specs.items()):
        dtype = np.dtype(dtype)
        if dtype.kind == "f":
            feeds[name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feeds[name] = rng.integers(-9, 10, shape).astype(dtype)
    return feeds


def tf_signature_outputs(model_dir: Path, key: str, feeds: dict, tags=None) -> dict:
    """TF's own outputs: tf.saved_model.load(...).signatures[key](**feeds)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(model_dir), tags=tags)
    fn = loaded.signatures[key]
    return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in feeds.items()}).items()}


def tf1_signature_outputs(model_dir: Path, tags: list[str], key: str, feeds: dict) -> dict:
    """TF1 session loader outputs for a SavedModelBuilder model."""
    import tensorflow as tf

    v1 = tf.compat.v1
    with tf.Graph().as_default() as g, v1.Session(graph=g) as sess:
        mg = v1.saved_model.loader.load(sess, tags, str(model_dir))
        sig = mg.signature_def[key]
        fetch = {k: v.name for k, v in sig.outputs.items()}
        feed = {sig.inputs[k].name: v for k, v in feeds.items()}
        return sess.run(fetch, feed_dict=feed)
