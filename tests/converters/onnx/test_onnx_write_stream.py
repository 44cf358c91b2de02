"""The fast export path: weights left out of the proto while it is checked and lowered
(LightProto), then streamed to the file (ModelStream). Both must give exactly the bytes of
the plain full proto."""

from __future__ import annotations

import io

import numpy as np
import onnx
import onnx_models
import pytest
from onnx import helper as h
from onnx import numpy_helper as nh

from tensorbridge import ir
from tensorbridge.converters.onnx import export_onnx, import_onnx, to_model_proto
from tensorbridge.converters.onnx._tensors import raw_data
from tensorbridge.converters.onnx._write import ExternalPlan, ModelStream
from tensorbridge.converters.onnx.exporter import build_light_proto

F = onnx.TensorProto.FLOAT


def _mixed_model(opset: int = 26) -> onnx.ModelProto:
    """Large float weights, a small int64 shape, a float16 and a bool weight, doc strings and
    metadata at every level the stream splits (model, graph, tensor)."""
    rng = np.random.default_rng(0)
    w = nh.from_array(rng.standard_normal((8, 300)).astype(np.float32), "W")
    w.doc_string = "weight doc (after raw_data on the wire)"
    shape = nh.from_array(np.array([2, 30, 10], np.int64), "shape")
    half = nh.from_array(rng.standard_normal((30, 10)).astype(np.float16), "half")
    mask = nh.from_array(rng.random((2, 30, 10)) > 0.5, "mask")
    nodes = [h.make_node("MatMul", ["X", "W"], ["xw"]),
             h.make_node("Reshape", ["xw", "shape"], ["r"]),
             h.make_node("Cast", ["half"], ["h32"], to=F),
             h.make_node("Add", ["r", "h32"], ["a"]),
             h.make_node("Where", ["mask", "a", "r"], ["Y"])]
    graph = h.make_graph(nodes, "mixed", [h.make_tensor_value_info("X", F, ["batch", 8])],
                         [h.make_tensor_value_info("Y", F, [2, 30, 10])], [w, shape, half, mask],
                         doc_string="graph doc")
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)], doc_string="m doc")
    model.ir_version = 10
    h.set_model_props(model, {"author": "test"})
    return model


def _stream_bytes(model: ir.Model, place=None, opset=None) -> bytes:
    f = io.BytesIO()
    ModelStream(build_light_proto(model, opset=opset, place=place), place).write(f)
    return f.getvalue()


@pytest.mark.parametrize("opset", [None, 17])
def test_stream_is_the_serialized_full_proto(opset):
    model = import_onnx(_mixed_model())
    expected = to_model_proto(model, opset=opset).SerializeToString(deterministic=True)
    assert _stream_bytes(model, opset=opset) == expected


def test_stream_with_external_data_matches_the_full_proto():
    model = import_onnx(onnx_models.weights_model())
    full = to_model_proto(model, check=False)
    plan = ExternalPlan("m.data", 1024)
    light = build_light_proto(model, place=plan)
    ref_plan = ExternalPlan("m.data", 1024)
    for t in full.graph.initializer:  # the reference: place the full proto's tensors alike
        ref_plan(import_onnx(onnx_models.weights_model()).graph.initializers[t.name].const, t.name)
    f = io.BytesIO()
    ModelStream(light, plan).write(f)
    back = onnx.load_from_string(f.getvalue())
    assert [t.name for t in back.graph.initializer] == [t.name for t in full.graph.initializer]
    assert all(t.data_location == onnx.TensorProto.EXTERNAL for t in back.graph.initializer)
    assert [o for _, o in plan.entries] == [o for _, o in ref_plan.entries]
    assert [i.name for i in back.graph.input] == ["X"]


def test_light_proto_keeps_weights_out_and_int_shapes_in():
    model = import_onnx(_mixed_model())
    light = build_light_proto(model)
    names = {t.name for t in light.proto.graph.initializer}
    assert names == {"shape", "half", "mask"}  # int64 (read by shape inference), and small
    assert set(light.deferred) == {"W"}
    assert [i.name for i in light.proto.graph.input] == ["X", "W"]
    onnx.checker.check_model(light.proto, full_check=True)


def test_export_writes_bit_identical_weights(tmp_path):
    src = _mixed_model()
    export_onnx(import_onnx(src), tmp_path / "m.onnx")
    back = onnx.load(str(tmp_path / "m.onnx"))
    onnx.checker.check_model(back, full_check=True)
    want = {t.name: t for t in src.graph.initializer}
    assert [t.name for t in back.graph.initializer] == [t.name for t in src.graph.initializer]
    for t in back.graph.initializer:
        assert t.raw_data == want[t.name].raw_data or np.array_equal(
            nh.to_array(t), nh.to_array(want[t.name]))
        assert nh.to_array(t).tobytes() == nh.to_array(want[t.name]).tobytes()
    assert [i.name for i in back.graph.input] == ["X"]


def test_export_at_a_lower_opset_is_the_full_proto(tmp_path):
    model = import_onnx(_mixed_model())
    export_onnx(model, tmp_path / "m.onnx", opset=17)
    want = to_model_proto(model, opset=17).SerializeToString(deterministic=True)
    assert (tmp_path / "m.onnx").read_bytes() == want


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int8, np.uint16, np.int64,
                                   np.float64, np.complex64, np.bool_])
def test_raw_data_fast_path_matches_numpy_helper(dtype):
    arr = (np.random.default_rng(1).standard_normal((5, 7)) * 50).astype(dtype).T  # strided
    t = ir.ArrayTensor(arr)
    assert bytes(raw_data(t)) == nh.from_array(np.ascontiguousarray(arr)).raw_data


def test_initializer_order_kept_with_an_overridable_input():
    src = _mixed_model()
    src.graph.input.append(h.make_tensor_value_info("bias", F, [2, 30, 10]))
    src.graph.initializer.insert(0, nh.from_array(np.ones((2, 30, 10), np.float32), "bias"))
    src.graph.node.append(h.make_node("Add", ["Y", "bias"], ["Z"]))
    src.graph.output.append(h.make_tensor_value_info("Z", F, [2, 30, 10]))
    model = import_onnx(src)
    plain = to_model_proto(model)
    names = [t.name for t in plain.graph.initializer]
    assert names[0] == "bias" and set(names) == {"bias", "W", "shape", "half", "mask"}
    assert _stream_bytes(model) == plain.SerializeToString(deterministic=True)
