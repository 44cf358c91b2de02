"""The SavedModel writer: every written directory is loaded by real TensorFlow 2.21
(tf.saved_model.load, the TF1 Session loader, saved_model_cli) and compared with ONNX Runtime
on the source ONNX model."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tf

from savedmodel_writer_helpers import (  # noqa: E402
    assert_close,
    cli_run,
    mlp_proto,
    no_leftovers,
    ort_run,
    saved_model_cli,
    tf1_session_run,
    tf_load_run,
)

from tensorbridge import ir  # noqa: E402
from tensorbridge.converters.onnx import import_onnx  # noqa: E402
from tensorbridge.converters.savedmodel import writer as writer_mod  # noqa: E402
from tensorbridge.converters.savedmodel.bundle import BundleReader  # noqa: E402
from tensorbridge.converters.savedmodel.reader import read_saved_model  # noqa: E402
from tensorbridge.converters.savedmodel.writer import export_savedmodel  # noqa: E402
from tensorbridge.errors import ModelSaveError, UnsupportedOpError  # noqa: E402

X = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)


@pytest.fixture(scope="module", params=["tf2", "tf1"])
def mlp(tmp_path_factory, request):
    """(source proto, hermetic copy of the written SavedModel, ORT reference outputs), in the
    TF2 form (object graph + function) and the TF1 form (graph + collections)."""
    proto = mlp_proto()
    base = tmp_path_factory.mktemp("writer_mlp")
    export_savedmodel(import_onnx(proto), base / "sm", object_graph=request.param == "tf2")
    moved = base / "elsewhere" / "sm"
    shutil.copytree(base / "sm", moved)
    shutil.rmtree(base / "sm")  # hermetic: nothing points back at the first location
    return proto, moved, ort_run(proto, {"x": X})


def test_layout_of_written_directory(mlp):
    _, path, _ = mlp
    assert sorted(p.name for p in path.iterdir()) == ["assets.extra", "saved_model.pb", "variables"]
    assert [p.name for p in (path / "assets.extra").iterdir()] == ["tensorbridge_value_names.json"]
    assert sorted(p.name for p in (path / "variables").iterdir()) == [
        "variables.data-00000-of-00001", "variables.index"]
    sm = read_saved_model(path)
    (mg,) = sm.meta_graphs
    assert list(mg.meta_info_def.tags) == ["serve"]
    sig = mg.signature_def["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    assert sig.inputs["x"].name == "x:0" and [d.size for d in sig.inputs["x"].tensor_shape.dim] == [-1, 3]
    assert sorted(sig.outputs) == ["y", "z"]
    assert mg.saver_def.restore_op_name and mg.saver_def.save_tensor_name and mg.saver_def.version == 2
    ops = {n.op for n in mg.graph_def.node}
    assert {"VarHandleOp", "ReadVariableOp", "RestoreV2", "AssignVariableOp"} <= ops
    keys = sorted(BundleReader(path / "variables" / "variables").keys())
    # w (3x8) is a variable; b (8 floats, below the threshold) stays a Const
    if mg.HasField("object_graph_def"):
        names = [sig.outputs[k].name for k in "yz"]
        assert names == ["StatefulPartitionedCall:0", "StatefulPartitionedCall:1"]
        (fdef,) = mg.graph_def.library.function
        assert {n.op for n in fdef.node_def} >= {"MatMul", "ReadVariableOp", "Relu"}
        assert keys == ["_CHECKPOINTABLE_OBJECT_GRAPH", "w/.ATTRIBUTES/VARIABLE_VALUE"]
    else:
        assert sig.outputs["y"].name == "y:0" and "MatMul" in ops and keys == ["w"]


def test_tf_saved_model_load(mlp):
    import tensorflow as tf

    proto, path, want = mlp
    tf2 = read_saved_model(path).meta_graphs[0].HasField("object_graph_def")
    assert hasattr(tf.saved_model.load(str(path)), "prune") != tf2  # v2 loader vs load_v1_in_v2
    got, variables = tf_load_run(path, {"x": X})
    assert_close(got, want)
    w = numpy_helper.to_array(proto.graph.initializer[0])
    assert list(variables) == ["w:0"]
    np.testing.assert_array_equal(variables["w:0"], w)


def test_tf1_session_loader(mlp):
    _, path, want = mlp
    assert_close(tf1_session_run(path, {"x": X}), want)


def test_saved_model_cli_show_and_run(mlp, tmp_path):
    _, path, want = mlp
    show = saved_model_cli("show", "--dir", str(path), "--all")
    assert show.returncode == 0, show.stderr[-2000:]
    assert "serving_default" in show.stdout and "x:0" in show.stdout and "(-1, 3)" in show.stdout
    assert_close(cli_run(path, "serve", "serving_default", {"x": X}, tmp_path), want)


def test_freeze_and_pbtxt(tmp_path):
    proto = mlp_proto()
    out = export_savedmodel(import_onnx(proto), tmp_path / "frozen", freeze=True, pbtxt=True)
    assert sorted(p.name for p in out.iterdir()) == ["assets.extra", "saved_model.pbtxt", "variables"]
    assert list(BundleReader(out / "variables" / "variables").keys()) == ["_CHECKPOINTABLE_OBJECT_GRAPH"]
    tf1 = export_savedmodel(import_onnx(proto), tmp_path / "frozen1", freeze=True, object_graph=False)
    assert sorted(p.name for p in tf1.iterdir()) == ["assets.extra", "saved_model.pb"]
    assert_close(tf1_session_run(tf1, {"x": X}), ort_run(proto, {"x": X}))
    want = ort_run(proto, {"x": X})
    got, variables = tf_load_run(out, {"x": X})
    assert_close(got, want) and not variables
    assert_close(tf1_session_run(out, {"x": X}), want)


def test_tags_option(tmp_path):
    proto = mlp_proto()
    out = export_savedmodel(import_onnx(proto), tmp_path / "sm", tags=["serve", "gpu"])
    assert sorted(read_saved_model(out).meta_graphs[0].meta_info_def.tags) == ["gpu", "serve"]
    assert_close(tf1_session_run(out, {"x": X}, tags=("gpu", "serve")), ort_run(proto, {"x": X}))


def test_model_is_left_untouched(tmp_path):
    model = import_onnx(mlp_proto())
    before = [(n.op_type, n.domain) for n in model.graph]
    export_savedmodel(model, tmp_path / "sm")
    assert [(n.op_type, n.domain) for n in model.graph] == before


# ---- refusals and atomicity ----------------------------------------------------------------
def test_existing_output_refused_unless_overwrite(tmp_path):
    model = import_onnx(mlp_proto())
    out = tmp_path / "sm"
    out.mkdir()
    export_savedmodel(model, out)  # an empty directory is fine
    (out / "keep.txt").write_text("x")
    with pytest.raises(ModelSaveError, match="not empty"):
        export_savedmodel(model, out)
    assert (out / "keep.txt").exists()
    export_savedmodel(model, out, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "saved_model.pb").is_file()
    assert no_leftovers(tmp_path) == []


def test_unsupported_op_leaves_nothing(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Foo", ["a"], ["b"], domain="x.y"),
             helper.make_node("Bar", ["b"], ["y"], domain="x.y")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("x.y", 1)])
    with pytest.raises(UnsupportedOpError) as e:
        export_savedmodel(import_onnx(proto), tmp_path / "sm")
    assert "Foo" in str(e.value) and "Bar" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_leaves_nothing(tmp_path, monkeypatch):
    from tensorbridge.converters.savedmodel import variables_out

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(variables_out.VariableTable, "write_bundle", boom)
    with pytest.raises(OSError, match="disk full"):
        export_savedmodel(import_onnx(mlp_proto()), tmp_path / "sm")
    assert list(tmp_path.iterdir()) == []


def test_freeze_past_limit_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_mod, "FROZEN_LIMIT", 64)
    model = import_onnx(mlp_proto())
    with pytest.raises(ModelSaveError, match="2 GB") as e:
        export_savedmodel(model, tmp_path / "sm", freeze=True)
    assert "without --freeze" in (e.value.hint or "")
    assert list(tmp_path.iterdir()) == []
    export_savedmodel(model, tmp_path / "sm")  # with variables it is fine


# ---- several meta graphs -------------------------------------------------------------------
def _three_meta_graphs():
    """Meta graphs {serve}: y = x@w, {serve,gpu}: y = Relu(x@w), {train}: y = x@w + x@w, all
    sharing the variable ``dense/w`` [3, 20]."""
    w = np.random.default_rng(3).standard_normal((3, 20)).astype(np.float32)
    bodies = {
        ("serve",): [helper.make_node("MatMul", ["x", "w"], ["y"])],
        ("serve", "gpu"): [helper.make_node("MatMul", ["x", "w"], ["h"]),
                           helper.make_node("Relu", ["h"], ["y"])],
        ("train",): [helper.make_node("MatMul", ["x", "w"], ["h"]),
                     helper.make_node("Add", ["h", "h"], ["y"])],
    }
    var = ir.Variable("dense/w", ir.as_tensor(w))
    meta_graphs, protos = [], {}
    for tags, nodes in bodies.items():
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 20])],
                              [numpy_helper.from_array(w, "w")],
                              value_info=[helper.make_tensor_value_info("h", TensorProto.FLOAT, ["n", 20])])
        proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
        mg = import_onnx(proto).main
        mg.graph.initializers["w"].variable = var
        mg.graph.initializers["w"].const = None
        mg.tags = frozenset(tags)
        meta_graphs.append(mg)
        protos[tags] = proto
    return ir.Model(meta_graphs, variables={"dense/w": var}), protos


def test_three_meta_graphs_share_variables(tmp_path):
    model, protos = _three_meta_graphs()
    out = export_savedmodel(model, tmp_path / "sm")
    assert list(BundleReader(out / "variables" / "variables").keys()) == ["dense/w"]
    assert len(read_saved_model(out).meta_graphs) == 3
    for tags, proto in protos.items():
        want = ort_run(proto, {"x": X})
        assert_close(tf1_session_run(out, {"x": X}, tags=tags), want)
        got, variables = tf_load_run(out, {"x": X}, tags=list(tags))
        assert_close(got, want)
        assert list(variables) == ["dense/w:0"]


# ---- assets --------------------------------------------------------------------------------
def _asset_model(filename: str) -> ir.Model:
    model = import_onnx(mlp_proto())
    model.assets["vocab"] = ir.Asset(filename, data=b"hello\nworld\n")
    v = model.graph.add_initializer(ir.Value("vocab_path", const=ir.as_tensor(
        np.array(b"vocab.txt", dtype=object), ir.DType.STRING)))
    v.meta["asset"] = "vocab"
    out = ir.Builder(model.graph).op("Identity", [v], name="vocab_out")
    model.graph.add_output(out)
    model.main.signatures["serving_default"].outputs["vocab"] = out
    return model


def test_assets_are_copied_and_bound(tmp_path):
    out = export_savedmodel(_asset_model("vocab.txt"), tmp_path / "sm")
    assert (out / "assets" / "vocab.txt").read_bytes() == b"hello\nworld\n"
    (mg,) = read_saved_model(out).meta_graphs
    (afd,) = mg.asset_file_def
    assert afd.filename == "vocab.txt" and afd.tensor_info.name.endswith(":0")
    import tensorflow as tf

    obj = tf.saved_model.load(str(out))
    assert [Path(p.asset_path.numpy().decode()).name for p in obj.asset_paths] == ["vocab.txt"]
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(out))


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "a/b.txt", "..", ""])
def test_asset_path_tricks_refused(tmp_path, name):
    with pytest.raises(ModelSaveError, match="plain file name"):
        export_savedmodel(_asset_model(name), tmp_path / "sm")
    assert list(tmp_path.iterdir()) == []


def test_reimported_by_tensorbridge(mlp, tmp_path):
    """Our own importer reads what the writer wrote (stripped_op_list sizes function outputs)."""
    from tensorbridge import api

    _, path, want = mlp
    back = tmp_path / "back.onnx"
    api.convert(path, back)
    assert_close(ort_run(back, {"x": X}), want)


def test_cpp_loader_restores_variables(mlp):
    """TF Serving's C++ LoadSavedModel (reached through the MLIR SavedModel-v1 importer, which
    runs the restore op in a Session and lifts the restored values)."""
    import tensorflow as tf

    _, path, _ = mlp
    text = tf.mlir.experimental.convert_saved_model_v1(str(path), "", "serve", lift_variables=True,
                                                       include_variables_in_initializers=True)
    tensors = [line for line in text.splitlines() if "tf_saved_model.global_tensor" in line]
    assert len(tensors) == 1 and "tensor<3x8xf32>" in tensors[0] and "dense<" in tensors[0]


def test_two_signatures_tf2_form(tmp_path):
    model = import_onnx(mlp_proto())
    sig = model.main.signatures["serving_default"]
    model.main.signatures["identity"] = ir.Signature("identity", dict(sig.inputs), {"z": sig.outputs["z"]})
    del sig.outputs["z"]
    out = export_savedmodel(model, tmp_path / "sm")
    (mg,) = read_saved_model(out).meta_graphs
    assert mg.HasField("object_graph_def") and len(mg.graph_def.library.function) == 2
    want = ort_run(mlp_proto(), {"x": X})
    assert_close(tf_load_run(out, {"x": X})[0], {"y": want["y"]})
    assert_close(tf_load_run(out, {"x": X}, key="identity")[0], {"z": want["z"]})
    assert_close(tf1_session_run(out, {"x": X}, key="identity"), {"z": want["z"]})


def test_op_without_known_outputs_falls_back_to_tf1_form(tmp_path):
    """An opaque tf-domain op outside op_outputs.py: the graph is written TF1-style."""
    model = import_onnx(mlp_proto())
    g = model.graph
    y = model.main.signatures["serving_default"].outputs["y"]
    node = ir.Node("Atan2", [y, y], {"T": ir.Attr(ir.AttrType.DTYPE, ir.DType.FLOAT)}, domain="tf",
                   name="atan2")
    g.append(node)
    node.outputs[0].type = y.type
    node.outputs[0].name = "angle"
    g.add_output(node.outputs[0])
    model.main.signatures["serving_default"].outputs["angle"] = node.outputs[0]
    out = export_savedmodel(model, tmp_path / "sm")
    assert not read_saved_model(out).meta_graphs[0].HasField("object_graph_def")
    want = ort_run(mlp_proto(), {"x": X})
    got, _ = tf_load_run(out, {"x": X})
    np.testing.assert_allclose(got["angle"], np.arctan2(want["y"], want["y"]), rtol=1e-6)


def test_deterministic_bytes(tmp_path):
    model = import_onnx(mlp_proto())
    a, b = export_savedmodel(model, tmp_path / "a"), export_savedmodel(model, tmp_path / "b")
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


@pytest.mark.parametrize("object_graph", [True, False], ids=["tf2", "tf1"])
def test_names_that_are_not_tf_names(tmp_path, object_graph):
    """ONNX names with '.', ':', '-' or a leading digit: node names are made valid, signature
    keys keep the ONNX names."""
    nodes = [helper.make_node("Relu", ["input.1"], ["out:0"]),
             helper.make_node("Add", ["input.1", "Input-2"], ["2"])]
    names = ("input.1", "Input-2", "out:0", "2")
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 2]) for n in names]
    g = helper.make_graph(nodes, "g", vi[:2], vi[2:])
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    feeds = {"input.1": -X[:, :2], "Input-2": X[:, 1:]}
    out = export_savedmodel(import_onnx(proto), tmp_path / "sm", object_graph=object_graph)
    want = ort_run(proto, feeds)
    assert_close(tf_load_run(out, feeds)[0], want)
    assert_close(tf1_session_run(out, feeds), want)


@pytest.mark.parametrize(("array", "variable"), [
    (np.zeros(16, np.float32), True), (np.zeros(15, np.float32), False),
    (np.zeros((4, 4), np.float16), True), (np.zeros(1 << 20, np.int8), True),
    (np.zeros(100, np.int64), False), (np.array(1e-5, np.float32), False),
])  # fmt: skip
def test_which_initializers_become_variables(array, variable):
    from tensorbridge.converters.savedmodel.variables_out import becomes_variable

    assert becomes_variable(ir.Value("v", const=ir.as_tensor(array))) is variable
