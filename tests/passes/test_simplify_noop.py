"""simplify: Pad/Slice/Expand that do nothing, Cast chains (passes_helpers.check_pass recipe)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from passes_helpers import I64, F, build, check_pass, init, ops, vi

from tensorbridge.passes import simplify

F16, F64, I8, I32 = TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT8, TensorProto.INT32
INT64_MAX = np.iinfo(np.int64).max


def test_pad_of_zeros_removed_and_graph_output_name_kept():
    m = build(
        [helper.make_node("Relu", ["x"], ["a"]),
         helper.make_node("Pad", ["a", "p"], ["y"], mode="reflect")],
        [vi("x", [2, 3])], [vi("y", [2, 3])], [init("p", np.zeros(4, np.int64))],
    )  # fmt: skip
    out = check_pass(simplify, m, ["Relu", "Pad"], ["Relu"])
    assert out.graph.outputs[0].name == "y"


def test_pad_with_a_nonzero_pad_is_kept():
    m = build(
        [helper.make_node("Pad", ["x", "p"], ["y"])],
        [vi("x", [2, 3])], [vi("y", [2, 4])], [init("p", np.array([0, 0, 0, 1], np.int64))],
    )  # fmt: skip
    assert simplify(m).changed is False
    assert ops(m) == ["Pad"]


def test_slice_taking_everything_removed():
    m = build(
        [helper.make_node("Slice", ["x", "s", "e"], ["a"]),  # default axes and steps
         helper.make_node("Slice", ["a", "s2", "e2", "ax", "st"], ["b"]),
         helper.make_node("Neg", ["b"], ["y"])],
        [vi("x", [2, 3, 4])], [vi("y", [2, 3, 4])],
        [init("s", np.array([0, -9], np.int64)), init("e", np.array([2, INT64_MAX], np.int64)),
         init("s2", np.array([0], np.int64)), init("e2", np.array([4], np.int64)),
         init("ax", np.array([-1], np.int64)), init("st", np.array([1], np.int64))],
    )  # fmt: skip
    check_pass(simplify, m, ["Slice", "Slice", "Neg"], ["Neg"])


def test_slice_on_a_symbolic_dim_needs_int64_max():
    m = build(
        [helper.make_node("Slice", ["x", "s", "e", "ax"], ["a"]),
         helper.make_node("Slice", ["a", "s", "e4", "ax"], ["y"])],
        [vi("x", ["n", 4])], [vi("y", ["n", 4])],
        [init("s", np.array([0], np.int64)), init("e", np.array([INT64_MAX], np.int64)),
         init("e4", np.array([4], np.int64)), init("ax", np.array([0], np.int64))],
    )  # fmt: skip
    out = check_pass(simplify, m, ["Slice", "Slice"], ["Slice"])  # ends=4 on "n": kept
    assert out.graph.outputs[0].name == "y"


def test_slice_that_cuts_or_steps_is_kept():
    m = build(
        [helper.make_node("Slice", ["x", "s", "e"], ["a"]),
         helper.make_node("Slice", ["a", "s", "e9", "ax", "st"], ["y"])],
        [vi("x", [4])], [vi("y", [2])],
        [init("s", np.array([0], np.int64)), init("e", np.array([3], np.int64)),
         init("e9", np.array([9], np.int64)), init("ax", np.array([0], np.int64)),
         init("st", np.array([2], np.int64))],
    )  # fmt: skip
    assert simplify(m).changed is False


def test_expand_to_same_static_shape_removed_broadcasting_one_kept():
    m = build(
        [helper.make_node("Expand", ["x", "t"], ["a"]),  # [2, 3] by [1, 3]: nothing
         helper.make_node("Expand", ["x", "s"], ["b"]),  # [2, 3] -> [2, 2, 3]: kept
         helper.make_node("Add", ["a", "b"], ["y"])],
        [vi("x", [2, 3])], [vi("y", [2, 2, 3])],
        [init("s", np.array([2, 2, 3], np.int64)), init("t", np.array([1, 3], np.int64))],
    )  # fmt: skip
    out = check_pass(simplify, m, ["Expand", "Expand", "Add"], ["Expand", "Add"])
    assert list(out.graph)[1].inputs[0] is out.graph.inputs[0]


def test_widening_cast_chain_composes():
    m = build(
        [helper.make_node("Cast", ["x"], ["a"], to=I32),
         helper.make_node("Cast", ["a"], ["b"], to=I64),
         helper.make_node("Neg", ["b"], ["y"])],
        [vi("x", [5], elem=I8)], [vi("y", [5], elem=I64)],
    )  # fmt: skip
    out = check_pass(simplify, m, ["Cast", "Cast", "Neg"], ["Cast", "Neg"])
    cast = list(out.graph)[0]
    assert cast.inputs[0] is out.graph.inputs[0] and cast.attr("to") == I64


def test_float16_round_trip_through_float32_is_identity():
    m = build(
        [helper.make_node("Cast", ["x"], ["a"], to=F),
         helper.make_node("Cast", ["a"], ["b"], to=F16),
         helper.make_node("Neg", ["b"], ["y"])],
        [vi("x", [5], elem=F16)], [vi("y", [5], elem=F16)],
    )  # fmt: skip
    check_pass(simplify, m, ["Cast", "Cast", "Neg"], ["Neg"])


def test_int32_through_double_to_float_composes():
    # int32 -> double is exact, so double -> float rounds the same number int32 -> float does
    m = build(
        [helper.make_node("Cast", ["x"], ["a"], to=F64), helper.make_node("Cast", ["a"], ["y"], to=F)],
        [vi("x", [5], elem=I32)], [vi("y", [5])],
    )  # fmt: skip
    out = check_pass(simplify, m, ["Cast", "Cast"], ["Cast"])
    assert list(out.graph)[0].attr("to") == F and out.graph.outputs[0].name == "y"


def test_narrowing_cast_chains_are_kept():
    m = build(
        [helper.make_node("Cast", ["x"], ["a"], to=F16),   # float32 -> float16 rounds
         helper.make_node("Cast", ["a"], ["y1"], to=F),
         helper.make_node("Cast", ["x"], ["b"], to=I32),   # float -> int truncates
         helper.make_node("Cast", ["b"], ["y2"], to=F),
         helper.make_node("Cast", ["i"], ["c"], to=I32),   # int64 -> int32 wraps
         helper.make_node("Cast", ["c"], ["y3"], to=I64)],
        [vi("x", [5]), vi("i", [5], elem=I64)],
        [vi("y1", [5]), vi("y2", [5]), vi("y3", [5], elem=I64)],
    )  # fmt: skip
    assert simplify(m).changed is False
    assert ops(m) == ["Cast"] * 6
