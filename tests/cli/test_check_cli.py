"""`tensorbridge check` and `convert --check` through the CLI: exit codes, the JSON schema,
--bisect, device selection, and the SavedModel side with and without TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from tensorbridge.cli import cli
from tensorbridge.runtime import CUDA, CudaProbe, providers

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS / "runtime")]
import tf_fixtures  # noqa: E402
from runtime_helpers import altered_copy  # noqa: E402

NO_TF = TESTS / "helpers_notf"
TOP_KEYS = {"schema_version", "ok", "src", "dst", "device", "runs", "bisect", "notes"}
SIDE_KEYS = {"path", "format", "runtime", "provider"}
RUN_KEYS = {"seed", "schema_version", "ok", "atol_override", "rtol_override", "outputs"}
ROW_KEYS = {"name", "actual_name", "expected_shape", "actual_shape", "expected_dtype",
            "actual_dtype", "max_abs_error", "max_rel_error", "mismatches", "total", "atol",
            "rtol", "passed", "reason"}  # fmt: skip
BISECT_KEYS = {"status", "candidates", "compared", "batches", "batch_size", "node", "op_type",
               "output", "inputs", "hint"}  # fmt: skip
VALUE_KEYS = {"name", "status", "shape", "dtype", "max_abs_error", "max_rel_error",
              "mismatches", "total", "reason"}  # fmt: skip


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _chain(path: Path, alpha: float = 0.1, eps: float = 1e-5) -> Path:
    """x -> Mul(k) -> LeakyRelu(alpha) -> LayerNormalization(eps) -> Tanh -> y, named nodes."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), n)
             for n in ("k", "scale", "bias")]  # fmt: skip
    nodes = [
        helper.make_node("Mul", ["x", "k"], ["m"], name="mul"),
        helper.make_node("LeakyRelu", ["m"], ["r"], name="leaky", alpha=alpha),
        helper.make_node("LayerNormalization", ["r", "scale", "bias"], ["n"], name="ln", epsilon=eps),
        helper.make_node("Tanh", ["n"], ["y"], name="tanh"),
    ]  # fmt: skip
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])
    graph = helper.make_graph(nodes, "chain", [x], [y], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
              str(path))  # fmt: skip
    return path


def test_match_exits_0_and_json_schema(tmp_path):
    a = _chain(tmp_path / "a.onnx")
    r = run("check", str(a), str(a), "--json", "--runs", "2", "--shape", "x=3,8")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert set(data) == TOP_KEYS and data["ok"] is True and data["bisect"] is None
    assert set(data["src"]) == SIDE_KEYS and data["src"]["runtime"].startswith("onnxruntime ")
    assert data["dst"]["provider"] == "CPUExecutionProvider" and data["device"] == "auto"
    assert [x["seed"] for x in data["runs"]] == [0, 1] and set(data["runs"][0]) == RUN_KEYS
    row = data["runs"][0]["outputs"][0]
    assert set(row) == ROW_KEYS and row["expected_shape"] == [3, 8] and row["passed"] is True


def test_mismatch_exits_4_and_bisect_names_the_node(tmp_path):
    a, b = _chain(tmp_path / "a.onnx"), _chain(tmp_path / "b.onnx", eps=0.5)
    r = run("check", str(a), str(b), "--json", "--bisect")
    assert r.exit_code == 4
    data = json.loads(r.output)
    assert data["ok"] is False and set(data["bisect"]) == BISECT_KEYS
    bis = data["bisect"]
    assert (bis["status"], bis["node"], bis["op_type"]) == ("found", "ln", "LayerNormalization")
    assert set(bis["output"]) == VALUE_KEYS and bis["output"]["status"] == "differs"
    assert [v["status"] for v in bis["inputs"]] == ["match", "match", "match"]
    text = run("check", str(a), str(b), "--bisect", "--bisect-batch", "1").output
    assert "first diverging node: 'ln' (LayerNormalization)" in text
    assert "attribute epsilon differs: SRC 1e-05 vs DST 0.5" in text and "MISMATCH" in text


def test_tolerance_overrides_decide(tmp_path):
    a, b = _chain(tmp_path / "a.onnx"), _chain(tmp_path / "b.onnx", alpha=0.1001)
    assert run("check", str(a), str(b)).exit_code == 4
    assert run("check", str(a), str(b), "--atol", "1e-2", "--rtol", "1e-2").exit_code == 0


def test_usage_and_runtime_errors_have_their_own_codes(tmp_path):
    a = _chain(tmp_path / "a.onnx")
    assert run("check", str(a), str(a), "--shape", "x=1,9").exit_code == 2
    assert run("check", str(a), str(a), "--bisect-batch", "0").exit_code == 2
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    r = run("check", str(a), str(tmp_path / "broken.onnx"))
    assert r.exit_code == 5 and "broken.onnx" in r.output  # ONNX Runtime refuses it


def test_cuda_that_does_not_really_load_fails_clearly(tmp_path, monkeypatch):
    """The probe says CUDA loads (as on a GPU host), ORT then silently runs on the CPU: the
    session notices and the check exits 5 instead of reporting CPU numbers as CUDA ones."""
    if providers.probe_cuda().loads:
        pytest.skip("CUDA really loads here")
    monkeypatch.setattr(providers, "_cached_probe", lambda: CudaProbe(listed=True, loads=True))
    assert providers.select_providers("auto") == [CUDA, "CPUExecutionProvider"]
    a = _chain(tmp_path / "a.onnx")
    for device in ("cuda", "auto"):
        r = run("check", str(a), str(a), "--device", device)
        assert r.exit_code == 5 and "CUDAExecutionProvider was requested" in r.output


def test_auto_without_cuda_uses_the_cpu(tmp_path, monkeypatch):
    if providers.probe_cuda().loads:
        pytest.skip("CUDA really loads here")
    monkeypatch.setattr(providers, "_cached_probe", lambda: CudaProbe(listed=True, loads=False))
    a = _chain(tmp_path / "a.onnx")
    data = json.loads(run("check", str(a), str(a), "--json").output)
    assert data["src"]["provider"] == data["dst"]["provider"] == "CPUExecutionProvider"
    assert run("check", str(a), str(a), "--device", "cuda").exit_code == 5


def test_gpu_tolerances_are_wider_for_float32_and_float16():
    from tensorbridge.ir import DType
    from tensorbridge.runtime import compare_outputs, default_tolerance

    for dt in (DType.FLOAT, DType.FLOAT16):
        assert default_tolerance(dt, gpu=True) > default_tolerance(dt)
    assert default_tolerance(DType.DOUBLE, gpu=True) == default_tolerance(DType.DOUBLE)
    want = {"y": np.zeros(4, np.float16)}  # near zero, atol decides
    got = {"y": np.full(4, 0.005, np.float16)}
    assert not compare_outputs(want, got).ok and compare_outputs(want, got, gpu=True).ok


def _bn_model(path: Path) -> Path:
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n) for n, s in
             [("w", (4, 3, 3, 3)), ("scale", (4,)), ("bias", (4,)), ("mean", (4,))]]  # fmt: skip
    inits.append(numpy_helper.from_array(rng.uniform(0.5, 2, 4).astype(np.float32), "var"))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["y"])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
    graph = helper.make_graph(nodes, "bn", [x], [y], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
              str(path))  # fmt: skip
    return path


def test_convert_check_mismatch_exits_4_and_keeps_the_output(tmp_path):
    """Folding BatchNormalization into the Conv rounds differently: with zero tolerance the
    check fails; the converted file stays, and the message says so."""
    src, dst = _bn_model(tmp_path / "bn.onnx"), tmp_path / "out.onnx"
    r = run("convert", str(src), str(dst), "--check", "--atol", "0", "--rtol", "0", "--json")
    assert r.exit_code == 4 and dst.exists()
    assert "the output is kept" in r.output
    report = json.loads(r.output[: r.output.rindex("}") + 1])
    assert report["check"]["ok"] is False
    assert run("convert", str(src), str(tmp_path / "ok.onnx"), "--check").exit_code == 0


# ---- SavedModel sides ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def mlp(tmp_path_factory) -> tuple[Path, Path]:
    pytest.importorskip("tensorflow")
    d = tf_fixtures.build_import_tf2_mlp(tmp_path_factory.mktemp("check_cli_sm") / "mlp")
    out = d.parent / "mlp.onnx"
    assert run("convert", str(d), str(out)).exit_code == 0
    return d, out


def tb_no_tf(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(NO_TF), str(TESTS.parent)]))
    return subprocess.run([sys.executable, "-m", "tensorbridge", *args],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip


@pytest.mark.tf
def test_savedmodel_pairs_with_tensorflow(mlp):
    d, o = mlp
    for src, dst in ((d, o), (o, d), (d, d)):
        r = run("check", str(src), str(dst), "--json")
        assert r.exit_code == 0, r.output
        data = json.loads(r.output)
        sides = {data["src"]["format"]: data["src"], data["dst"]["format"]: data["dst"]}
        assert sides["savedmodel"]["runtime"].startswith("tensorflow ")


def test_savedmodel_without_tensorflow_runs_through_the_ir(mlp):
    d, o = mlp
    proc = tb_no_tf("check", str(d), str(o), "--json", "--shape", "x=5,4")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["src"]["runtime"].endswith("(SavedModel via the IR)")
    proc = tb_no_tf("check", str(d), str(o), "--savedmodel-runtime", "tensorflow")
    assert proc.returncode == 5 and "TensorFlow is not importable" in proc.stderr


def test_savedmodel_pair_bisect_without_tensorflow(mlp, tmp_path):
    """Two SavedModels, one with a variable altered: without TensorFlow both run through the
    IR; the check exits 4 and the bisection names the MatMul that reads the altered weight."""
    d, _ = mlp
    bad = altered_copy(d, tmp_path / "bad", "w2/.ATTRIBUTES/VARIABLE_VALUE", 2.0)
    proc = tb_no_tf("check", str(d), str(bad), "--bisect", "--json")
    assert proc.returncode == 4, proc.stderr
    data = json.loads(proc.stdout)
    assert data["src"]["runtime"].endswith("(SavedModel via the IR)")
    assert data["bisect"]["status"] == "found" and data["bisect"]["op_type"] == "MatMul"
    assert "constant input(s) differ" in data["bisect"]["hint"]
