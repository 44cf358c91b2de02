"""tensorbridge.check as a library call: the report as data, feed matching, options."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import tensorbridge as tb
from tensorbridge.errors import UsageError
from tensorbridge.reports import BisectReport, SideInfo, ValueDiff
from tensorbridge.runtime.check import _on_gpu
from tensorbridge.runtime.inputs import match_feeds

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_helpers import add_const_model  # noqa: E402


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    onnx.save(add_const_model(4), str(a))
    bad = add_const_model(4)
    bad.graph.node[0].op_type = "Sub"
    onnx.save(bad, str(b))
    return a, b


def test_report_is_data_with_json(pair):
    a, b = pair
    r = tb.check(a, a, tb.CheckOptions(runs=2))
    assert r.ok and r.seeds == [0, 1] and r.bisect is None
    assert r.as_dict() == r.to_dict() == json.loads(r.to_json())
    assert r.src.runtime.startswith("onnxruntime ") and r.src.provider == "CPUExecutionProvider"
    bad = tb.check(a, b, tb.CheckOptions(bisect=True))
    assert not bad.ok and bad.bisect.status == "found" and bad.bisect.op_type == "Sub"
    d = json.loads(bad.to_json())
    assert d["bisect"]["node"] == bad.bisect.node and d["bisect"]["output"]["status"] == "differs"
    assert "op type differs: SRC Add vs DST Sub" in d["bisect"]["hint"]


def test_non_finite_errors_are_json_strings():
    v = ValueDiff("y", "differs", [1], "float32", float("inf"), float("nan"), 1, 1)
    b = BisectReport("found", 1, 1, 1, 8, node="n", op_type="Add", output=v)
    text = json.dumps(b.to_dict(), allow_nan=False)
    assert '"inf"' in text and '"nan"' in text


def test_unknown_savedmodel_runtime_is_a_usage_error(pair):
    with pytest.raises(UsageError, match="tensorflow, ir"):
        tb.check(pair[0], pair[0], tb.CheckOptions(savedmodel_runtime="jax"))


def test_npz_inputs_and_bisect_use_them(pair, tmp_path):
    a, b = pair
    npz = tmp_path / "in.npz"
    np.savez(npz, x=np.zeros((3, 4), np.float32))
    r = tb.check(a, b, tb.CheckOptions(inputs=npz, bisect=True))
    assert r.seeds == [None] and r.runs[0].rows[0].expected_shape == [3, 4]
    assert "the inputs from file" in " ".join(r.notes)


def test_match_feeds_by_exact_then_tf_name():
    feeds = {"x": 1, "y:0": 2}
    assert match_feeds(["x", "y"], feeds) == {"x": 1, "y": 2}
    assert match_feeds(["x:0"], feeds) == {"x:0": 1}
    assert match_feeds(["z"], feeds) == {}


def test_gpu_detection_from_the_provider_that_ran():
    assert _on_gpu(SideInfo("m", "onnx", "onnxruntime", "CUDAExecutionProvider"))
    assert _on_gpu(SideInfo("m", "savedmodel", "tensorflow", "GPU:0"))
    assert _on_gpu(SideInfo("m", "savedmodel", "tensorflow", "/GPU:0"))
    assert not _on_gpu(SideInfo("m", "onnx", "onnxruntime", "CPUExecutionProvider"))


def test_a_bisection_that_cannot_run_keeps_the_mismatch(pair, monkeypatch):
    from tensorbridge.errors import RuntimeSessionError
    from tensorbridge.runtime import check as check_mod

    def refuse(*args, **kwargs):
        raise RuntimeSessionError("the IR model does not export to a valid ONNX model to run")

    monkeypatch.setattr(check_mod, "bisect_models", refuse)
    r = tb.check(*pair, tb.CheckOptions(bisect=True))
    assert not r.ok and r.bisect.status == "failed" and "cannot bisect" in r.bisect.hint
