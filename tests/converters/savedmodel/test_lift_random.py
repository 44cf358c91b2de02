"""Random ops lifted to TF's generators (lift/random.py): TF's values, never numpy's, so these
check ranges, moments, shapes, dtypes, seeding and the edge probabilities, not values."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper as oh

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import run_onnx_in_tf  # noqa: E402

import tensorbridge as tb  # noqa: E402

pytestmark = pytest.mark.tf
tf = pytest.importorskip("tensorflow")


def _model(nodes, inputs, outputs, opset=22):
    g = oh.make_graph(nodes, "random", inputs, outputs)
    return oh.make_model(g, opset_imports=[oh.make_opsetid("", opset)], ir_version=10)


def _vi(name, elem, shape):
    return oh.make_tensor_value_info(name, elem, shape)


def test_seeded_uniform_and_normal_are_deterministic_with_the_asked_moments():
    nodes = [oh.make_node("RandomUniform", [], ["u"], shape=[20000], low=-2.0, high=3.0, seed=5.0),
             oh.make_node("RandomNormal", [], ["n"], shape=[20000], mean=1.0, scale=2.0, seed=7.0,
                          dtype=TP.DOUBLE)]
    m = _model(nodes, [], [_vi("u", TP.FLOAT, [20000]), _vi("n", TP.DOUBLE, [20000])])
    u, n = run_onnx_in_tf(m, [])
    assert u.dtype == np.float32 and n.dtype == np.float64 and u.shape == n.shape == (20000,)
    assert u.min() >= -2.0 and u.max() < 3.0 and abs(u.mean() - 0.5) < 0.05
    assert abs(n.mean() - 1.0) < 0.05 and abs(n.std() - 2.0) < 0.05
    u2, n2 = run_onnx_in_tf(m, [])  # a new graph and session: the same seeded values
    np.testing.assert_array_equal(u, u2)
    np.testing.assert_array_equal(n, n2)


def test_like_forms_take_shape_and_dtype_of_their_input_and_unseeded_draws_differ():
    nodes = [oh.make_node("RandomUniformLike", ["x"], ["u"]),
             oh.make_node("RandomNormalLike", ["x"], ["n"], dtype=TP.FLOAT)]
    m = _model(nodes, [_vi("x", TP.DOUBLE, ["a", 4])],
               [_vi("u", TP.DOUBLE, ["a", 4]), _vi("n", TP.FLOAT, ["a", 4])])
    x = np.zeros((3, 4))
    u, n = run_onnx_in_tf(m, [x])
    assert u.dtype == np.float64 and n.dtype == np.float32 and u.shape == n.shape == (3, 4)
    assert ((0 <= u) & (u < 1)).all()
    again, _ = run_onnx_in_tf(m, [x])
    assert not np.array_equal(u, again)  # no seed: a fresh draw (12 doubles never repeat)


def test_bernoulli_edges_mean_and_dtype():
    m = _model([oh.make_node("Bernoulli", ["p"], ["y"], dtype=TP.INT64, seed=1.0)],
               [_vi("p", TP.FLOAT, [3, 10000])], [_vi("y", TP.INT64, [3, 10000])])
    p = np.stack([np.zeros(10000), np.ones(10000), np.full(10000, 0.3)]).astype(np.float32)
    (y,) = run_onnx_in_tf(m, [p])
    assert y.dtype == np.int64
    assert not y[0].any() and y[1].all() and abs(y[2].mean() - 0.3) < 0.02
    assert set(np.unique(y)) <= {0, 1}


def test_multinomial_samples_the_dominant_class():
    m = _model([oh.make_node("Multinomial", ["logits"], ["s"], sample_size=6, dtype=TP.INT64, seed=3.0)],
               [_vi("logits", TP.FLOAT, [2, 3])], [_vi("s", TP.INT64, [2, 6])])
    logits = np.array([[30.0, -30.0, -30.0], [-30.0, -30.0, 30.0]], np.float32)
    (s,) = run_onnx_in_tf(m, [logits])
    assert s.dtype == np.int64 and s.shape == (2, 6)
    np.testing.assert_array_equal(s, [[0] * 6, [2] * 6])


def test_savedmodel_round_trip(tmp_path):
    """Written as a SavedModel (TF2 form: the random ops are known to the function writer),
    loaded with tf.saved_model.load."""
    nodes = [oh.make_node("RandomUniformLike", ["x"], ["u"], seed=11.0),
             oh.make_node("Add", ["x", "u"], ["y"])]
    src = tmp_path / "random.onnx"
    src.write_bytes(_model(nodes, [_vi("x", TP.FLOAT, ["n", 3])], [_vi("y", TP.FLOAT, ["n", 3])])
                    .SerializeToString())
    tb.convert(src, tmp_path / "sm")
    assert "StatefulPartitionedCall" in (tmp_path / "sm" / "saved_model.pb").read_bytes().decode("latin-1")
    fn = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    x = np.full((5, 3), 10.0, np.float32)
    y = fn(x=tf.constant(x))["y"].numpy()
    assert y.shape == (5, 3) and ((10 <= y) & (y < 11)).all()


def test_random_op_in_a_control_flow_body_is_refused():
    then = oh.make_graph([oh.make_node("RandomUniform", [], ["r"], shape=[2])], "then", [],
                         [_vi("r", TP.FLOAT, [2])])
    other = oh.make_graph([oh.make_node("Constant", [], ["z"], value_floats=[0.0, 0.0])], "else", [],
                          [_vi("z", TP.FLOAT, [2])])
    m = _model([oh.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
               [_vi("c", TP.BOOL, [])], [_vi("y", TP.FLOAT, [2])])
    with pytest.raises(tb.errors.UnsupportedOpError, match="random op inside a control-flow body"):
        run_onnx_in_tf(m, [np.array(True)])
