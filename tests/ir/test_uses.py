"""Use-def links are kept exact by the IR on every edit."""

import numpy as np
import pytest

from tensorbridge import ir
from tensorbridge.errors import IRInvariantError

F = ir.TensorType(ir.DType.FLOAT, (2, 3))


def chain():
    g = ir.Graph("g")
    x = g.add_input(ir.Value("x", F))
    b = ir.Builder(g)
    y = b.op("Relu", [x], name="relu")
    z = b.op("Mul", [y, y], name="mul")  # the same value twice: two distinct uses
    g.add_output(z)
    return g, x, y, z


def test_uses_record_every_slot():
    g, x, y, z = chain()
    mul = z.producer()
    assert [(u.node.op_type, u.index) for u in y.uses()] == [("Mul", 0), ("Mul", 1)]
    assert y.consumers() == (mul,)
    assert x.uses()[0].node is y.producer()
    assert z.is_graph_output and not y.is_graph_output


def test_set_input_moves_the_use():
    g, x, y, z = chain()
    mul = z.producer()
    mul.set_input(1, x)
    assert [u.index for u in y.uses()] == [0]
    assert [(u.node, u.index) for u in x.uses()] == [(y.producer(), 0), (mul, 1)]
    ir.verify(g)


def test_inputs_are_read_only():
    g, x, y, z = chain()
    with pytest.raises(AttributeError, match="set_input"):
        z.producer().inputs = (x, x)


def test_replace_all_uses_keeps_graph_outputs_unless_asked():
    g, x, y, z = chain()
    w = ir.Builder(g).op("Neg", [x])
    z.replace_all_uses_with(w)  # z has no node uses: only the graph output refers to it
    assert g.outputs == (z,)
    z.replace_all_uses_with(w, include_graph_outputs=True)
    assert g.outputs == (w,) and not z.is_graph_output and w.is_graph_output
    assert w.uses() == ()
    g.remove([y.producer(), z.producer()])
    ir.verify(g)


def test_replace_all_uses_rewires_consumers():
    g, x, y, z = chain()
    y.replace_all_uses_with(x)
    assert y.uses() == ()
    assert len(x.uses()) == 3
    g.remove(y.producer())
    ir.verify(g)
    assert [n.op_type for n in g] == ["Mul"]


def test_remove_refuses_dangling_use_and_graph_output():
    g, x, y, z = chain()
    with pytest.raises(IRInvariantError, match="still used by Mul"):
        g.remove(y.producer())
    with pytest.raises(IRInvariantError, match="graph output"):
        g.remove(z.producer())
    g.remove([y.producer(), z.producer()], safe=False)
    assert len(g) == 0 and x.uses() == ()


def test_remove_batch_that_is_closed_is_allowed():
    g, x, y, z = chain()
    w = ir.Builder(g).op("Neg", [z])
    g.set_output(0, w)
    g.remove([y.producer(), z.producer(), w.producer()][:2] + [w.producer()], safe=False)
    assert len(g) == 0


def test_subgraph_captures_count_as_uses():
    g, x, y, z = chain()
    body = ir.Graph("then")
    inner = ir.Builder(body).op("Identity", [y])  # outer-scope reference
    body.add_output(inner)
    cond = ir.Builder(g).const(np.array(True), "cond")
    node = ir.Builder(g).node("If", [cond], then_branch=body, else_branch=_const_graph())
    g.add_output(node.outputs[0])
    assert inner.producer() in [u.node for u in y.uses()]
    assert body.owner is node
    ir.verify(g)


def _const_graph():
    sub = ir.Graph("else")
    sub.add_output(ir.Builder(sub).const(np.zeros((2, 3), np.float32), "zero"))
    return sub


def test_multi_output_nodes_index_their_outputs():
    g = ir.Graph("g")
    x = g.add_input(ir.Value("x", F))
    node = ir.Builder(g).node("Split", [x], num_outputs=3, axis=0)
    assert [v.index() for v in node.outputs] == [0, 1, 2]
    assert all(v.producer() is node for v in node.outputs)
    node.resize_outputs(2)
    assert len(node.outputs) == 2
    g.add_output(node.outputs[1])
    with pytest.raises(ValueError, match="used output"):
        node.resize_outputs(1)


def test_removing_a_node_releases_the_captures_of_its_bodies():
    g, x, y, z = chain()
    body = ir.Graph("then")
    body.add_output(ir.Builder(body).op("Neg", [y]))
    cond = ir.Builder(g).const(np.array(True), "cond")
    node = ir.Builder(g).node("If", [cond], then_branch=body, else_branch=_const_graph())
    assert len(y.uses()) == 3
    g.remove(node)
    assert [u.node.op_type for u in y.uses()] == ["Mul", "Mul"]
    ir.verify(g)


def test_builder_attrs_that_clash_with_its_parameters():
    g = ir.Graph("g")
    x = g.add_input(ir.Value("x", F))
    node = ir.Builder(g).node("Split", [x], num_outputs=2, attrs={"num_outputs": 2, "axis": 1})
    assert len(node.outputs) == 2 and node.attr("num_outputs") == 2 and node.attr("axis") == 1
