"""`tensorbridge optimize` and `tensorbridge passes`: wiring, reports, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from tensorbridge import api
from tensorbridge.cli import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "tensorbridge" / "examples" / "small_cnn.onnx"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _foldable(path: Path) -> Path:
    """y = x + (a * b) with a, b constants: one Mul to fold."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    inits = [numpy_helper.from_array(np.full((3,), v, np.float32), n) for n, v in (("a", 2), ("b", 3))]
    nodes = [helper.make_node("Mul", ["a", "b"], ["m"]), helper.make_node("Add", ["x", "m"], ["y"])]
    g = helper.make_graph(nodes, "g", [x], [y], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), str(path))
    return path


def test_passes_lists_one_line_per_pass():
    r = run("passes")
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert names == [name for name, _ in api.list_passes()]
    assert "fold-constants" in names and "freeze-variables" in names


def test_optimize_example_then_check_equal(tmp_path):
    dst = tmp_path / "opt.onnx"
    r = run("optimize", str(EXAMPLE), str(dst), "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["passes"][:2] == ["freeze-variables", "fold-constants"]
    assert report["nodes_after"] <= report["nodes_before"]
    assert report["bytes_before"] == EXAMPLE.stat().st_size and report["bytes_after"] > 0
    r = run("check", str(EXAMPLE), str(dst))
    assert r.exit_code == 0, r.output
    assert "MATCH" in r.output


def test_optimize_named_passes_folds_and_reports(tmp_path):
    src, dst = _foldable(tmp_path / "in.onnx"), tmp_path / "out.onnx"
    r = run("optimize", str(src), str(dst), "--passes", "fold-constants,prune-dead-nodes",
            "--opset", "17", "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["passes"] == ["fold-constants", "prune-dead-nodes"]
    assert report["ops_before"] == {"Add": 1, "Mul": 1} and report["ops_after"] == {"Add": 1}
    assert report["changed"] is True
    proto = onnx.load(str(dst))
    assert [n.op_type for n in proto.graph.node] == ["Add"]
    assert proto.opset_import[0].version == 17
    r = run("check", str(src), str(dst))
    assert r.exit_code == 0, r.output


def test_optimize_text_report(tmp_path):
    src, dst = _foldable(tmp_path / "in.onnx"), tmp_path / "out.onnx"
    r = run("optimize", str(src), str(dst), "--keep-signatures", "serving_default")
    assert r.exit_code == 0, r.output
    assert "nodes: 2 -> 1" in r.output and "Mul" in r.output


def test_unknown_pass_is_usage_error_listing_passes(tmp_path):
    src, dst = _foldable(tmp_path / "in.onnx"), tmp_path / "out.onnx"
    r = run("optimize", str(src), str(dst), "--passes", "simplify,nope")
    assert r.exit_code == 2
    assert "nope" in r.output and "fold-constants" in r.output
    assert not dst.exists()


def test_existing_output_needs_overwrite(tmp_path):
    src, dst = _foldable(tmp_path / "in.onnx"), tmp_path / "out.onnx"
    dst.write_bytes(b"old")
    r = run("optimize", str(src), str(dst))
    assert r.exit_code == 1 and "--overwrite" in r.output
    assert dst.read_bytes() == b"old"
    r = run("optimize", str(src), str(dst), "--overwrite")
    assert r.exit_code == 0, r.output


def test_api_optimize_debug_verifies(tmp_path):
    src, dst = _foldable(tmp_path / "in.onnx"), tmp_path / "out.onnx"
    report = api.optimize(src, dst, ["fold-constants"], debug=True)
    assert report.nodes_before == 2 and report.nodes_after == 1
    assert "fold-constants" in report.summary()
