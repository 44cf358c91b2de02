"""Lifting core: the driver, the GraphDef writer and attribute encoding, run in real TF."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import lift_to_graph_def, run_onnx_in_tf  # noqa: E402

from tensorbridge import ir  # noqa: E402
from tensorbridge.converters.onnx import import_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.attrs import attr_to_ir, tensor_to_numpy  # noqa: E402
from tensorbridge.converters.savedmodel.attrs_out import attr_to_proto, tensor_to_proto  # noqa: E402
from tensorbridge.converters.savedmodel.lift import TfShape, lift_model, tf_attr  # noqa: E402
from tensorbridge.errors import UnsupportedOpError  # noqa: E402


def _mlp():
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Add", ["r", "x2"], ["y"]), helper.make_node("Identity", ["x"], ["xi"])]
    g = helper.make_graph(nodes, "mlp",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
                           helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4]),
                           helper.make_tensor_value_info("xi", TensorProto.FLOAT, ["batch", 3])],
                          [numpy_helper.from_array(w, "w")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), w


@pytest.mark.parametrize(
    "value",
    [True, 3, 2.5, "SAME", ir.DType.FLOAT, [1, 2], [ir.DType.INT32, ir.DType.FLOAT], [True, False],
     TfShape((None, 3)), TfShape(None), np.arange(3, dtype=np.int32)],
)
def test_attr_round_trip(value):
    a = tf_attr(value)
    back = attr_to_ir(attr_to_proto(a))
    if a.type is ir.AttrType.TENSOR:
        np.testing.assert_array_equal(back.value.numpy(), value)
    else:
        assert back == a


ARRAYS = [np.arange(6, dtype=np.float16).reshape(2, 3), np.array([b"a", b"bc"], dtype=object),
          np.array(True), np.zeros((0, 2), np.int64), np.array([1 + 2j], np.complex64)]


@pytest.mark.parametrize("arr", ARRAYS)
def test_tensor_round_trip(arr):
    back = tensor_to_numpy(tensor_to_proto(arr, ir.DType.STRING if arr.dtype == object else None))
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_lift_keeps_output_names_and_model_untouched():
    proto, _ = _mlp()
    model = import_onnx(proto)
    before = [(n.op_type, n.domain) for n in model.graph]
    gd, ins, outs = lift_to_graph_def(model)
    assert [(n.op_type, n.domain) for n in model.graph] == before
    assert outs == ["y:0", "xi:0"] and ins == ["x:0", "x2:0"]
    assert {n.op for n in gd.node} == {"Placeholder", "Const", "MatMul", "Relu", "AddV2", "Identity"}


def test_unsupported_ops_reported_together():
    nodes = [helper.make_node("Foo", ["x"], ["a"], domain="com.example"),
             helper.make_node("Foo", ["a"], ["b"], domain="com.example"),
             helper.make_node("Bar", ["b"], ["y"], domain="com.example")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    opsets = [helper.make_opsetid("", 18), helper.make_opsetid("com.example", 1)]
    model = import_onnx(helper.make_model(g, opset_imports=opsets))
    with pytest.raises(UnsupportedOpError) as e:
        lift_model(model)
    assert "com.example::Foo x2" in str(e.value) and "com.example::Bar x1" in str(e.value)


@pytest.mark.tf
def test_mlp_runs_in_tf():
    pytest.importorskip("tensorflow")
    proto, w = _mlp()
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    x2 = np.ones((1, 4), np.float32)
    y, xi = run_onnx_in_tf(proto, [x, x2])
    np.testing.assert_allclose(y, np.maximum(x @ w, 0) + x2, rtol=1e-6)
    np.testing.assert_array_equal(xi, x)


def test_nodes_blocked_by_an_unlifted_producer_are_not_listed_as_unsupported():
    """Relu has a handler, but its input comes untyped from an op with none: only that op is
    reported, and the hint says what it blocked."""
    nodes = [helper.make_node("Foo", ["x"], ["a"], domain="com.example"),
             helper.make_node("Relu", ["a"], ["y"], name="relu")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    opsets = [helper.make_opsetid("", 18), helper.make_opsetid("com.example", 1)]
    model = import_onnx(helper.make_model(g, opset_imports=opsets))
    with pytest.raises(UnsupportedOpError) as e:
        lift_model(model)
    assert set(e.value.missing) == {("com.example", "Foo")}
    assert "'relu'" in str(e.value) and "element type" in str(e.value)
