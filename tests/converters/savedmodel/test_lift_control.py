"""Control flow lifted to TF (lift/control.py): ONNX If, Loop and Scan built with onnx.helper,
converted by ``tensorbridge.convert`` to a SavedModel, loaded with ``tf.saved_model.load`` and
run through ``.signatures["serving_default"]``; compared with ONNX Runtime on the source model.
Covers what the conformance cases do not: outer-scope reads (captures), a dynamic trip count,
cond-only loops, zero iterations, Scan axes and directions, nested control flow, the TF1 form
and the frozen GraphDef harness, and the refusal of sequence-typed signature values."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as TP
from onnx import helper as oh

tf = pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.tf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import run_onnx_in_tf  # noqa: E402

import tensorbridge as tb  # noqa: E402
from tensorbridge import ir  # noqa: E402
from tensorbridge._stages import infer_types  # noqa: E402
from tensorbridge.converters.onnx import import_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.lift import lift_model  # noqa: E402
from tensorbridge.converters.savedmodel.writer import export_savedmodel  # noqa: E402
from tensorbridge.errors import UnsupportedOpError  # noqa: E402
from tensorbridge.passes import PassContext, shape_inference  # noqa: E402

F, I64, B = TP.FLOAT, TP.INT64, TP.BOOL


def vi(name: str, t: int, shape) -> onnx.ValueInfoProto:
    return oh.make_tensor_value_info(name, t, shape)


def model(nodes, inputs, outputs, inits=()) -> onnx.ModelProto:
    g = oh.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def ort_run(m: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def tf_run(tmp_path: Path, m: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    src, out = tmp_path / "m.onnx", tmp_path / "sm"
    onnx.save(m, src)
    tb.convert(src, out)
    fn = tf.saved_model.load(str(out)).signatures["serving_default"]
    res = fn(**{k: tf.constant(v) for k, v in feeds.items()})
    return [res[o.name].numpy() for o in m.graph.output]


def check(tmp_path: Path, m: onnx.ModelProto, feeds: dict) -> None:
    expected = ort_run(m, feeds)
    for got, want in zip(tf_run(tmp_path, m, feeds), expected):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ---- models ------------------------------------------------------------------------------------
def if_model() -> onnx.ModelProto:
    """Both branches read the outer x (captures); the else branch also an outer initializer."""
    then = oh.make_graph([oh.make_node("Add", ["x", "x"], ["t"])], "then", [], [vi("t", F, [3])])
    other = oh.make_graph([oh.make_node("Mul", ["x", "w"], ["e"])], "else", [], [vi("e", F, [3])])
    node = oh.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    w = oh.make_tensor("w", F, [3], [1.5, -2.0, 3.0])
    return model([node], [vi("c", B, []), vi("x", F, [3])], [vi("y", F, [3])], [w])


def loop_body(cond_out: list, extra: list) -> onnx.GraphProto:
    """(i, cond, s) -> (cond, s + x * i, s): adds the outer x scaled by the iteration number."""
    nodes = [oh.make_node("Cast", ["i"], ["fi"], to=F), oh.make_node("Mul", ["x", "fi"], ["xi"]),
             oh.make_node("Add", ["s", "xi"], ["s2"]), oh.make_node("Identity", ["s"], ["scan"]),
             *cond_out, *extra]
    return oh.make_graph(nodes, "body", [vi("i", I64, []), vi("cin", B, []), vi("s", F, [2])],
                         [vi("cout", B, []), vi("s2", F, [2]), vi("scan", F, [2])])


def loop_trip_model() -> onnx.ModelProto:
    body = loop_body([oh.make_node("Identity", ["cin"], ["cout"])], [])
    node = oh.make_node("Loop", ["m", "", "s0"], ["s", "ys"], body=body)
    return model([node], [vi("m", I64, []), vi("s0", F, [2]), vi("x", F, [2])],
                 [vi("s", F, [2]), vi("ys", F, [None, 2])])


def loop_cond_model() -> onnx.ModelProto:
    """No trip count: runs while the sum stays under the outer limit."""
    cond = [oh.make_node("ReduceSum", ["s2"], ["tot"], keepdims=0),
            oh.make_node("Less", ["tot", "limit"], ["cout"])]
    body = loop_body(cond, [])
    node = oh.make_node("Loop", ["", "c0", "s0"], ["s", "ys"], body=body)
    return model([node], [vi("c0", B, []), vi("s0", F, [2]), vi("x", F, [2]), vi("limit", F, [])],
                 [vi("s", F, [2]), vi("ys", F, [None, 2])])


def scan_model(directions=(0, 1), out_axis=1, out_direction=1) -> onnx.ModelProto:
    """Two scan inputs (axis 0 and axis 1), one state, two scan outputs."""
    body = oh.make_graph(
        [oh.make_node("Add", ["acc", "a"], ["acc2"]), oh.make_node("Mul", ["acc2", "b"], ["p"]),
         oh.make_node("Add", ["p", "bias"], ["q"]), oh.make_node("Identity", ["acc2"], ["r"])],
        "scan_body", [vi("acc", F, [2]), vi("a", F, [2]), vi("b", F, [2])],
        [vi("acc2", F, [2]), vi("q", F, [2]), vi("r", F, [2])])
    node = oh.make_node("Scan", ["acc0", "xa", "xb"], ["acc", "qs", "rs"], body=body,
                        num_scan_inputs=2, scan_input_axes=[0, 1],
                        scan_input_directions=list(directions),
                        scan_output_axes=[out_axis, 0], scan_output_directions=[out_direction, 0])
    q_shape = [2, 4] if out_axis in (1, -1) else [4, 2]
    return model([node], [vi("acc0", F, [2]), vi("xa", F, [4, 2]), vi("xb", F, [2, 4]),
                          vi("bias", F, [2])],
                 [vi("acc", F, [2]), vi("qs", F, q_shape), vi("rs", F, [4, 2])])


def nested_model() -> onnx.ModelProto:
    """A Loop whose body holds an If; the If's branches read the loop's carried value and the
    main graph's x and k (two scopes up)."""
    then = oh.make_graph([oh.make_node("Add", ["s", "x"], ["t"])], "then", [], [vi("t", F, [2])])
    other = oh.make_graph([oh.make_node("Mul", ["s", "k"], ["e"])], "else", [], [vi("e", F, [2])])
    nodes = [oh.make_node("Identity", ["cin"], ["cout"]),
             oh.make_node("Mod", ["i", "two"], ["r"]), oh.make_node("Equal", ["r", "zero"], ["even"]),
             oh.make_node("If", ["even"], ["s2"], then_branch=then, else_branch=other),
             oh.make_node("Identity", ["s2"], ["scan"])]
    body = oh.make_graph(nodes, "body", [vi("i", I64, []), vi("cin", B, []), vi("s", F, [2])],
                         [vi("cout", B, []), vi("s2", F, [2]), vi("scan", F, [2])])
    inits = [oh.make_tensor("two", I64, [], [2]), oh.make_tensor("zero", I64, [], [0])]
    node = oh.make_node("Loop", ["m", "", "s0"], ["s", "ys"], body=body)
    return model([node], [vi("m", I64, []), vi("s0", F, [2]), vi("x", F, [2]), vi("k", F, [])],
                 [vi("s", F, [2]), vi("ys", F, [None, 2])], inits)


def seq_if_model() -> onnx.ModelProto:
    seq = oh.make_tensor_sequence_value_info
    then = oh.make_graph([oh.make_node("SequenceConstruct", ["x"], ["t"])], "then", [], [seq("t", F, [2])])
    other = oh.make_graph([oh.make_node("SequenceConstruct", ["x", "x"], ["e"])], "else", [],
                          [seq("e", F, [2])])
    node = oh.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    return model([node], [vi("c", B, []), vi("x", F, [2])], [seq("y", F, [2])])


# ---- tests -------------------------------------------------------------------------------------
RNG = np.random.default_rng(0)
X2 = np.array([0.5, -1.25], np.float32)


@pytest.mark.parametrize("c", [True, False])
def test_if_reads_outer_values(tmp_path, c):
    check(tmp_path, if_model(), {"c": np.array(c), "x": np.array([1.0, 2.0, -3.0], np.float32)})


@pytest.mark.parametrize("m", [0, 1, 5])
def test_loop_dynamic_trip_count(tmp_path, m):
    check(tmp_path, loop_trip_model(), {"m": np.array(m, np.int64), "s0": np.ones(2, np.float32),
                                        "x": X2})


@pytest.mark.parametrize("c0", [True, False])
def test_loop_cond_only(tmp_path, c0):
    check(tmp_path, loop_cond_model(), {"c0": np.array(c0), "s0": np.zeros(2, np.float32),
                                        "x": np.array([1.0, 2.0], np.float32),
                                        "limit": np.array(40.0, np.float32)})


@pytest.mark.parametrize(("directions", "out_axis", "out_direction"),
                         [((0, 0), 0, 0), ((0, 1), 1, 1), ((1, 0), -1, 0)])
def test_scan_axes_and_directions(tmp_path, directions, out_axis, out_direction):
    feeds = {"acc0": np.zeros(2, np.float32), "xa": RNG.standard_normal((4, 2), np.float32),
             "xb": RNG.standard_normal((2, 4), np.float32), "bias": np.ones(2, np.float32)}
    check(tmp_path, scan_model(directions, out_axis, out_direction), feeds)


def test_if_inside_loop(tmp_path):
    check(tmp_path, nested_model(), {"m": np.array(5, np.int64), "s0": np.ones(2, np.float32),
                                     "x": X2, "k": np.array(3.0, np.float32)})


def test_frozen_graph_def_and_tf1_form(tmp_path):
    """The frozen GraphDef (lift_harness) and the TF1 SavedModel form carry the library too."""
    m = nested_model()
    feeds = {"m": np.array(4, np.int64), "s0": np.ones(2, np.float32), "x": X2,
             "k": np.array(2.0, np.float32)}
    expected = ort_run(m, feeds)
    for got, want in zip(run_onnx_in_tf(m, list(feeds.values())), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5)
    ir_model = import_onnx(m)
    shape_inference(ir_model, PassContext())
    out = export_savedmodel(ir_model, tmp_path / "tf1", object_graph=False, infer=infer_types)
    fn = tf.saved_model.load(str(out)).signatures["serving_default"]
    res = fn(**{k: tf.constant(v) for k, v in feeds.items()})
    for o, want in zip(m.graph.output, expected):
        np.testing.assert_allclose(res[o.name].numpy(), want, rtol=1e-5)


def test_sequence_output_is_inexpressible(tmp_path):
    m = seq_if_model()
    onnx.save(m, tmp_path / "m.onnx")
    with pytest.raises(UnsupportedOpError, match="TensorFlow has no sequence-typed signature"):
        tb.convert(tmp_path / "m.onnx", tmp_path / "sm")
    assert not (tmp_path / "sm").exists()


def grow_model() -> onnx.ModelProto:
    """The carried value doubles in length each iteration; its body input and output declare
    no type (as ONNX's expanded Range does)."""
    nodes = [oh.make_node("Identity", ["cin"], ["cout"]), oh.make_node("Mul", ["s", "x"], ["sx"]),
             oh.make_node("Concat", ["s", "sx"], ["s2"], axis=0)]
    untyped = oh.make_value_info("s", onnx.TypeProto())
    body = oh.make_graph(nodes, "body", [vi("i", I64, []), vi("cin", B, []), untyped],
                         [vi("cout", B, []), oh.make_value_info("s2", onnx.TypeProto())])
    node = oh.make_node("Loop", ["m", "", "s0"], ["s"], body=body)
    return model([node, oh.make_node("ReduceSum", ["s"], ["total"], keepdims=0)],
                 [vi("m", I64, []), vi("s0", F, [1]), vi("x", F, [])],
                 [vi("s", F, [None]), vi("total", F, [])])


def test_loop_carried_value_changes_shape(tmp_path):
    check(tmp_path, grow_model(), {"m": np.array(3, np.int64), "s0": np.ones(1, np.float32),
                                   "x": np.array(2.0, np.float32)})


def test_if_with_one_element_cond():
    m = if_model()
    m.graph.input[0].type.tensor_type.shape.dim.add().dim_value = 1
    for c in (True, False):
        feeds = {"c": np.array([c]), "x": np.array([1.0, 2.0, -3.0], np.float32)}
        np.testing.assert_allclose(run_onnx_in_tf(m, list(feeds.values()))[0], ort_run(m, feeds)[0])


def test_unliftable_op_in_a_body_is_named():
    then = oh.make_graph([oh.make_node("Foo", ["x"], ["t"], domain="com.x")], "then", [],
                         [vi("t", F, [3])])
    other = oh.make_graph([oh.make_node("Neg", ["x"], ["e"])], "else", [], [vi("e", F, [3])])
    g = oh.make_graph([oh.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)], "g",
                      [vi("c", B, []), vi("x", F, [3])], [vi("y", F, [3])])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("com.x", 1)])
    with pytest.raises(UnsupportedOpError) as e:
        run_onnx_in_tf(m, [np.array(True), np.ones(3, np.float32)])
    assert ("com.x", "Foo") in e.value.missing


def test_body_outputs_its_inputs(tmp_path):
    """Body outputs that are the body's own inputs (cond, carried value) become function
    results naming an argument; the scan output copies an outer value."""
    body = oh.make_graph([oh.make_node("Identity", ["x"], ["xc"])], "body",
                         [vi("i", I64, []), vi("cin", B, []), vi("s", F, [2])],
                         [vi("cin", B, []), vi("s", F, [2]), vi("xc", F, [2])])
    node = oh.make_node("Loop", ["m", "", "s0"], ["s_out", "ys"], body=body)
    m = model([node], [vi("m", I64, []), vi("s0", F, [2]), vi("x", F, [2])],
              [vi("s_out", F, [2]), vi("ys", F, [None, 2])])
    check(tmp_path, m, {"m": np.array(3, np.int64), "s0": np.ones(2, np.float32), "x": X2})


@pytest.mark.parametrize("make", [if_model, loop_trip_model, scan_model, nested_model, grow_model])
def test_lifted_ir_keeps_its_invariants(make):
    """Closed bodies in GRAPH attributes of tf nodes: use-def, scopes and names still verify,
    also on a clone."""
    m = import_onnx(make())
    shape_inference(m, PassContext())
    lift_model(m, infer=infer_types)
    m.meta_graphs[0].opset_imports["tf"] = 1
    ir.verify(m)
    ir.verify(ir.clone_model(m))
    assert all(n.domain == "tf" for g in m.graph.subgraph_tree() for n in g)
