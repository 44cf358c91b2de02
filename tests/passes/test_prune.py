"""prune-dead-nodes: nodes, initializers, variables, functions, subgraphs, keep_signatures."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from passes_helpers import F, build, check_pass, init, ops, run, vi

from tensorbridge import ir
from tensorbridge.errors import UsageError
from tensorbridge.passes import PassContext, clone_graph, prune_dead_nodes
from tensorbridge.runtime import Session


def test_dead_chain_and_unused_initializers():
    m = build(
        [helper.make_node("Relu", ["x"], ["y"]),
         helper.make_node("Mul", ["x", "w_dead"], ["d1"]),
         helper.make_node("Exp", ["d1"], ["d2"])],
        [vi("x", [2, 3])], [vi("y", [2, 3])],
        [init("w_dead", np.ones((2, 3), np.float32)), init("w_unused", np.ones(3, np.float32))],
    )  # fmt: skip
    out = check_pass(prune_dead_nodes, m, ["Relu", "Mul", "Exp"], ["Relu"])
    assert out.graph.initializers == {}


def test_unused_input_of_kept_signature_stays():
    m = build(
        [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["u"], ["dead"])],
        [vi("x", [2]), vi("u", [2])], [vi("y", [2])],
    )  # fmt: skip
    out = check_pass(prune_dead_nodes, m, ["Relu", "Neg"], ["Relu"])
    assert [v.name for v in out.graph.inputs] == ["x", "u"]


def two_signature_model() -> ir.Model:
    m = build(
        [helper.make_node("Relu", ["x"], ["y1"]),
         helper.make_node("Add", ["x", "z"], ["s"]),
         helper.make_node("Mul", ["s", "w"], ["y2"])],
        [vi("x", [2]), vi("z", [2])], [vi("y1", [2]), vi("y2", [2])],
        [init("w", np.full(2, 3, np.float32))],
    )  # fmt: skip
    g = m.graph
    x, z = g.inputs
    y1, y2 = g.outputs
    m.main.signatures = {
        "serving_default": ir.Signature("serving_default", {"x": x}, {"y1": y1}),
        "other": ir.Signature("other", {"x": x, "z": z}, {"y2": y2}),
    }
    return m


def test_keep_signatures_drops_the_others_and_what_only_they_need():
    m = two_signature_model()
    feeds = {"x": np.array([-1, 2], np.float32), "z": np.array([5, 6], np.float32)}
    want = Session(m).run(feeds)
    ctx = PassContext(verify_each=True, keep_signatures=["serving_default"])
    out = check_pass(prune_dead_nodes, m, ["Relu", "Add", "Mul"], ["Relu"], ctx, numerics=False)
    assert list(out.main.signatures) == ["serving_default"]
    assert [v.name for v in out.graph.outputs] == ["y1"]
    assert [v.name for v in out.graph.inputs] == ["x"]
    assert out.graph.initializers == {}
    got = Session(out).run({"x": feeds["x"]})
    np.testing.assert_array_equal(got["y1"], want["y1"])


def test_without_keep_signatures_both_signatures_stay():
    m = two_signature_model()
    assert prune_dead_nodes(m).changed is False
    assert ops(m) == ["Relu", "Add", "Mul"]


def test_keep_unknown_signature_is_a_usage_error():
    with pytest.raises(UsageError, match="no signature 'nope'.*serving_default"):
        prune_dead_nodes(two_signature_model(), PassContext(keep_signatures=["nope"]))


def if_model() -> ir.Model:
    then_g = helper.make_graph(
        [helper.make_node("Add", ["r", "x"], ["t"]),
         helper.make_node("Mul", ["n", "w"], ["t_dead"])],  # dead, captures n and w
        "then", [], [vi("t", [3])],
    )  # fmt: skip
    else_g = helper.make_graph([helper.make_node("Neg", ["r"], ["e"])], "else", [], [vi("e", [3])])
    return build(
        [helper.make_node("Relu", ["x"], ["r"]),
         helper.make_node("Neg", ["x"], ["n"]),          # only the dead body node reads it
         helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
         helper.make_node("Greater", ["s", "zero"], ["c"]),
         helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
        [vi("x", [3])], [vi("y", [3])],
        [init("zero", np.float32(0)), init("w", np.ones(3, np.float32))],
    )  # fmt: skip


def test_dead_nodes_inside_a_body_go_and_their_captures_with_them():
    m = if_model()
    out = check_pass(prune_dead_nodes, m, ["Relu", "Neg", "ReduceSum", "Greater", "If"],
                     ["Relu", "ReduceSum", "Greater", "If"])  # fmt: skip
    if_node = list(out.graph)[-1]
    assert ops(if_node.attr("then_branch")) == ["Add"]
    assert sorted(out.graph.initializers) == ["zero"]
    # the live capture r keeps its producer
    assert if_node.attr("then_branch").outputs[0].producer().inputs[0].producer().op_type == "Relu"


def test_a_dead_if_releases_the_values_its_body_captures():
    then_g = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["t"])], "then", [],
                               [vi("t", [3])])  # fmt: skip
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [vi("e", [3])])
    m = build(
        [helper.make_node("Relu", ["x"], ["y"]),
         helper.make_node("If", ["c"], ["dead"], then_branch=then_g, else_branch=else_g)],
        [vi("x", [3]), vi("c", [], elem=9)], [vi("y", [3])], [init("w", np.ones(3, np.float32))],
    )  # fmt: skip
    out = check_pass(prune_dead_nodes, m, ["Relu", "If"], ["Relu"])
    assert out.graph.initializers == {}
    assert not out.graph.inputs[0].uses()[1:]  # x: only Relu uses it, no stale body uses


def test_unused_variables_and_functions_go():
    square = helper.make_function(
        "local", "Square", ["a"], ["b"], [helper.make_node("Mul", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 21)],
    )  # fmt: skip
    cube = helper.make_function(
        "local", "Cube", ["a"], ["b"],
        [helper.make_node("Square", ["a"], ["s"], domain="local"),
         helper.make_node("Mul", ["s", "a"], ["b"])],
        [helper.make_opsetid("", 21), helper.make_opsetid("local", 1)],
    )  # fmt: skip
    unused = helper.make_function(
        "local", "Unused", ["a"], ["b"], [helper.make_node("Neg", ["a"], ["b"])],
        [helper.make_opsetid("", 21)],
    )  # fmt: skip
    m = build(
        [helper.make_node("Cube", ["x"], ["y"], domain="local"),
         helper.make_node("Unused", ["x"], ["dead"], domain="local")],
        [vi("x", [2], F)], [vi("y", [2], F)], functions=[square, cube, unused],
    )  # fmt: skip
    live_var = ir.Variable("live", ir.ArrayTensor(np.ones(1, np.float32)))
    m.variables["live"] = live_var
    m.variables["orphan"] = ir.Variable("orphan", ir.ArrayTensor(np.ones(1, np.float32)))
    m.graph.add_initializer(ir.Value("live_read", variable=live_var))
    add = m.graph.append(ir.Node("Add", [m.graph.inputs[0], m.graph.initializers["live_read"]]))
    add.outputs[0].type = ir.TensorType(ir.DType.FLOAT, (2,))
    m.graph.add_output(add.outputs[0])
    m.main.signature().outputs["live"] = add.outputs[0]
    result = prune_dead_nodes(m, PassContext(verify_each=True))
    assert result.changed and result.stats["functions"] == 1 and result.stats["variables"] == 1
    assert sorted(f.name for f in m.main.functions.values()) == ["Cube", "Square"]
    assert list(m.variables) == ["live"]
    assert ops(m) == ["Cube", "Add"]
    ir.verify(m)
    assert prune_dead_nodes(m).changed is False


def test_functions_numerics_after_prune():
    square = helper.make_function(
        "local", "Square", ["a"], ["b"], [helper.make_node("Mul", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 21)],
    )  # fmt: skip
    m = build(
        [helper.make_node("Square", ["x"], ["y"], domain="local"),
         helper.make_node("Square", ["y"], ["dead"], domain="local")],
        [vi("x", [2])], [vi("y", [2])], functions=[square],
    )  # fmt: skip
    out = check_pass(prune_dead_nodes, m, ["Square", "Square"], ["Square"])
    assert len(out.main.functions) == 1
    np.testing.assert_array_equal(run(out)["y"], run(m)["y"])


def test_effectful_ops_are_kept():
    m = build(
        [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["side"])],
        [vi("x", [2])], [vi("y", [2])],
    )  # fmt: skip
    ctx = PassContext(verify_each=True, effectful_ops=frozenset({("", "Neg")}))
    assert prune_dead_nodes(m, ctx).changed is False
    assert ops(m) == ["Relu", "Neg"]


def test_keep_signatures_drops_meta_graphs_left_without_signatures():
    m = two_signature_model()
    other = clone_graph(m.graph)
    y1 = other.outputs[0]
    other.clear_outputs()
    other.add_output(y1)
    sig = ir.Signature("train", {"x": other.inputs[0]}, {"y": other.outputs[0]})
    m.meta_graphs.append(ir.MetaGraph(other, frozenset({"train"}), {"train": sig}))
    result = prune_dead_nodes(m, PassContext(verify_each=True, keep_signatures=["train"]))
    assert result.stats["meta_graphs"] == 1 and result.stats["signatures"] == 2
    assert [sorted(mg.tags) for mg in m.meta_graphs] == [["train"]]
    assert ops(m) == ["Relu"]
    ir.verify(m)
    again = prune_dead_nodes(m, PassContext(keep_signatures=["train"]))
    assert again.changed is False


def _asset_model() -> ir.Model:
    m = two_signature_model()
    g = m.graph
    path = g.add_initializer(ir.Value("vocab_path", const=ir.as_tensor(
        np.array(b"vocab.txt", dtype=object), ir.DType.STRING)))
    path.meta[ir.ASSET_META] = "vocab.txt"
    node = ir.Node("Identity", [path], name="read_path")
    g.append(node)
    g.add_output(node.outputs[0])
    m.main.signatures["other"].outputs["path"] = node.outputs[0]
    m.assets = {"vocab.txt": ir.Asset("vocab.txt", data=b"a\nb\n"),
                "unbound.txt": ir.Asset("unbound.txt", data=b"x\n")}
    return m


def test_assets_no_kept_initializer_binds_go():
    out = prune_dead_nodes(_asset_model(), PassContext()).model
    assert sorted(out.assets) == ["vocab.txt"]  # bound by a kept signature's value
    ctx = PassContext(keep_signatures=["serving_default"])
    result = prune_dead_nodes(_asset_model(), ctx)
    assert result.model.assets == {} and result.stats["assets"] == 2
