"""Issue 6, "Must show": `check` on real models for every format pair direction, with
TensorFlow present (the SavedModel side runs in TF) and absent (a subprocess where importing
TensorFlow raises: the SavedModel side runs through the IR on ONNX Runtime).

Pairs: a Keras MobileNetV2 SavedModel (`model.export()`) vs its ONNX conversion, and a PyTorch
CNN's ONNX export vs the SavedModel tensorbridge writes from it. Default per-dtype tolerances.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS / "passes"))

pytest.importorskip("tensorflow")
pytest.importorskip("torch")
pytestmark = pytest.mark.tf

import tf_fixtures  # noqa: E402
from test_real_models import real_models  # noqa: E402

import tensorbridge as tb  # noqa: E402
from tensorbridge.api import CheckOptions  # noqa: E402

NO_TF = TESTS / "helpers_notf"


def _check_without_tf(src: Path, dst: Path) -> tuple[int, dict]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(NO_TF), str(TESTS.parent)]))
    proc = subprocess.run([sys.executable, "-m", "tensorbridge", "check", str(src), str(dst), "--json"],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="session")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    out = tmp_path_factory.mktemp("check_pairs")
    keras = tf_fixtures.build_keras_application(base / "keras_applications" / "MobileNetV2",
                                                name="MobileNetV2")
    keras_onnx = out / "mobilenetv2.onnx"
    tb.convert(keras, keras_onnx)
    cnn = out / "cnn.onnx"
    real_models.build_cnn(cnn)
    cnn_sm = out / "cnn_savedmodel"
    tb.convert(cnn, cnn_sm)
    return {"keras SavedModel vs ONNX": (keras, keras_onnx), "torch ONNX vs SavedModel": (cnn, cnn_sm)}


@pytest.mark.parametrize("pair", ["keras SavedModel vs ONNX", "torch ONNX vs SavedModel"])
def test_pair_with_tensorflow(pair, pairs):
    src, dst = pairs[pair]
    report = tb.check(src, dst, CheckOptions(savedmodel_runtime="tensorflow", runs=2))
    assert report.ok, report
    sm_side = report.src if src.is_dir() else report.dst
    assert sm_side.runtime.startswith("tensorflow"), sm_side


@pytest.mark.parametrize("pair", ["keras SavedModel vs ONNX", "torch ONNX vs SavedModel"])
def test_pair_without_tensorflow(pair, pairs):
    src, dst = pairs[pair]
    code, report = _check_without_tf(src, dst)
    assert code == 0 and report["ok"], report
    sm_side = report["src"] if src.is_dir() else report["dst"]
    assert "via the IR" in sm_side["runtime"], sm_side
