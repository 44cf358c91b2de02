"""The TensorFlow side of `check`, in-process (TensorFlow present): SavedModel/ONNX,
ONNX/SavedModel and SavedModel/SavedModel pairs, and a bisection across two SavedModels."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import tensorbridge as tb
from tensorbridge.errors import UsageError
from tensorbridge.runtime.tf_runner import TFRunner, import_tensorflow

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS / "runtime")]
import tf_fixtures  # noqa: E402
from runtime_helpers import altered_copy  # noqa: E402

pytestmark = pytest.mark.tf


@pytest.fixture(scope="session")
def mlp_dir(tmp_path_factory) -> Path:
    pytest.importorskip("tensorflow")
    return tf_fixtures.build_import_tf2_mlp(tmp_path_factory.mktemp("check_sm") / "mlp")


@pytest.fixture(scope="session")
def mlp_onnx(mlp_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("check_sm_onnx") / "mlp.onnx"
    tb.convert(mlp_dir, out)
    return out


def test_runner_matches_tensorflow_and_describes_io(mlp_dir):
    tf = import_tensorflow()
    runner = TFRunner(mlp_dir, device="cpu")
    assert [(i.name, str(i.dtype), i.shape) for i in runner.inputs] == [("x", "float32", (None, 4))]
    assert sorted(o.name for o in runner.outputs) == ["mean", "probs"]
    assert runner.provider == "CPU:0" and runner.version == tf.__version__
    x = np.ones((2, 4), np.float32)
    got = runner.run({"x": x})
    want = tf.saved_model.load(str(mlp_dir)).signatures["serving_default"](x=tf.constant(x))
    np.testing.assert_array_equal(got["probs"], want["probs"].numpy())


def test_runner_errors_are_clear(mlp_dir):
    with pytest.raises(UsageError, match="no signature 'nope'"):
        TFRunner(mlp_dir, signature="nope")
    runner = TFRunner(mlp_dir)
    with pytest.raises(tb.TensorbridgeError, match=r"missing \['x'\]"):
        runner.run({"y": np.ones((1, 4), np.float32)})


def test_savedmodel_onnx_pair_runs_savedmodel_in_tensorflow(mlp_dir, mlp_onnx):
    r = tb.check(mlp_dir, mlp_onnx, tb.CheckOptions(runs=2, shapes=["x=3,4"]))
    assert r.ok, r.summary()
    assert r.src.runtime.startswith("tensorflow ") and r.src.provider == "CPU:0"
    assert r.dst.runtime.startswith("onnxruntime ") and r.dst.provider == "CPUExecutionProvider"
    assert {row.name for row in r.runs[0].rows} == {"mean", "probs"}


def test_savedmodel_runtime_ir_runs_it_on_onnxruntime(mlp_dir, mlp_onnx):
    r = tb.check(mlp_dir, mlp_onnx, tb.CheckOptions(savedmodel_runtime="ir"))
    assert r.ok and r.src.runtime.endswith("(SavedModel via the IR)")
    assert r.src.provider == "CPUExecutionProvider"


def test_onnx_savedmodel_pair(mlp_onnx, mlp_dir):
    r = tb.check(mlp_onnx, mlp_dir, tb.CheckOptions(savedmodel_runtime="tensorflow"))
    assert r.ok and r.dst.runtime.startswith("tensorflow ")


def test_savedmodel_savedmodel_pair_same_dir(mlp_dir):
    r = tb.check(mlp_dir, mlp_dir)
    assert r.ok and r.src.runtime == r.dst.runtime and r.src.runtime.startswith("tensorflow")


def test_savedmodel_savedmodel_altered_variable_is_found(mlp_dir, tmp_path):
    bad = altered_copy(mlp_dir, tmp_path / "bad", "w2/.ATTRIBUTES/VARIABLE_VALUE", 2.0)
    r = tb.check(mlp_dir, bad, tb.CheckOptions(bisect=True))
    assert not r.ok
    rows = {row.name: row for row in r.runs[0].rows}
    assert rows["mean"].passed and not rows["probs"].passed  # w2 only feeds probs
    b = r.bisect
    assert b.status == "found" and b.op_type == "MatMul" and "MatMul_1" in b.node
    assert "constant input(s) differ" in b.hint
    assert "both sides run through the IR" in " ".join(r.notes)


def test_onnx_to_savedmodel_written_by_tensorbridge(mlp_onnx, tmp_path):
    """ONNX -> SavedModel (tensorbridge's writer), checked with the SavedModel in TensorFlow;
    then SavedModel -> SavedModel from that output."""
    out = tmp_path / "mlp_sm"
    report = tb.convert(mlp_onnx, out, tb.ConvertOptions(check=True))
    assert report.check.ok and report.check.dst.runtime.startswith("tensorflow ")
    again = tb.convert(out, tmp_path / "mlp_sm2", tb.ConvertOptions(check=True))
    assert again.check.ok and again.check.src.format == again.check.dst.format == "savedmodel"
