"""simplify: one test per rule, each with the STYLE 4.9 recipe (passes_helpers.check_pass)."""

from __future__ import annotations

import numpy as np
from onnx import helper
from passes_helpers import I64, F, build, check_pass, init, ops, vi

from tensorbridge import ir
from tensorbridge.passes import simplify


def test_identity_chain_removed_and_graph_output_name_kept():
    m = build(
        [helper.make_node("Identity", ["x"], ["a"]),
         helper.make_node("Relu", ["a"], ["b"]),
         helper.make_node("Identity", ["b"], ["c"]),
         helper.make_node("Identity", ["c"], ["y"])],
        [vi("x", [2, 3])], [vi("y", [2, 3])],
    )  # fmt: skip
    out = check_pass(simplify, m, ["Identity", "Relu", "Identity", "Identity"], ["Relu"])
    assert [v.name for v in out.graph.outputs] == ["y"]
    assert out.main.signature().outputs["y"] is out.graph.outputs[0]
    assert out.graph.outputs[0].producer().op_type == "Relu"


def test_identity_of_graph_input_to_graph_output_stays():
    m = build([helper.make_node("Identity", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])])
    result = simplify(m)
    assert result.changed is False
    assert ops(m) == ["Identity"]


def test_dropout_inference_removed_and_training_kept():
    m = build(
        [helper.make_node("Dropout", ["x", "r"], ["a"]),
         helper.make_node("Relu", ["a"], ["b"]),
         helper.make_node("Dropout", ["b", "r", "t"], ["c", "mask"]),
         helper.make_node("Dropout", ["c", "r", "f"], ["y"])],
        [vi("x", [4, 4])], [vi("y", [4, 4]), vi("mask", [4, 4], elem=9)],
        [init("r", np.float32(0.5)), init("t", np.bool_(True)), init("f", np.bool_(False))],
    )  # fmt: skip
    # the training Dropout stays (its mask is a graph output); the others go, and the last
    # one's output name "y" moves to the training Dropout's output "c"
    out = check_pass(simplify, m, ["Dropout", "Relu", "Dropout", "Dropout"],
                     ["Relu", "Dropout"], numerics=False)  # fmt: skip
    assert [v.name for v in out.graph.outputs] == ["y", "mask"]


def test_dropout_on_graph_input_becomes_name_keeping_identity():
    m = build([helper.make_node("Dropout", ["x"], ["y"])], [vi("x", [3])], [vi("y", [3])])
    out = check_pass(simplify, m, ["Dropout"], ["Identity"])
    assert out.graph.outputs[0].name == "y"


def test_cast_to_same_type_removed_other_cast_kept():
    m = build(
        [helper.make_node("Cast", ["x"], ["a"], to=F),
         helper.make_node("Cast", ["a"], ["b"], to=I64),
         helper.make_node("Neg", ["b"], ["y"])],
        [vi("x", [2, 3])], [vi("y", [2, 3], elem=I64)],
    )  # fmt: skip
    check_pass(simplify, m, ["Cast", "Cast", "Neg"], ["Cast", "Neg"])


def test_transpose_identity_perm_removed():
    m = build(
        [helper.make_node("Transpose", ["x"], ["a"], perm=[0, 1, 2]),
         helper.make_node("Relu", ["a"], ["y"])],
        [vi("x", [2, 3, 4])], [vi("y", [2, 3, 4])],
    )  # fmt: skip
    check_pass(simplify, m, ["Transpose", "Relu"], ["Relu"])


def test_transposes_compose_and_cancel():
    m = build(
        [helper.make_node("Transpose", ["x"], ["a"], perm=[0, 2, 3, 1]),
         helper.make_node("Transpose", ["a"], ["b"], perm=[0, 3, 1, 2]),   # cancels the first
         helper.make_node("Relu", ["b"], ["c"]),
         helper.make_node("Transpose", ["c"], ["d"], perm=[1, 0, 2, 3]),
         helper.make_node("Transpose", ["d"], ["y"], perm=[0, 1, 3, 2])],  # composes
        [vi("x", [2, 3, 4, 5])], [vi("y", [3, 2, 5, 4])],
    )  # fmt: skip
    out = check_pass(simplify, m, ["Transpose"] * 2 + ["Relu"] + ["Transpose"] * 2,
                     ["Relu", "Transpose"])  # fmt: skip
    last = list(out.graph)[-1]
    assert list(last.attr("perm")) == [1, 0, 3, 2]
    assert last.outputs[0].name == "y"


def test_reshape_to_same_static_shape_removed():
    m = build(
        [helper.make_node("Reshape", ["x", "s"], ["a"]),
         helper.make_node("Relu", ["a"], ["y"])],
        [vi("x", [2, 3, 4])], [vi("y", [2, 3, 4])], [init("s", np.array([0, -1, 4], np.int64))],
    )  # fmt: skip
    check_pass(simplify, m, ["Reshape", "Relu"], ["Relu"])


def test_consecutive_reshapes_collapse():
    m = build(
        [helper.make_node("Reshape", ["x", "s1"], ["a"]),
         helper.make_node("Reshape", ["a", "s2"], ["b"]),
         helper.make_node("Reshape", ["b", "s3"], ["y"])],
        [vi("x", [2, 3, 4])], [vi("y", [4, 6])],
        [init("s1", np.array([6, 4], np.int64)), init("s2", np.array([24], np.int64)),
         init("s3", np.array([4, -1], np.int64))],
    )  # fmt: skip
    out = check_pass(simplify, m, ["Reshape"] * 3, ["Reshape"])
    (node,) = list(out.graph)
    assert node.inputs[0] is out.graph.inputs[0]


def test_reshape_chain_with_copy_dim_is_kept():
    m = build(
        [helper.make_node("Reshape", ["x", "s1"], ["a"]),
         helper.make_node("Reshape", ["a", "s2"], ["y"])],
        [vi("x", [2, 12])], [vi("y", [6, 2, 2])],
        [init("s1", np.array([6, 4], np.int64)), init("s2", np.array([0, 2, 2], np.int64))],
    )  # fmt: skip
    assert simplify(m).changed is False
    assert ops(m) == ["Reshape", "Reshape"]


def test_rules_inside_if_branches():
    then_g = helper.make_graph([helper.make_node("Identity", ["x"], ["t0"]),
                                helper.make_node("Relu", ["t0"], ["t"])],
                               "then", [], [vi("t", [3])])  # fmt: skip
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e0"]),
                                helper.make_node("Identity", ["e0"], ["e"])],
                               "else", [], [vi("e", [3])])  # fmt: skip
    m = build(
        [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
         helper.make_node("Greater", ["s", "zero"], ["c"]),
         helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
        [vi("x", [3])], [vi("y", [3])], [init("zero", np.float32(0))],
    )  # fmt: skip
    out = check_pass(simplify, m, ["ReduceSum", "Greater", "If"], ["ReduceSum", "Greater", "If"])
    if_node = list(out.graph)[-1]
    then_out, else_out = if_node.attr("then_branch"), if_node.attr("else_branch")
    assert ops(then_out) == ["Relu"] and ops(else_out) == ["Neg"]
    assert [v.name for v in else_out.outputs] == ["e"]


def test_signature_value_that_is_not_a_graph_output_is_retargeted():
    m = build(
        [helper.make_node("Relu", ["x"], ["a"]),
         helper.make_node("Identity", ["a"], ["y"])],
        [vi("x", [2])], [vi("y", [2])],
    )  # fmt: skip
    sig = m.main.signature()
    simplify(m)
    assert ops(m) == ["Relu"]
    assert sig.outputs["y"] is m.graph.outputs[0]
    assert sig.outputs["y"].name == "y"
    ir.verify(m)


def test_dropout_with_runtime_training_flag_or_used_mask_stays():
    m = build(
        [helper.make_node("Dropout", ["x", "r", "t"], ["a"]),
         helper.make_node("Dropout", ["a"], ["b", "mask"]),
         helper.make_node("Cast", ["mask"], ["m"], to=F),
         helper.make_node("Add", ["b", "m"], ["y"])],
        [vi("x", [4]), vi("t", [], elem=9)], [vi("y", [4])], [init("r", np.float32(0.5))],
    )  # fmt: skip
    assert simplify(m).changed is False
    assert ops(m) == ["Dropout", "Dropout", "Cast", "Add"]


def test_dropout_with_unused_mask_goes():
    m = build(
        [helper.make_node("Dropout", ["x"], ["a", "mask"]), helper.make_node("Neg", ["a"], ["y"])],
        [vi("x", [4])], [vi("y", [4])],
    )  # fmt: skip
    check_pass(simplify, m, ["Dropout", "Neg"], ["Neg"])
