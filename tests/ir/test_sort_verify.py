"""verify() catches broken invariants; sort() is a stable topological sort."""

import numpy as np
import pytest

from tensorbridge import ir
from tensorbridge.errors import IRInvariantError

F = ir.TensorType(ir.DType.FLOAT, (4,))


def model_with(nodes_fn):
    g = ir.Graph("g")
    x = g.add_input(ir.Value("x", F))
    out = nodes_fn(g, x)
    g.add_output(out)
    return ir.single_graph_model(g)


def test_verify_accepts_a_good_model():
    m = model_with(lambda g, x: ir.Builder(g).op("Relu", [x]))
    ir.verify(m)


def test_dangling_use_is_named():
    stray = ir.Value("ghost", F)
    m = model_with(lambda g, x: ir.Builder(g).op("Add", [x, stray], name="add"))
    with pytest.raises(IRInvariantError, match="Add 'add' input 1 'ghost' is never defined"):
        ir.verify(m)


def test_out_of_order_is_reported_and_sort_fixes_it():
    g = ir.Graph("g")
    x = g.add_input(ir.Value("x", F))
    a = ir.Node("Relu", [x], name="a")
    b = ir.Node("Neg", [a.outputs[0]], name="b")
    c = ir.Node("Abs", [x], name="c")
    g.extend([b, c, a])
    g.add_output(b.outputs[0])
    with pytest.raises(IRInvariantError, match="used before it is defined"):
        ir.verify(g)
    g.sort()
    assert [n.name for n in g] == ["c", "a", "b"]  # stable: c keeps its place before a
    ir.verify(g)


def test_cycle_is_reported_with_its_path():
    g = ir.Graph("g")
    x = g.add_input(ir.Value("x", F))
    a = ir.Node("Add", [x, None], name="a")
    b = ir.Node("Relu", [a.outputs[0]], name="b")
    a.set_input(1, b.outputs[0])
    g.extend([a, b])
    g.add_output(b.outputs[0])
    with pytest.raises(IRInvariantError, match="cycle.*'a'.*'b'"):
        ir.verify(g)
    with pytest.raises(IRInvariantError, match="cycle"):
        g.sort()


def test_duplicate_names_are_made_unique_on_insert():
    g = ir.Graph("g")
    x = g.add_input(ir.Value("x", F))
    b = ir.Builder(g)
    y1 = b.op("Relu", [x], name="n")
    y2 = b.op("Relu", [y1], name="n")
    assert y1.producer().name == "n" and y2.producer().name == "n_1"
    assert y1.name != y2.name
    g.add_output(y2)
    ir.verify(g)


def test_duplicate_names_made_by_hand_are_caught():
    m = model_with(lambda g, x: ir.Builder(g).op("Relu", [x]))
    node = next(iter(m.graph))
    node.name = "dup"
    ir.Builder(m.graph).node("Abs", [x := m.graph.inputs[0]], name="other").name = "dup"
    with pytest.raises(IRInvariantError, match="duplicate node name 'dup'"):
        ir.verify(m)
    assert x is m.graph.inputs[0]


def test_unknown_domain_and_wrong_canonical_opset():
    m = model_with(lambda g, x: ir.Builder(g).op("Foo", [x], domain="com.acme"))
    with pytest.raises(IRInvariantError, match="domain 'com.acme'"):
        ir.verify(m)
    m.main.opset_imports["com.acme"] = 1
    ir.verify(m)
    m.main.opset_imports[""] = 13
    with pytest.raises(IRInvariantError, match="canonical opset is 26"):
        ir.verify(m)


def test_stale_use_from_a_removed_node_is_caught():
    g = ir.Graph("g")
    x = g.add_input(ir.Value("x", F))
    y = ir.Builder(g).op("Relu", [x])
    g.add_output(y)
    ghost = ir.Node("Neg", [y])  # never inserted: a use from outside any graph
    with pytest.raises(IRInvariantError, match="stale use"):
        ir.verify(g)
    ghost.detach_inputs()
    ir.verify(g)


def test_initializer_needs_data():
    g = ir.Graph("g")
    with pytest.raises(IRInvariantError, match="neither a tensor nor a variable"):
        g.add_initializer(ir.Value("w", F))
    w = g.add_initializer(ir.Value("w", const=ir.ArrayTensor(np.ones(4, np.float32))))
    assert w.type == F and w.is_initializer


def test_meta_graph_selection_lists_tag_sets():
    a = ir.MetaGraph(ir.Graph("a"), tags=frozenset({"serve"}))
    b = ir.MetaGraph(ir.Graph("b"), tags=frozenset({"serve", "gpu"}))
    m = ir.Model([a, b])
    assert m.meta_graph() is a
    assert m.meta_graph(frozenset({"gpu", "serve"})) is b
    with pytest.raises(Exception, match=r"tag sets present: \{serve\}, \{gpu,serve\}"):
        m.meta_graph(frozenset({"train"}))


def test_explicit_name_wins_over_a_made_up_one():
    g = ir.Graph("g")
    x = g.add_input(ir.Value("x", F))
    auto = ir.Builder(g).op("Relu", [x], name="r")  # made-up name "r_out0"
    real = ir.Value("r_out0")
    node = ir.Node("Neg", [auto], name="n", outputs=[real])
    g.append(node)
    assert real.name == "r_out0" and auto.name == "r_out0_1"
    g.add_output(real)
    ir.verify(g)
