"""Small hand-built ONNX models for the round-trip tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh

F = TP.FLOAT


def control_flow_model() -> onnx.ModelProto:
    """If / Loop / Scan with outer-scope references, a model-local function, metadata."""
    w = nh.from_array(np.arange(3, dtype=np.float32) + 1, "W")
    then_g = h.make_graph([h.make_node("Add", ["X", "W"], ["t"])], "then",
                          [], [h.make_tensor_value_info("t", F, [2, 3])])
    else_g = h.make_graph([h.make_node("Mul", ["X", "W"], ["e"])], "else",
                          [], [h.make_tensor_value_info("e", F, [2, 3])])
    loop_body = h.make_graph(
        [h.make_node("Identity", ["c_in"], ["c_out"]),
         h.make_node("Add", ["acc_in", "W"], ["acc_out"])],
        "loop_body",
        [h.make_tensor_value_info("i", TP.INT64, []), h.make_tensor_value_info("c_in", TP.BOOL, []),
         h.make_tensor_value_info("acc_in", F, [2, 3])],
        [h.make_tensor_value_info("c_out", TP.BOOL, []),
         h.make_tensor_value_info("acc_out", F, [2, 3])])
    scan_body = h.make_graph(
        [h.make_node("Add", ["s_in", "row"], ["s_out"]), h.make_node("Mul", ["s_out", "W"], ["y_row"])],
        "scan_body",
        [h.make_tensor_value_info("s_in", F, [3]), h.make_tensor_value_info("row", F, [3])],
        [h.make_tensor_value_info("s_out", F, [3]), h.make_tensor_value_info("y_row", F, [3])])
    fn = h.make_function("custom", "AddTwice", ["a", "b"], ["c"],
                         [h.make_node("Add", ["a", "b"], ["ab"]), h.make_node("Add", ["ab", "b"], ["c"])],
                         [h.make_opsetid("", 26)])
    nodes = [
        h.make_node("If", ["cond"], ["if_out"], then_branch=then_g, else_branch=else_g),
        h.make_node("Loop", ["trip", "", "X"], ["loop_out"], body=loop_body),
        h.make_node("Constant", [], ["s0"], value=nh.from_array(np.zeros(3, np.float32))),
        h.make_node("Scan", ["s0", "X"], ["s_final", "scan_out"], body=scan_body, num_scan_inputs=1),
        h.make_node("AddTwice", ["if_out", "loop_out"], ["Y"], domain="custom"),
    ]
    graph = h.make_graph(
        nodes, "cf",
        [h.make_tensor_value_info("X", F, [2, 3]),
         h.make_tensor_value_info("cond", TP.BOOL, []), h.make_tensor_value_info("trip", TP.INT64, [])],
        [h.make_tensor_value_info("Y", F, [2, 3]), h.make_tensor_value_info("scan_out", F, [2, 3])],
        [w])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 26), h.make_opsetid("custom", 1)],
                         functions=[fn], producer_name="unit", producer_version="1.0")
    model.ir_version = 10
    h.set_model_props(model, {"author": "tb", "purpose": "round trip"})
    onnx.checker.check_model(model, full_check=True)
    return model


def control_flow_inputs() -> list:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    return [x, np.array(True), np.array(3, np.int64)]


def weights_model(n: int = 4096, opset: int = 26) -> onnx.ModelProto:
    """Y = X @ W1 + B with a large W1 (for external data)."""
    rng = np.random.default_rng(0)
    w1 = nh.from_array(rng.standard_normal((8, n)).astype(np.float32), "W1")
    b = nh.from_array(rng.standard_normal((n,)).astype(np.float32), "B")
    graph = h.make_graph(
        [h.make_node("MatMul", ["X", "W1"], ["xw"]), h.make_node("Add", ["xw", "B"], ["Y"])],
        "weights", [h.make_tensor_value_info("X", F, [2, 8])],
        [h.make_tensor_value_info("Y", F, [2, n])], [w1, b])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 10
    return model


def tiny_model(opset: int = 26) -> onnx.ModelProto:
    graph = h.make_graph([h.make_node("Relu", ["X"], ["Y"])], "tiny",
                         [h.make_tensor_value_info("X", F, [2])],
                         [h.make_tensor_value_info("Y", F, [2])])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 10
    return model
