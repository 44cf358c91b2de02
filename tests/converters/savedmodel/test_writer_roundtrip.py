"""SavedModel -> SavedModel and ONNX -> SavedModel through tensorbridge.api (convert, save,
optimize), loaded by real TensorFlow; and the op output-argument table checked against TF."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/tf_fixtures.py
pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tf

import tf_fixtures  # noqa: E402
from savedmodel_writer_helpers import (  # noqa: E402
    assert_close,
    mlp_proto,
    ort_run,
    tf1_session_run,
    tf_load_run,
)

import tensorbridge  # noqa: E402
from tensorbridge import api  # noqa: E402
from tensorbridge.converters.savedmodel.op_outputs import OUTPUT_ARGS  # noqa: E402
from tensorbridge.converters.savedmodel.reader import read_saved_model  # noqa: E402

RNG = np.random.default_rng(4)

# name -> (builder, source tags, {input: shape})
FIXTURES = {
    "tf2_module": (tf_fixtures.build_tf2_module, None, {"x": (4, 3)}),
    "tf1_builder": (tf_fixtures.build_tf1_builder, ["serve"], {"x": (4, 3)}),
    "tf2_mlp": (tf_fixtures.build_import_tf2_mlp, None, {"x": (4, 4)}),
    "keras_conv": (tf_fixtures.build_keras_export, None, {"image": (2, 8, 8, 3)}),
}


@pytest.fixture(scope="session")
def fixture_dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("writer_rt_src")
    return {name: build(base / name) for name, (build, _, _) in FIXTURES.items()}


@pytest.mark.parametrize("optimize", [True, False], ids=["optimized", "plain"])
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_savedmodel_to_savedmodel(fixture_dirs, tmp_path, name, optimize):
    _, tags, shapes = FIXTURES[name]
    src = fixture_dirs[name]
    feeds = {k: RNG.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    out = tmp_path / "out"
    report = api.convert(src, out, api.ConvertOptions(tags=tags, optimize=optimize))
    assert report.dst.format == "savedmodel" and report.opset is None
    want, _ = tf_load_run(src, feeds, tags=tags)
    got, _ = tf_load_run(out, feeds)
    assert_close(got, want)
    assert_close(tf1_session_run(out, feeds, tags=tags or ("serve",)), want)
    if name == "keras_conv":  # TF CPU runs Conv2D only in NHWC (prepare_layout)
        (mg,) = read_saved_model(out).meta_graphs
        nodes = [n for f in mg.graph_def.library.function for n in f.node_def] + list(mg.graph_def.node)
        convs = [n for n in nodes if n.op == "Conv2D"]
        assert convs and all(n.attr["data_format"].s in (b"", b"NHWC") for n in convs)


def test_tf1_source_variables_keep_their_names(fixture_dirs, tmp_path):
    out = tmp_path / "out"
    api.convert(fixture_dirs["tf1_builder"], out, api.ConvertOptions(tags=["serve"], optimize=False))
    _, variables = tf_load_run(out, {"x": np.ones((1, 3), np.float32)})
    assert sorted(variables) == ["b:0", "w:0"]
    np.testing.assert_array_equal(variables["w:0"], [[1.0], [2.0], [3.0]])


def test_save_onnx_model_as_savedmodel(tmp_path):
    proto = mlp_proto()
    (tmp_path / "m.onnx").write_bytes(proto.SerializeToString())
    model = tensorbridge.load(tmp_path / "m.onnx")
    before = [(n.op_type, n.domain) for n in model.graph]
    out = tensorbridge.save(model, tmp_path / "sm", tags=["serve", "gpu"])
    assert [(n.op_type, n.domain) for n in model.graph] == before
    x = RNG.standard_normal((3, 3)).astype(np.float32)
    assert_close(tf1_session_run(out, {"x": x}, tags=("serve", "gpu")), ort_run(proto, {"x": x}))


def test_convert_onnx_to_savedmodel_options(tmp_path):
    proto = mlp_proto()
    src = tmp_path / "m.onnx"
    src.write_bytes(proto.SerializeToString())
    out = tmp_path / "sm"
    api.convert(src, out, api.ConvertOptions(freeze=True, pbtxt=True, tags=["serve", "tpu"]))
    assert (out / "saved_model.pbtxt").is_file()
    assert sorted(read_saved_model(out).meta_graphs[0].meta_info_def.tags) == ["serve", "tpu"]
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    got, _ = tf_load_run(out, {"x": x}, tags=["serve", "tpu"])
    assert_close(got, ort_run(proto, {"x": x}))


def test_optimize_savedmodel_to_savedmodel(fixture_dirs, tmp_path):
    src = fixture_dirs["tf2_mlp"]
    out = tmp_path / "opt"
    report = api.optimize(src, out, ["freeze-variables", "fold-constants", "prune-dead-nodes"])
    assert report.bytes_after > 0 and (out / "saved_model.pb").is_file()
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    want, _ = tf_load_run(src, {"x": x})
    got, _ = tf_load_run(out, {"x": x})
    assert_close(got, want)


def test_op_output_table_matches_tensorflow():
    from tensorflow.python.framework import op_def_registry

    for op, specs in OUTPUT_ARGS.items():
        opdef = op_def_registry.get(op)
        assert opdef is not None, op
        want = []
        for a in opdef.output_arg:
            want.append(f"{a.name}*{a.number_attr}" if a.number_attr else
                        f"{a.name}+{a.type_list_attr}" if a.type_list_attr else a.name)
        assert list(specs) == want, op


def test_untyped_intermediates_convert(tmp_path):
    """An ONNX file without value_info: api infers types before lifting, also --no-optimize."""
    proto = mlp_proto()
    del proto.graph.value_info[:]
    src = tmp_path / "m.onnx"
    src.write_bytes(proto.SerializeToString())
    out = tmp_path / "sm"
    api.convert(src, out, api.ConvertOptions(optimize=False))
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    got, _ = tf_load_run(out, {"x": x})
    assert_close(got, ort_run(proto, {"x": x}))


def test_multi_output_ops_inside_the_signature_function(tmp_path):
    """Split (a list output sized by num_split) and TopKV2 (two output args): the function body
    names their outputs ``node:arg:k``."""
    from onnx import TensorProto, helper, numpy_helper

    f = TensorProto.FLOAT
    nodes = [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3),
             helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=1),
             helper.make_node("Add", ["a", "c"], ["s"])]
    outs = [helper.make_tensor_value_info(n, f, [4, 2]) for n in "sbv"]
    outs.append(helper.make_tensor_value_info("i", TensorProto.INT64, [4, 2]))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", f, [4, 6])], outs,
                          [numpy_helper.from_array(np.array([2], np.int64), "k")])
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    src = tmp_path / "split.onnx"
    src.write_bytes(proto.SerializeToString())
    out = tmp_path / "sm"
    api.convert(src, out, api.ConvertOptions(optimize=False))
    assert read_saved_model(out).meta_graphs[0].HasField("object_graph_def")
    x = RNG.standard_normal((4, 6)).astype(np.float32)
    want = ort_run(proto, {"x": x})
    assert_close(tf_load_run(out, {"x": x})[0], want)
    assert_close(tf1_session_run(out, {"x": x}), want)
