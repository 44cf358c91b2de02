"""`tensorbridge convert/optimize ... OUT_DIR`: writing SavedModels from the CLI (wiring, exit
codes, refusals); the written directories are loaded by real TensorFlow."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS / "converters" / "savedmodel"))
pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tf

import tf_fixtures  # noqa: E402
from savedmodel_writer_helpers import (  # noqa: E402
    assert_close,
    mlp_proto,
    no_leftovers,
    ort_run,
    tf1_session_run,
    tf_load_run,
)

from tensorbridge.cli import cli  # noqa: E402

X = np.random.default_rng(5).standard_normal((3, 3)).astype(np.float32)


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def onnx_file(tmp_path) -> Path:
    path = tmp_path / "m.onnx"
    path.write_bytes(mlp_proto().SerializeToString())
    return path


def test_convert_onnx_to_savedmodel(onnx_file, tmp_path):
    out = tmp_path / "out_dir"
    r = run("convert", onnx_file, f"{out}/", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["dst"]["format"] == "savedmodel"
    assert "writing variables" not in r.output  # quiet when not on a terminal
    got, variables = tf_load_run(out, {"x": X})
    assert_close(got, ort_run(mlp_proto(), {"x": X}))
    assert list(variables) == ["w:0"]


def test_convert_freeze_pbtxt_tags(onnx_file, tmp_path):
    out = tmp_path / "frozen"
    r = run("convert", onnx_file, out, "--freeze", "--pbtxt", "--tags", "serve,gpu")
    assert r.exit_code == 0, r.output
    assert (out / "saved_model.pbtxt").is_file() and not (out / "saved_model.pb").exists()
    assert_close(tf1_session_run(out, {"x": X}, tags=("gpu", "serve")), ort_run(mlp_proto(), {"x": X}))


def test_existing_output_refused_unless_overwrite(onnx_file, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    r = run("convert", onnx_file, out)
    assert r.exit_code == 1 and "--overwrite" in r.output
    assert (out / "precious.txt").read_text() == "keep me"
    r = run("convert", onnx_file, out, "--overwrite")
    assert r.exit_code == 0, r.output
    assert not (out / "precious.txt").exists() and (out / "saved_model.pb").is_file()
    assert no_leftovers(tmp_path) == []


def test_unsupported_op_exit_3_and_nothing_written(tmp_path):
    g = helper.make_graph([helper.make_node("Frob", ["x"], ["y"], domain="my.ops")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("my.ops", 1)]
    proto = helper.make_model(g, opset_imports=opsets, ir_version=9)
    src = tmp_path / "frob.onnx"
    src.write_bytes(proto.SerializeToString())
    r = run("convert", src, tmp_path / "out", "--no-optimize")
    assert r.exit_code == 3, r.output
    assert "Frob" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frob.onnx"]


@pytest.fixture(scope="module")
def tf2_dir(tmp_path_factory) -> Path:
    return tf_fixtures.build_import_tf2_mlp(tmp_path_factory.mktemp("cli_to_sm") / "mlp")


def test_convert_savedmodel_dir_to_savedmodel_dir(tf2_dir, tmp_path):
    out = tmp_path / "copy"
    r = run("convert", tf2_dir, out)
    assert r.exit_code == 0, r.output
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    want, _ = tf_load_run(tf2_dir, {"x": x})
    got, _ = tf_load_run(out, {"x": x})
    assert_close(got, want)


def test_optimize_savedmodel_dir(tf2_dir, tmp_path):
    out = tmp_path / "opt"
    r = run("optimize", tf2_dir, out, "--passes", "freeze-variables,fold-constants", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["bytes_after"] > 0
    x = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    assert_close(tf1_session_run(out, {"x": x}), tf_load_run(tf2_dir, {"x": x})[0])


def test_convert_with_check_runs_the_savedmodel_in_tensorflow(onnx_file, tmp_path):
    r = run("convert", onnx_file, tmp_path / "checked", "--check", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["check"]["ok"]
