"""Our protos parse TF-written SavedModels completely and re-serialize them byte-exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format

from tensorbridge.protos import (
    anyutil,
    fingerprint_pb2,
    meta_graph_pb2,
    saved_model_pb2,
    tensor_bundle_pb2,
    trackable_object_graph_pb2,
    types_pb2,
    variable_pb2,
)

pytestmark = pytest.mark.tf

BINARY_MODELS = ["keras_export", "tf2_module", "tf1_builder"]
TF2_MODELS = ["keras_export", "tf2_module"]
BUNDLE_HEADER = bytes.fromhex("08011a020801")


def load(model_dir: Path) -> tuple[bytes, saved_model_pb2.SavedModel]:
    data = (model_dir / "saved_model.pb").read_bytes()
    return data, saved_model_pb2.SavedModel.FromString(data)


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if byte < 0x80:
            return value, pos


def first_index_entry(index_file: Path) -> tuple[bytes, bytes]:
    """(key, value) of the first entry of the SSTable's first data block (at offset 0)."""
    buf = index_file.read_bytes()
    shared, pos = varint(buf, 0)
    non_shared, pos = varint(buf, pos)
    value_len, pos = varint(buf, pos)
    assert shared == 0
    key = buf[pos:pos + non_shared]
    return key, buf[pos + non_shared:pos + non_shared + value_len]


def dims(shape) -> list[int]:
    return [d.size for d in shape.dim]


@pytest.mark.parametrize("name", BINARY_MODELS)
def test_parses_without_unknown_fields(tf_model, name: str) -> None:
    _, model = load(tf_model(name))
    assert model.saved_model_schema_version == 1
    assert anyutil.find_unknown_fields(model) == []


@pytest.mark.parametrize("name", BINARY_MODELS)
def test_deterministic_serialization_reproduces_tf_bytes(tf_model, name: str) -> None:
    data, model = load(tf_model(name))
    assert model.SerializeToString(deterministic=True) == data


@pytest.mark.parametrize("name", BINARY_MODELS)
def test_bundle_header(tf_model, name: str) -> None:
    key, value = first_index_entry(tf_model(name) / "variables" / "variables.index")
    assert (key, value) == (b"", BUNDLE_HEADER)
    header = tensor_bundle_pb2.BundleHeaderProto.FromString(value)
    assert header.num_shards == 1
    assert header.endianness == tensor_bundle_pb2.BundleHeaderProto.LITTLE
    assert header.version.producer == 1
    assert anyutil.find_unknown_fields(header) == []
    assert header.SerializeToString(deterministic=True) == value


@pytest.mark.parametrize("name", TF2_MODELS)
def test_fingerprint(tf_model, name: str) -> None:
    data = (tf_model(name) / "fingerprint.pb").read_bytes()
    fingerprint = fingerprint_pb2.FingerprintDef.FromString(data)
    assert anyutil.find_unknown_fields(fingerprint) == []
    assert fingerprint.saved_model_checksum != 0
    assert fingerprint.version.producer > 0 and fingerprint.uuid
    assert fingerprint.SerializeToString(deterministic=True) == data


def test_tf2_module_content(tf_model) -> None:
    _, model = load(tf_model("tf2_module"))
    (meta,) = model.meta_graphs
    assert list(meta.meta_info_def.tags) == ["serve"]
    assert set(meta.signature_def) == {"serving_default", "__saved_model_init_op"}
    sig = meta.signature_def["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    x = sig.inputs["x"]
    assert (x.name, x.dtype, dims(x.tensor_shape)) == ("serving_default_x:0",
                                                       types_pb2.DT_FLOAT, [-1, 3])
    assert sig.outputs["y"].name.startswith("StatefulPartitionedCall")
    assert meta.saver_def.version == meta.saver_def.V2
    assert {"MatMul", "VarHandleOp"} <= {op.name for op in meta.meta_info_def.stripped_op_list.op}
    assert meta.graph_def.library.function


def test_tf2_module_object_graph(tf_model) -> None:
    _, model = load(tf_model("tf2_module"))
    graph = model.meta_graphs[0].object_graph_def
    root = graph.nodes[0]
    assert root.WhichOneof("kind") == "user_object"
    children = {ref.local_name: graph.nodes[ref.node_id] for ref in root.children}
    assert {"w", "b", "signatures"} <= set(children)
    w = children["w"].variable
    assert (w.name, w.dtype, dims(w.shape)) == ("w", types_pb2.DT_FLOAT, [3, 1])
    specs = [
        value.tensor_spec_value
        for fn in graph.concrete_functions.values()
        for value in fn.canonicalized_input_signature.tuple_value.values[0].tuple_value.values
    ]
    assert any(spec.name == "x" and dims(spec.shape) == [-1, 3] for spec in specs)


def trackable_graph_const(meta) -> trackable_object_graph_pb2.TrackableObjectGraph:
    """The main graph's Const holding the serialized TrackableObjectGraph (fed to save)."""
    (node,) = [n for n in meta.graph_def.node if n.name == "Const"]
    data = node.attr["value"].tensor.string_val[0]
    return trackable_object_graph_pb2.TrackableObjectGraph.FromString(data)


@pytest.mark.parametrize("name", TF2_MODELS)
def test_trackable_object_graph_const(tf_model, name: str) -> None:
    _, model = load(tf_model(name))
    graph = trackable_graph_const(model.meta_graphs[0])
    assert anyutil.find_unknown_fields(graph) == []
    keys = {attr.checkpoint_key for node in graph.nodes for attr in node.attributes}
    assert any(key.endswith("/.ATTRIBUTES/VARIABLE_VALUE") for key in keys)


def test_keras_export_content(tf_model) -> None:
    _, model = load(tf_model("keras_export"))
    (meta,) = model.meta_graphs
    assert {"serve", "serving_default"} <= set(meta.signature_def)
    image = meta.signature_def["serving_default"].inputs["image"]
    assert (image.name, dims(image.tensor_shape)) == ("serving_default_image:0", [-1, 8, 8, 3])
    output = meta.signature_def["serving_default"].outputs["output_0"]
    assert dims(output.tensor_shape) == [-1, 2]
    assert {"Conv2D", "MatMul"} <= {op.name for op in meta.meta_info_def.stripped_op_list.op}
    kinds = [node.WhichOneof("kind") for node in meta.object_graph_def.nodes]
    assert kinds.count("variable") >= 4


def test_tf1_builder_meta_graphs(tf_model) -> None:
    _, model = load(tf_model("tf1_builder"))
    serve, gpu = model.meta_graphs
    assert [list(serve.meta_info_def.tags), list(gpu.meta_info_def.tags)] == [
        ["serve"], ["serve", "gpu"]]
    assert not serve.HasField("object_graph_def") and not gpu.HasField("object_graph_def")
    for meta, key, out in [(serve, "serving_default", "y:0"), (gpu, "double", "y2:0")]:
        (sig_key,) = meta.signature_def
        sig = meta.signature_def[sig_key]
        assert (sig_key, sig.inputs["x"].name, sig.outputs["y"].name) == (key, "x:0", out)
        assert dims(sig.inputs["x"].tensor_shape) == [-1, 3]
    assert serve.saver_def.restore_op_name == "save/restore_all"
    assert serve.saver_def.filename_tensor_name == "save/Const:0"


def test_tf1_builder_variable_collection(tf_model) -> None:
    _, model = load(tf_model("tf1_builder"))
    values = model.meta_graphs[0].collection_def["variables"].bytes_list.value
    variables = [variable_pb2.VariableDef.FromString(v) for v in values]
    assert all(anyutil.find_unknown_fields(v) == [] for v in variables)
    by_name = {v.variable_name: v for v in variables}
    assert set(by_name) == {"w:0", "b:0"}
    assert by_name["b:0"].is_resource and not by_name["w:0"].is_resource
    assert by_name["w:0"].trainable


def test_tf1_builder_asset_collection(tf_model) -> None:
    model_dir = tf_model("tf1_builder")
    _, model = load(model_dir)
    for meta in model.meta_graphs:
        packed = meta.collection_def["saved_model_assets"].any_list.value
        assets = [anyutil.unpack_any(a, meta_graph_pb2.AssetFileDef) for a in packed]
        assert {(a.filename, a.tensor_info.name) for a in assets} == {("vocab.txt",
                                                                       "vocab_path:0")}
        assert anyutil.find_unknown_fields(assets[0]) == []
    assert (model_dir / "assets" / "vocab.txt").read_text() == "hello\nworld\n"


def parse_text(path: Path) -> saved_model_pb2.SavedModel:
    return text_format.Parse(path.read_text(), saved_model_pb2.SavedModel(),
                             descriptor_pool=anyutil.tf_named_pool())


def test_tf2_text_reproduces_binary(tf_model) -> None:
    """TF's text rendering of tf2_module parses to the exact binary TF wrote."""
    text_dir = tf_model("tf2_module_text")
    model = parse_text(text_dir / "saved_model.pbtxt")
    assert anyutil.find_unknown_fields(model) == []
    source = (text_dir.parent / "tf2_module_text_src" / "saved_model.pb").read_bytes()
    assert model.SerializeToString(deterministic=True) == source


def test_tf1_builder_text(tf_model) -> None:
    """builder.save(as_text=True) writes Any as type_url + escaped bytes (no expansion)."""
    from tensorflow.core.protobuf import saved_model_pb2 as tf_saved_model_pb2

    path = tf_model("tf1_builder_text") / "saved_model.pbtxt"
    model = parse_text(path)
    assert anyutil.find_unknown_fields(model) == []
    assert [list(m.meta_info_def.tags) for m in model.meta_graphs] == [["serve"],
                                                                       ["serve", "gpu"]]
    assert model.meta_graphs[0].signature_def["serving_default"].inputs["x"].name == "x:0"
    theirs = text_format.Parse(path.read_text(), tf_saved_model_pb2.SavedModel())
    assert model.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True)


def test_text_any_expansion_round_trip(tf_model) -> None:
    """TF's Python text_format expands Any when TF's classes are in the default pool."""
    from tensorflow.core.protobuf import saved_model_pb2 as tf_saved_model_pb2

    data, _ = load(tf_model("tf1_builder"))
    text = text_format.MessageToString(tf_saved_model_pb2.SavedModel.FromString(data))
    assert "[type.googleapis.com/tensorflow.AssetFileDef] {" in text
    model = text_format.Parse(text, saved_model_pb2.SavedModel(),
                              descriptor_pool=anyutil.tf_named_pool())
    assert model.SerializeToString(deterministic=True) == data
