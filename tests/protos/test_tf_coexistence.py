"""Real TensorFlow and our protos load into one process, in either import order."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool

pytestmark = pytest.mark.tf

ROOT = Path(__file__).resolve().parents[2]
OUR_MODULES = sorted(f"tensorbridge.protos.{p.stem}"
                     for p in (ROOT / "tensorbridge" / "protos").glob("*_pb2.py"))

IMPORT_OURS = f"""
import importlib
for name in {OUR_MODULES!r}:
    importlib.import_module(name)
"""
IMPORT_TF = """
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2 as tf_sm, fingerprint_pb2
assert tf.constant(2.0).numpy() == 2.0
"""
USE_BOTH = """
from tensorbridge.protos import saved_model_pb2 as our_sm
theirs = tf_sm.SavedModel(saved_model_schema_version=1)
theirs.meta_graphs.add().meta_info_def.tags.append("serve")
data = theirs.SerializeToString(deterministic=True)
ours = our_sm.SavedModel.FromString(data)
assert list(ours.meta_graphs[0].meta_info_def.tags) == ["serve"]
assert ours.SerializeToString(deterministic=True) == data
print("both-ok")
"""


def run_snippet(code: str) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "both-ok" in result.stdout, result.stderr[-3000:]


def test_tensorflow_then_ours() -> None:
    pytest.importorskip("tensorflow")
    run_snippet(IMPORT_TF + IMPORT_OURS + USE_BOTH)


def test_ours_then_tensorflow() -> None:
    pytest.importorskip("tensorflow")
    run_snippet(IMPORT_OURS + IMPORT_TF + USE_BOTH)


def test_in_process_both_packages_registered() -> None:
    pytest.importorskip("tensorflow")
    from tensorflow.core.framework import versions_pb2 as tf_versions_pb2

    for name in OUR_MODULES:
        importlib.import_module(name)
    from tensorbridge.protos import versions_pb2

    find = descriptor_pool.Default().FindMessageTypeByName
    assert find("tensorflow.VersionDef") is tf_versions_pb2.VersionDef.DESCRIPTOR
    assert find("tensorbridge.tf.VersionDef") is versions_pb2.VersionDef.DESCRIPTOR
