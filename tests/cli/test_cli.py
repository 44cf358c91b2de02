"""CLI wiring: each command calls the API, renders its report and maps errors to exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

from tensorbridge.cli import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "tensorbridge" / "examples" / "small_cnn.onnx"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_example_runs_and_matches(tmp_path):
    r = run("example", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "MATCH" in r.output and "probabilities" in r.output
    assert onnx.load(str(tmp_path / "small_cnn.opset13.onnx")).opset_import[0].version == 13


def test_convert_then_check_json(tmp_path):
    dst = tmp_path / "out.onnx"
    r = run("convert", str(EXAMPLE), str(dst), "--opset", "15", "--check", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["opset"] == 15 and report["check"]["ok"] is True
    r = run("check", str(EXAMPLE), str(dst), "--json", "--runs", "2", "--shape", "image=3,3,32,32")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert [run_["seed"] for run_ in data["runs"]] == [0, 1]
    assert data["src"]["provider"] == "CPUExecutionProvider"
    row = data["runs"][0]["outputs"][0]
    assert row["name"] == "probabilities" and row["expected_shape"] == [3, 10]


def _tiny(path: Path, scale: float) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    k = helper.make_tensor("k", TensorProto.FLOAT, [], [scale])
    g = helper.make_graph([helper.make_node("Mul", ["x", "k"], ["y"])], "g", [x], [y], [k])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), str(path))
    return path


def test_check_mismatch_exits_4_with_table(tmp_path):
    a, b = _tiny(tmp_path / "a.onnx", 1.0), _tiny(tmp_path / "b.onnx", 1.5)
    r = run("check", str(a), str(b))
    assert r.exit_code == 4
    assert "MISMATCH" in r.output and "y" in r.output


def test_existing_output_is_refused_without_overwrite(tmp_path):
    dst = tmp_path / "out.onnx"
    dst.write_bytes(b"keep me")
    r = run("convert", str(EXAMPLE), str(dst))
    assert r.exit_code == 1 and "exists" in r.output and "--overwrite" in r.output
    assert dst.read_bytes() == b"keep me"
    assert run("convert", str(EXAMPLE), str(dst), "--overwrite").exit_code == 0


@pytest.mark.parametrize(
    "content, words",
    [(b"\x08\x07\x12\x03abc", "onnx"), (bytes(range(7, 71)), "onnx"), (b"", "")],
)
def test_bad_input_one_line_no_traceback_nothing_written(tmp_path, content, words):
    src = tmp_path / "bad.onnx"
    src.write_bytes(content)
    dst = tmp_path / "out.onnx"
    proc = subprocess.run(
        [sys.executable, "-m", "tensorbridge", "convert", str(src), str(dst)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(src) in lines[0], proc.stderr
    assert not dst.exists() and list(tmp_path.iterdir()) == [src]
    assert src.read_bytes() == content


def test_debug_shows_the_traceback(tmp_path):
    src = tmp_path / "bad.onnx"
    src.write_bytes(b"garbage")
    proc = subprocess.run(
        [sys.executable, "-m", "tensorbridge", "--debug", "convert", str(src), str(tmp_path / "o.onnx")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_bad_shape_override_is_a_usage_error(tmp_path):
    r = run("check", str(EXAMPLE), str(EXAMPLE), "--shape", "nosuch=1,2")
    assert r.exit_code == 2 and "nosuch" in r.output


def test_cuda_request_fails_clearly_without_gpu():
    from tensorbridge.runtime import probe_cuda

    if probe_cuda().loads:
        pytest.skip("a working CUDA provider is present")
    r = run("check", str(EXAMPLE), str(EXAMPLE), "--device", "cuda")
    assert r.exit_code == 5 and "CUDA" in r.output


def test_inspect_lists_io_opsets_and_ops():
    r = run("inspect", str(EXAMPLE))
    assert r.exit_code == 0, r.output
    assert "image" in r.output and "probabilities" in r.output and "ai.onnx=17" in r.output
    assert "Conv" in r.output and "initializers" in r.output
    data = json.loads(run("inspect", str(EXAMPLE), "--json").output)
    assert data["op_histogram"]["Conv"] == 2 and data["initializer_bytes"] > 0


def test_ops_lists_directions():
    data = json.loads(run("ops", "--json").output)
    assert "Conv" in data["onnx->ir"] and "Conv" in data["ir->onnx"]
    assert "Upsample" not in data["ir->onnx"]  # deprecated at the canonical opset


def test_python_dash_m_and_console_script_agree():
    proc = subprocess.run([sys.executable, "-m", "tensorbridge", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and "0.1.0" in proc.stdout


def test_npz_inputs(tmp_path):
    a = _tiny(tmp_path / "a.onnx", 2.0)
    npz = tmp_path / "in.npz"
    np.savez(npz, x=np.ones((2, 3), np.float32))
    r = run("check", str(a), str(a), "--inputs", str(npz), "--json")
    assert r.exit_code == 0 and json.loads(r.output)["runs"][0]["seed"] is None


def _bad_models(tmp: Path) -> dict[str, Path]:
    f = TensorProto.FLOAT
    io = ([helper.make_tensor_value_info("X", f, [4])], [helper.make_tensor_value_info("Y", f, [4])])

    def save(name, nodes, inits=()):
        g = helper.make_graph(nodes, "g", *io, list(inits))
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
        (tmp / name).write_bytes(m.SerializeToString())
        return tmp / name

    w = onnx.numpy_helper.from_array(np.ones(4, np.float32), "W")
    ext = onnx.TensorProto()
    ext.CopyFrom(w)
    ext.ClearField("raw_data")
    ext.data_location = TensorProto.EXTERNAL
    ext.external_data.add(key="location", value="../../etc/passwd")
    short = onnx.TensorProto()
    short.CopyFrom(w)
    short.raw_data = short.raw_data[:-4]
    add_w = [helper.make_node("Add", ["X", "W"], ["Y"])]
    return {
        "cycle": save("cycle.onnx", [helper.make_node("Add", ["X", "b"], ["a"]),
                                     helper.make_node("Relu", ["a"], ["b"]),
                                     helper.make_node("Identity", ["a"], ["Y"])]),
        "never defined": save("undef.onnx", [helper.make_node("Add", ["X", "ghost"], ["Y"])]),
        "escapes": save("escape.onnx", add_w, [ext]),
        "bytes": save("short.onnx", add_w, [short]),
    }  # fmt: skip


@pytest.mark.parametrize("problem", ["cycle", "never defined", "escapes", "bytes"])
def test_bad_models_one_line_error_and_nothing_written(tmp_path, problem):
    src = _bad_models(tmp_path)[problem]
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = subprocess.run(
        [sys.executable, "-m", "tensorbridge", "convert", str(src), str(tmp_path / "out.onnx")],
        capture_output=True, text=True,
    )  # fmt: skip
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(lines) == 1 and problem in lines[0] and str(src) in lines[0], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_convert_optimizes_unless_told_not_to(tmp_path):
    f = TensorProto.FLOAT
    nodes = [helper.make_node("Identity", ["x"], ["a"]), helper.make_node("Identity", ["a"], ["b"]),
             helper.make_node("Relu", ["b"], ["y"])]  # fmt: skip
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", f, [2])],
                          [helper.make_tensor_value_info("y", f, [2])])  # fmt: skip
    src = tmp_path / "ids.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), src)
    assert run("convert", str(src), str(tmp_path / "o.onnx"), "--check").exit_code == 0
    assert [n.op_type for n in onnx.load(str(tmp_path / "o.onnx")).graph.node] == ["Relu"]
    assert run("convert", str(src), str(tmp_path / "n.onnx"), "--no-optimize").exit_code == 0
    assert len(onnx.load(str(tmp_path / "n.onnx")).graph.node) == 3
