"""Lifting RMS/Lp/MeanVariance normalization, training-mode BatchNormalization and Dropout, the
preview training optimizers and FlexAttention to TF, beyond ONNX's conformance cases: other
axes, dtypes, dynamic shapes and attribute values, checked against onnxruntime or ONNX's
reference implementation (for the ops onnxruntime's CPU build lacks)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx import shape_inference as onnx_shape_inference

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import run_onnx_in_tf  # noqa: E402

from tensorbridge.converters.onnx import import_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.lift import lift_model  # noqa: E402
from tensorbridge.errors import UnsupportedOpError  # noqa: E402

pytestmark = pytest.mark.tf
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("tensorflow")

TRAINING = "ai.onnx.preview.training"
PREVIEW = "ai.onnx.preview"
RNG = np.random.default_rng(7)


def _model(op, inputs, consts=None, n_out=1, opset=23, domain="", shapes=None, **attrs):
    """One ``op`` node on graph inputs ``inputs`` (name -> array) and initializers ``consts``;
    ``shapes`` overrides a graph input's declared shape (None dims: dynamic, None: unknown rank)."""
    consts, shapes = consts or {}, shapes or {}
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, [*inputs, *consts], outs, domain=domain, **attrs)
    vis = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), shapes.get(k, v.shape))
           for k, v in inputs.items()]
    g = helper.make_graph([node], op, vis, [helper.make_empty_tensor_value_info(o) for o in outs],
                          [numpy_helper.from_array(v, k) for k, v in consts.items()])
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    m = helper.make_model(g, opset_imports=opsets, ir_version=10)
    return onnx_shape_inference.infer_shapes(m)


def _reference(m, inputs):
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(m).run(None, dict(inputs))


def _ort(m, inputs):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, dict(inputs))


def _compare(m, inputs, want, atol=1e-5, rtol=1e-5):
    got = run_onnx_in_tf(m, list(inputs.values()))
    assert len(got) == len(want)
    for w, g in zip(want, got):
        w = np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), atol=atol, rtol=rtol)


def _refusal(m) -> str:
    with pytest.raises(UnsupportedOpError) as e:
        lift_model(import_onnx(m))
    return str(e.value)


def _f(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# ---- RMSNormalization ------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [-2, 1])
@pytest.mark.parametrize("dtype,atol", [(np.float32, 1e-5), (np.float16, 2e-3)])
def test_rms_norm_axis_dtype(axis, dtype, atol):
    inputs = {"x": _f(2, 3, 4, dtype=dtype), "s": _f(3, 4, dtype=dtype)}
    m = _model("RMSNormalization", inputs, axis=axis, epsilon=1e-3)
    _compare(m, inputs, _ort(m, inputs), atol=atol, rtol=1e-3)


def test_rms_norm_unknown_rank_and_double_stash():
    """An input of unknown rank reduces over Range(axis + Rank(x), Rank(x)); stash_type double."""
    inputs = {"x": _f(2, 3, 5), "s": _f(5)}
    m = _model("RMSNormalization", inputs, shapes={"x": None}, axis=-1, stash_type=TensorProto.DOUBLE)
    x = inputs["x"].astype(np.float64)
    want = (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + np.float32(1e-5))).astype(np.float32)
    _compare(m, inputs, [want * inputs["s"]])


# ---- LpNormalization ---------------------------------------------------------------------------
@pytest.mark.parametrize("p,axis", [(1, -1), (1, 0), (2, 1)])
def test_lp_norm_dynamic_shape(p, axis):
    x = _f(3, 4, 5)
    x[1, 2, :] = 0  # an all-zero slice on the last axis gives 0, not NaN
    inputs = {"x": x}
    m = _model("LpNormalization", inputs, opset=22, shapes={"x": [None, None, 5]}, p=p, axis=axis)
    _compare(m, inputs, _ort(m, inputs))


def test_lp_norm_fp16():
    inputs = {"x": _f(2, 6, dtype=np.float16)}
    m = _model("LpNormalization", inputs, opset=22, p=1)
    _compare(m, inputs, _ort(m, inputs), atol=1e-3, rtol=1e-3)


def test_lp_norm_refuses_p3():
    m = _model("LpNormalization", {"x": _f(2, 3)}, opset=22, p=2)
    m.graph.node[0].attribute[0].i = 3
    assert "p=3" in _refusal(m)


# ---- MeanVarianceNormalization -----------------------------------------------------------------
@pytest.mark.parametrize("axes", [[1], [0, 1, 2], [-1]])
def test_mvn_axes(axes):
    inputs = {"x": _f(2, 3, 4) * 3 + 1}
    m = _model("MeanVarianceNormalization", inputs, opset=13, axes=axes)
    _compare(m, inputs, _ort(m, inputs), atol=1e-4, rtol=1e-4)


# ---- training-mode BatchNormalization --------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 2, 2, 2)])
def test_batch_norm_training_ranks(shape):
    inputs = {"x": _f(*shape), "s": _f(3), "b": _f(3), "mean": _f(3), "var": np.abs(_f(3))}
    m = _model("BatchNormalization", inputs, n_out=3, opset=15, training_mode=1, momentum=0.7, epsilon=1e-3)
    _compare(m, inputs, _reference(m, inputs), atol=1e-5, rtol=1e-4)


def test_batch_norm_training_constant_params_and_y_only():
    inputs = {"x": _f(2, 3, 4)}
    consts = {"s": _f(3), "b": _f(3), "mean": _f(3), "var": np.abs(_f(3))}
    m = _model("BatchNormalization", inputs, consts, n_out=1, opset=15, training_mode=1)
    _compare(m, inputs, _reference(m, {**inputs, **consts})[:1], rtol=1e-4)


def test_batch_norm_training_fp16_double_stats():
    """T = float16, running statistics T2 = double: computed in float32, outputs in their types."""
    inputs = {"x": _f(4, 3, 5, dtype=np.float16), "s": _f(3, dtype=np.float16), "b": _f(3, dtype=np.float16),
              "mean": _f(3, dtype=np.float64), "var": np.abs(_f(3, dtype=np.float64))}
    m = _model("BatchNormalization", inputs, n_out=3, opset=15, training_mode=1)
    x = inputs["x"].astype(np.float32)
    bm, bv = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    y = (x - bm[:, None]) / np.sqrt(bv[:, None] + np.float32(1e-5)) * inputs["s"].astype(np.float32)[:, None]
    y = y + inputs["b"].astype(np.float32)[:, None]
    want = [y.astype(np.float16), inputs["mean"] * 0.9 + bm * 0.1, inputs["var"] * 0.9 + bv * 0.1]
    _compare(m, inputs, want, atol=2e-3, rtol=2e-3)


# ---- Dropout ---------------------------------------------------------------------------------
def test_dropout_constant_zero_ratio_runtime_training():
    """A constant ratio of 0 is the identity (all-true mask) whatever training_mode is fed."""
    inputs = {"x": _f(3, 4), "t": np.asarray(True)}
    m = _model("Dropout", {"x": inputs["x"]}, {"r": np.asarray(0.0, np.float32)}, n_out=2, opset=22)
    node = m.graph.node[0]
    node.input.append("t")
    m.graph.input.append(helper.make_tensor_value_info("t", TensorProto.BOOL, []))
    for fed in (True, False):
        feeds = {"x": inputs["x"], "t": np.asarray(fed)}
        _compare(m, feeds, [inputs["x"], np.ones((3, 4), bool)])


def test_dropout_constant_training_true_zero_ratio():
    inputs = {"x": _f(3, 4)}
    consts = {"r": np.asarray(0.0, np.float32), "t": np.asarray(True)}
    m = _model("Dropout", inputs, consts, n_out=2, opset=22)
    _compare(m, inputs, [inputs["x"], np.ones((3, 4), bool)])


@pytest.mark.parametrize("runtime", [False, True])
def test_dropout_random_mask_is_inexpressible(runtime):
    """A mask that may be random is refused with a 'TensorFlow has no' reason; a runtime
    training_mode additionally tells the user how to convert for inference."""
    inputs = {"x": _f(3, 4), "t": np.asarray(True)} if runtime else {"x": _f(3, 4)}
    consts = {"r": np.asarray(0.5, np.float32)} if runtime else {"r": np.asarray(0.5, np.float32),
                                                                   "t": np.asarray(True)}
    m = _model("Dropout", inputs, consts, opset=22)
    if runtime:  # inputs are x, t; the node wants x, r, t
        node = m.graph.node[0]
        del node.input[:]
        node.input.extend(["x", "r", "t"])
    why = _refusal(m)
    assert "TensorFlow has no way to reproduce ONNX's random dropout mask" in why
    assert ("runtime input" in why) == runtime


# ---- ai.onnx.preview.training optimizers -----------------------------------------------------------
def _step_inputs(n_state, t, dtype=np.float64):
    ins = {"R": np.asarray(0.1, dtype), "T": np.asarray(t, np.int64)}
    for name in ["X", "G", "V", "H"][: 2 + n_state]:
        for i in range(2):
            ins[f"{name}{i}"] = _f(3, 2, dtype=dtype)
    if "H0" in ins:
        ins["H0"], ins["H1"] = np.abs(ins["H0"]), np.abs(ins["H1"])
    return ins


@pytest.mark.parametrize("t", [0, 3])
@pytest.mark.parametrize("mode", ["standard", "nesterov"])
def test_momentum_first_step_double(t, mode):
    inputs = _step_inputs(1, t)
    m = _model("Momentum", inputs, n_out=4, domain=TRAINING, alpha=0.8, beta=0.3, mode=mode,
               norm_coefficient=0.01)
    _compare(m, inputs, _reference(m, inputs), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("t", [0, 5])
def test_adagrad_double(t):
    inputs = {k: (np.abs(v) if k.startswith("V") else v) for k, v in _step_inputs(1, t).items()}
    m = _model("Adagrad", inputs, n_out=4, domain=TRAINING, decay_factor=0.2, epsilon=1e-4,
               norm_coefficient=0.01)
    _compare(m, inputs, _reference(m, inputs), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("t", [0, 4])
def test_adam_post_coefficient(t):
    inputs = _step_inputs(2, t, np.float32)
    m = _model("Adam", inputs, n_out=6, domain=TRAINING, alpha=0.85, beta=0.95, norm_coefficient=0.02,
               norm_coefficient_post=0.1)
    _compare(m, inputs, _reference(m, inputs), atol=1e-5, rtol=1e-5)


# ---- FlexAttention ---------------------------------------------------------------------------------
def _flex(inputs, attrs, graphs=None):
    m = _model("FlexAttention", inputs, opset=26, domain=PREVIEW, **attrs)
    for name, g in (graphs or {}).items():
        m.graph.node[0].attribute.append(helper.make_attribute(name, g))
    return m


def _mod_graph(name, nodes, dtype=TensorProto.FLOAT, consts=None):
    x = helper.make_tensor_value_info("s", dtype, ["B", "H", "L", "S"])
    y = helper.make_tensor_value_info("out", dtype, ["B", "H", "L", "S"])
    inits = [numpy_helper.from_array(v, k) for k, v in (consts or {}).items()]
    return helper.make_graph(nodes, name, [x], [y], inits)


def test_flex_gqa_fp16_prob_mod_double_precision():
    """GQA, float16 inputs, softmax_precision double and a prob_mod in double."""
    inputs = {"Q": _f(1, 4, 3, 8, dtype=np.float16), "K": _f(1, 2, 5, 8, dtype=np.float16),
              "V": _f(1, 2, 5, 6, dtype=np.float16)}
    g = _mod_graph("half", [helper.make_node("Mul", ["s", "c"], ["out"])], TensorProto.DOUBLE,
                   {"c": np.asarray(0.5, np.float64)})
    m = _flex(inputs, {"softmax_precision": TensorProto.DOUBLE, "scale": 0.3}, {"prob_mod": g})
    _compare(m, inputs, _reference(m, inputs), atol=2e-3, rtol=2e-3)


def test_flex_score_mod_dynamic_lengths():
    """A score_mod reading the shape of the scores, on dynamic sequence lengths."""
    inputs = {"Q": _f(2, 2, 3, 4), "K": _f(2, 2, 5, 4), "V": _f(2, 2, 5, 4)}
    nodes = [helper.make_node("Shape", ["s"], ["shape"]),
             helper.make_node("Gather", ["shape", "i3"], ["n"], axis=0),
             helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
             helper.make_node("Div", ["s", "nf"], ["out"])]
    g = _mod_graph("by_len", nodes, consts={"i3": np.asarray(3, np.int64)})
    m = _flex(inputs, {}, {"score_mod": g})
    for k in ("Q", "K", "V"):
        dims = next(i for i in m.graph.input if i.name == k).type.tensor_type.shape.dim
        dims[2].dim_param = f"{k}_len"
    _compare(m, inputs, _reference(m, inputs))


def test_flex_dynamic_heads_and_head_size():
    """Unknown head count (the same for Q and K/V) and head size: the default scale at run time."""
    inputs = {"Q": _f(1, 3, 2, 5), "K": _f(1, 3, 4, 5), "V": _f(1, 3, 4, 2)}
    m = _flex(inputs, {})
    for k in ("Q", "K", "V"):
        dims = next(i for i in m.graph.input if i.name == k).type.tensor_type.shape.dim
        dims[1].dim_param = "H"
        dims[3].dim_param = "Ev" if k == "V" else "E"
    _compare(m, inputs, _reference(m, inputs))


def test_flex_score_mod_unliftable_is_refused_cleanly():
    inputs = {"Q": _f(1, 1, 2, 4), "K": _f(1, 1, 2, 4), "V": _f(1, 1, 2, 4)}
    nodes = [helper.make_node("Relu", ["s"], ["r"]),
             helper.make_node("Dropout", ["r", "ratio", "t"], ["out"])]
    consts = {"ratio": np.asarray(0.5, np.float32), "t": np.asarray(True)}
    m = _flex(inputs, {}, {"score_mod": _mod_graph("random", nodes, consts=consts)})
    model = import_onnx(m)
    before = [n.op_type for n in model.graph]
    with pytest.raises(UnsupportedOpError, match="score_mod"):
        lift_model(model)
    assert [n.op_type for n in model.graph] == before
    assert not model.graph.initializers
