"""SavedModel -> ONNX through the CLI, in a process where importing TensorFlow raises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
import tf_fixtures  # noqa: E402

NO_TF = TESTS / "helpers_notf"


def tb(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(NO_TF), str(TESTS.parent)]))
    return subprocess.run([sys.executable, "-m", "tensorbridge", *args],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip


@pytest.fixture(scope="session")
def mlp_dir(tmp_path_factory) -> Path:
    pytest.importorskip("tensorflow")
    return tf_fixtures.build_import_tf2_mlp(tmp_path_factory.mktemp("cli_sm") / "mlp")


def test_the_blocker_blocks():
    proc = tb("--version")
    assert proc.returncode == 0
    env = dict(os.environ, PYTHONPATH=str(NO_TF))
    r = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, env=env)
    assert r.returncode != 0


def test_convert_savedmodel_to_onnx_and_check(mlp_dir, tmp_path):
    import onnxruntime as ort
    import tensorflow as tf

    out = tmp_path / "mlp.onnx"
    proc = tb("convert", str(mlp_dir), str(out), "--check", "--json", "--shape", "x=7,4")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["src"]["format"] == "savedmodel" and report["check"]["ok"]
    x = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x})))
    fn = tf.saved_model.load(str(mlp_dir)).signatures["serving_default"]
    want = {k: v.numpy() for k, v in fn(x=tf.constant(x)).items()}
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5)


def test_wrong_tags_and_signature_are_usage_errors(mlp_dir, tmp_path):
    proc = tb("convert", str(mlp_dir), str(tmp_path / "o.onnx"), "--tags", "serve,gpu")
    assert proc.returncode == 2 and "tag sets present: {serve}" in proc.stderr
    proc = tb("convert", str(mlp_dir), str(tmp_path / "o.onnx"), "--signature", "nope")
    assert proc.returncode == 2 and "serving_default" in proc.stderr
    assert not (tmp_path / "o.onnx").exists()


def test_not_a_protobuf(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "saved_model.pb").write_bytes(b"\xff\xff\xff garbage")
    proc = tb("convert", str(d), str(tmp_path / "o.onnx"))
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert proc.returncode != 0 and len(lines) == 1 and "saved_model.pb" in lines[0]
    assert not (tmp_path / "o.onnx").exists()


def test_inspect_savedmodel_without_tf(mlp_dir):
    proc = tb("inspect", str(mlp_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["format"] == "savedmodel" and data["meta_graphs"][0]["tags"] == ["serve"]
    sig = {s["key"]: s for s in data["meta_graphs"][0]["signatures"]}["serving_default"]
    assert sig["method"] == "tensorflow/serving/predict"
    assert sig["inputs"]["x"].startswith("float32[?,4]")
    assert data["variable_count"] == 4 and data["variable_bytes"] > 0
    assert data["op_histogram"]["MatMul"] == 2 and data["unsupported_ops"] == {}
    text = tb("inspect", str(mlp_dir)).stdout
    assert "every op has a handler" in text and "signature 'serving_default'" in text
