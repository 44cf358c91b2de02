"""simplify, the rules of passes/simplify_extra.py: one test per rule (STYLE 4.9 recipe via
passes_helpers.check_pass), plus the cases each rule must leave alone."""

from __future__ import annotations

import numpy as np
from onnx import helper
from passes_helpers import F, build, check_pass, init, ops, vi

from tensorbridge.passes import simplify
from tensorbridge.passes.simplify_extra import known_dims, target_entries

MAX = np.iinfo(np.int64).max


def _shape_then_use(selector_nodes, inits, x_shape=("N", 3, 8)):
    """x -> Shape -> (selector nodes writing "s") -> Cast(float) -> Add to x -> y."""
    return build(
        [helper.make_node("Shape", ["x"], ["shp"]), *selector_nodes,
         helper.make_node("Cast", ["s"], ["sf"], to=F),
         helper.make_node("Add", ["x", "sf"], ["y"])],
        [vi("x", list(x_shape))], [vi("y", list(x_shape))], inits,
    )  # fmt: skip


def test_gather_of_a_static_dim_of_a_dynamic_shape_becomes_constant():
    m = _shape_then_use([helper.make_node("Gather", ["shp", "i"], ["s"], axis=0)],
                        [init("i", np.array([-1], np.int64))])
    out = check_pass(simplify, m, ["Shape", "Gather", "Cast", "Add"], ["Shape", "Cast", "Add"])
    cast = next(n for n in out.graph if n.op_type == "Cast")
    assert cast.inputs[0].const.numpy().tolist() == [8]


def test_gather_of_a_dynamic_dim_stays():
    m = _shape_then_use([helper.make_node("Gather", ["shp", "i"], ["s"], axis=0)],
                        [init("i", np.array([0], np.int64))])
    assert simplify(m).changed is False
    assert ops(m) == ["Shape", "Gather", "Cast", "Add"]


def test_slice_of_static_dims_becomes_constant():
    m = _shape_then_use(
        [helper.make_node("Slice", ["shp", "b", "e"], ["s"])],
        [init("b", np.array([-1], np.int64)), init("e", np.array([MAX], np.int64))],
    )
    out = check_pass(simplify, m, ["Shape", "Slice", "Cast", "Add"], ["Shape", "Cast", "Add"])
    cast = next(n for n in out.graph if n.op_type == "Cast")
    assert cast.inputs[0].const.numpy().tolist() == [8]


def test_slice_reaching_a_dynamic_dim_stays():
    m = _shape_then_use(
        [helper.make_node("Slice", ["shp", "b", "e"], ["s0"]),
         helper.make_node("ReduceMax", ["s0"], ["s"], keepdims=1)],
        [init("b", np.array([0], np.int64)), init("e", np.array([2], np.int64))],
    )
    assert simplify(m).changed is False


def _dynamic_reshape(consts_after, extra_nodes=(), outputs=None, inits=()):
    """x [N, 12] -> Reshape(x, Concat(Unsqueeze(Shape(x)[0]), consts...))."""
    pieces = ["n1"] + [f"c{i}" for i in range(len(consts_after))]
    return build(
        [helper.make_node("Shape", ["x"], ["shp"]),
         helper.make_node("Gather", ["shp", "zero"], ["n"], axis=0),
         helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
         helper.make_node("Concat", pieces, ["t"], axis=0),
         helper.make_node("Reshape", ["x", "t"], ["r"]),
         *extra_nodes],
        [vi("x", ["N", 12])], outputs or [vi("r", ["N", 3, 4])],
        [init("zero", np.int64(0)), init("ax", np.array([0], np.int64)),
         *[init(f"c{i}", np.array([c], np.int64)) for i, c in enumerate(consts_after)], *inits],
    )  # fmt: skip


def test_reshape_with_one_dynamic_entry_takes_minus_one():
    m = _dynamic_reshape([3, 4])
    out = check_pass(simplify, m, ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape"],
                     ["Shape", "Gather", "Unsqueeze", "Reshape"])
    reshape = next(n for n in out.graph if n.op_type == "Reshape")
    assert reshape.inputs[1].const.numpy().tolist() == [-1, 3, 4]


def test_reshape_with_a_copy_entry_stays():
    m = _dynamic_reshape([0, 4], outputs=[vi("r", ["N", 12, 4])])
    reshape_rules = simplify(m)
    assert "reshape_minus_one" not in reshape_rules.stats
    assert "Concat" in ops(m)


def test_known_dims_read_through_a_reshape_target():
    m = _dynamic_reshape([3, 4])
    reshape = next(n for n in m.graph if n.op_type == "Reshape")
    assert target_entries(reshape.inputs[1]) == [None, 3, 4]
    assert known_dims(reshape.outputs[0])[1:] == [3, 4]


def test_slice_of_the_shape_of_a_dynamic_reshape_becomes_constant():
    m = _dynamic_reshape(
        [3, 4],
        [helper.make_node("Shape", ["r"], ["rs"]),
         helper.make_node("Slice", ["rs", "b", "e"], ["last"]),
         helper.make_node("Cast", ["last"], ["lf"], to=F),
         helper.make_node("Add", ["r", "lf"], ["y"])],
        outputs=[vi("y", ["N", 3, 4])],
        inits=[init("b", np.array([1], np.int64)), init("e", np.array([MAX], np.int64))],
    )
    result = simplify(m)
    assert result.stats.get("slice_of_shape") == 1, result.stats
    cast = next(n for n in m.graph if n.op_type == "Cast")
    assert cast.inputs[0].const.numpy().tolist() == [3, 4]


def test_neutral_elements_removed():
    m = build(
        [helper.make_node("Add", ["x", "zeros"], ["a"]),
         helper.make_node("Mul", ["ones", "a"], ["b"]),
         helper.make_node("Sub", ["b", "zero"], ["c"]),
         helper.make_node("Div", ["c", "one"], ["d"]),
         helper.make_node("Relu", ["d"], ["y"])],
        [vi("x", ["N", 3])], [vi("y", ["N", 3])],
        [init("zeros", np.zeros(3, np.float32)), init("ones", np.ones((1, 3), np.float32)),
         init("zero", np.float32(0)), init("one", np.ones(1, np.float32))],
    )  # fmt: skip
    check_pass(simplify, m, ["Add", "Mul", "Sub", "Div", "Relu"], ["Relu"])


def test_neutral_element_that_broadcasts_or_is_on_the_wrong_side_stays():
    m = build(
        [helper.make_node("Add", ["x", "zeros"], ["a"]),  # [3] + [2, 3] -> [2, 3]
         helper.make_node("Sub", ["zero", "a"], ["b"]),  # 0 - a is -a
         helper.make_node("Div", ["one", "b"], ["y"])],  # 1 / b
        [vi("x", [3])], [vi("y", [2, 3])],
        [init("zeros", np.zeros((2, 3), np.float32)), init("zero", np.float32(0)),
         init("one", np.float32(1))],
    )  # fmt: skip
    assert simplify(m).changed is False
    assert ops(m) == ["Add", "Sub", "Div"]


def test_neutral_element_on_a_graph_output_keeps_its_name():
    m = build([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Mul", ["r", "one"], ["y"])],
              [vi("x", [2, 3])], [vi("y", [2, 3])], [init("one", np.float32(1))])
    out = check_pass(simplify, m, ["Relu", "Mul"], ["Relu"])
    assert out.graph.outputs[0].name == "y"
