"""cse: identical nodes and constants merge; contract names, randomness and big lazy tensors
are respected."""

from __future__ import annotations

import numpy as np
from onnx import helper
from passes_helpers import build, check_pass, init, ops, vi

from tensorbridge import ir
from tensorbridge.passes import PassContext, cse


def test_duplicate_nodes_and_constants_merge():
    m = build(
        [helper.make_node("Relu", ["x"], ["a1"]),
         helper.make_node("Relu", ["x"], ["a2"]),
         helper.make_node("Mul", ["a1", "c1"], ["b1"]),
         helper.make_node("Mul", ["a2", "c2"], ["b2"]),
         helper.make_node("Add", ["b1", "b2"], ["y"])],
        [vi("x", [2, 3])], [vi("y", [2, 3])],
        [init("c1", np.arange(3, dtype=np.float32)), init("c2", np.arange(3, dtype=np.float32)),
         init("c3", np.arange(3, dtype=np.int64))],
    )  # fmt: skip
    out = check_pass(cse, m, ["Relu", "Relu", "Mul", "Mul", "Add"], ["Relu", "Mul", "Add"])
    assert sorted(out.graph.initializers) == ["c1", "c3"]  # same bytes, other dtype: kept
    add = list(out.graph)[-1]
    assert add.inputs[0] is add.inputs[1]


def test_different_attributes_do_not_merge_equal_tensor_attributes_do():
    t = helper.make_tensor("t", 1, [2], [1.0, 2.0])
    t_same = helper.make_tensor("other_name", 1, [2], [1.0, 2.0])
    m = build(
        [helper.make_node("Constant", [], ["k1"], value=t),
         helper.make_node("Constant", [], ["k2"], value=t_same),
         helper.make_node("Transpose", ["x"], ["p"], perm=[1, 0]),
         helper.make_node("Transpose", ["x"], ["q"], perm=[0, 1]),
         helper.make_node("Add", ["p", "k1"], ["s1"]),
         helper.make_node("Add", ["q", "k2"], ["s2"]),
         helper.make_node("Add", ["s1", "s2"], ["y"])],
        [vi("x", [2, 2])], [vi("y", [2, 2])],
    )  # fmt: skip
    before = ["Constant", "Constant", "Transpose", "Transpose", "Add", "Add", "Add"]
    check_pass(cse, m, before, ["Constant", "Transpose", "Transpose", "Add", "Add", "Add"])


def test_two_graph_outputs_stay_distinct():
    m = build(
        [helper.make_node("Relu", ["x"], ["y1"]), helper.make_node("Relu", ["x"], ["y2"])],
        [vi("x", [2])], [vi("y1", [2]), vi("y2", [2])],
    )  # fmt: skip
    assert cse(m).changed is False
    assert ops(m) == ["Relu", "Relu"]


def test_graph_output_name_survives_the_merge():
    m = build(
        [helper.make_node("Relu", ["x"], ["a"]),
         helper.make_node("Neg", ["a"], ["y1"]),
         helper.make_node("Relu", ["x"], ["y2"])],
        [vi("x", [2])], [vi("y1", [2]), vi("y2", [2])],
    )  # fmt: skip
    out = check_pass(cse, m, ["Relu", "Neg", "Relu"], ["Relu", "Neg"])
    relu, neg = list(out.graph)
    assert relu.outputs[0].name == "y2" and neg.inputs[0] is relu.outputs[0]
    assert [v.name for v in out.graph.outputs] == ["y1", "y2"]
    assert out.main.signature().outputs["y2"] is relu.outputs[0]


def test_random_ops_never_merge():
    m = build(
        [helper.make_node("RandomNormal", [], ["r1"], shape=[2], seed=1.0),
         helper.make_node("RandomNormal", [], ["r2"], shape=[2], seed=1.0),
         helper.make_node("Add", ["r1", "r2"], ["s"]),
         helper.make_node("Add", ["x", "s"], ["y"])],
        [vi("x", [2])], [vi("y", [2])],
    )  # fmt: skip
    assert cse(m).changed is False


def test_big_lazy_constants_are_not_read(tmp_path, monkeypatch):
    data = np.arange(64, dtype=np.float32)
    (tmp_path / "a.bin").write_bytes(data.tobytes())
    (tmp_path / "b.bin").write_bytes(data.tobytes())

    def ext(file: str) -> ir.ExternalTensor:
        return ir.ExternalTensor(tmp_path / file, 0, data.nbytes, ir.DType.FLOAT, (64,))

    g = ir.Graph("g")
    x = g.add_input(ir.Value("x", ir.TensorType(ir.DType.FLOAT, (64,))))
    consts = [g.add_initializer(ir.Value(n, const=ext(f)))
              for n, f in [("a", "a.bin"), ("a_again", "a.bin"), ("b", "b.bin")]]  # fmt: skip
    y = x
    for c in consts:
        y = g.append(ir.Node("Add", [y, c])).outputs[0]
    g.add_output(y)
    m = ir.single_graph_model(g)

    def refuse(self):
        raise AssertionError("cse read a big lazy tensor")

    monkeypatch.setattr(ir.ExternalTensor, "numpy", refuse)
    monkeypatch.setattr(ir.ExternalTensor, "raw_bytes", refuse)
    result = cse(m, PassContext(verify_each=True, cse_const_size_limit=16))
    assert result.stats == {"constants": 1}  # same file region: merged without reading
    assert sorted(g.initializers) == ["a", "b"]  # same bytes, other file, over the limit: kept
    ir.verify(m)
    assert cse(m, PassContext(cse_const_size_limit=16)).changed is False


def test_cse_inside_subgraphs():
    body = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["n1"]), helper.make_node("Neg", ["x"], ["n2"]),
         helper.make_node("Add", ["n1", "n2"], ["t"])],
        "then", [], [vi("t", [3])],
    )  # fmt: skip
    other = helper.make_graph([helper.make_node("Relu", ["x"], ["e"])], "else", [], [vi("e", [3])])
    m = build(
        [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
         helper.make_node("Less", ["s", "zero"], ["c"]),
         helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=other)],
        [vi("x", [3])], [vi("y", [3])], [init("zero", np.float32(0))],
    )  # fmt: skip
    out = check_pass(cse, m, ["ReduceSum", "Less", "If"], ["ReduceSum", "Less", "If"])
    assert ops(list(out.graph)[-1].attr("then_branch")) == ["Neg", "Add"]
