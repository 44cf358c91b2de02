"""Lifting RNN, GRU and LSTM to TF (lift/recurrent.py), checked against onnxruntime (atol 1e-5):
directions, layouts, sequence_lens, initial states, peepholes, clip, activations, GRU
linear_before_reset, constant and runtime weights, the BlockLSTMV2 and While paths (an unknown or
long sequence length; the While path also checked against the unrolled one), refusals, and PyTorch
nn.LSTM/nn.GRU exports converted to a SavedModel."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from onnx import helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import lift_to_graph_def, run_onnx_in_tf  # noqa: E402

from tensorbridge.converters.onnx import import_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.lift import lift_model, recurrent  # noqa: E402
from tensorbridge.errors import UnsupportedOpError  # noqa: E402

pytestmark = pytest.mark.tf
ort = pytest.importorskip("onnxruntime")
tf = pytest.importorskip("tensorflow")

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
SLOTS = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
RNG = np.random.default_rng(0)


def rand(*shape, scale=1.0, dtype=np.float32):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def rnn_inputs(kind, steps=4, batch=3, size=5, hidden=4, dirs=1, layout=0, *, bias=True, h0=False,
               c0=False, peep=False, lens=None, dtype=np.float32):
    """The node's inputs by slot name (absent ones left out)."""
    g = GATES[kind]
    x_shape = (batch, steps, size) if layout else (steps, batch, size)
    s_shape = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    feeds = {"X": rand(*x_shape, dtype=dtype), "W": rand(dirs, g * hidden, size, scale=0.5, dtype=dtype),
             "R": rand(dirs, g * hidden, hidden, scale=0.5, dtype=dtype)}
    if bias:
        feeds["B"] = rand(dirs, 2 * g * hidden, scale=0.5, dtype=dtype)
    if lens is not None:
        feeds["sequence_lens"] = np.asarray(lens, np.int32)
    if h0:
        feeds["initial_h"] = rand(*s_shape, dtype=dtype)
    if c0:
        feeds["initial_c"] = rand(*s_shape, dtype=dtype)
    if peep:
        feeds["P"] = rand(dirs, 3 * hidden, scale=0.5, dtype=dtype)
    return feeds


def rnn_model(kind, feeds, *, consts=("W", "R", "B", "P"), outs=(True, True, True), dims=None, **attrs):
    """One ``kind`` node; the slots in ``consts`` are initializers, the others graph inputs;
    ``outs``: which of Y, Y_h(, Y_c) the node writes; ``dims``: {input: {axis: "name"}}."""
    names = [s if s in feeds else "" for s in SLOTS]
    while names[-1] == "":
        names.pop()
    n_out = 3 if kind == "LSTM" else 2
    out_names = [f"y{i}" if outs[i] else "" for i in range(n_out)]
    node = helper.make_node(kind, names, out_names, hidden_size=feeds["R"].shape[-1], **attrs)
    graph_in = [k for k in feeds if k not in consts]
    vis = []
    for k in graph_in:
        shape = list(feeds[k].shape)
        for axis, name in (dims or {}).get(k, {}).items():
            shape[axis] = name
        vis.append(helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(feeds[k].dtype), shape))
    g = helper.make_graph([node], kind, vis, [helper.make_empty_tensor_value_info(o) for o in out_names if o],
                          [numpy_helper.from_array(feeds[k], k) for k in feeds if k in consts])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 22)], ir_version=10)
    return m, {k: feeds[k] for k in graph_in}


def ort_run(m, feeds):
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


_BATCH_FIRST = ("X", "initial_h", "initial_c")  # the inputs layout=1 swaps the first two axes of


def _swap01(feeds):
    return {k: np.swapaxes(v, 0, 1) if k in _BATCH_FIRST else v for k, v in feeds.items()}


def oracle(kind, feeds, kw):
    """(model, run(graph feeds) -> onnxruntime's outputs). onnxruntime has no layout=1: that
    runs the layout-0 model on swapped inputs and swaps its outputs back."""
    m, _ = rnn_model(kind, feeds, **kw)
    if not kw.get("layout"):
        return m, lambda f: ort_run(m, f)
    dims = {k: {1 - a if a < 2 else a: n for a, n in d.items()} for k, d in (kw.get("dims") or {}).items()}
    m0, _ = rnn_model(kind, _swap01(feeds), **{**kw, "layout": 0, "dims": dims})

    def run(f):
        outs = ort_run(m0, _swap01(f))
        return [np.transpose(o, (2, 0, 1, 3)) if o.ndim == 4 else np.swapaxes(o, 0, 1) for o in outs]

    return m, run


def check(kind, feeds, atol=1e-5, runs=None, **kw):
    """Lifted to TF vs onnxruntime; ``runs``: further feed dicts for the same model."""
    m, want_of = oracle(kind, feeds, kw)
    graph_feeds = {i.name: feeds[i.name] for i in m.graph.input}
    for f in [graph_feeds, *(runs or [])]:
        want = want_of(f)
        got = run_onnx_in_tf(m, [f[i.name] for i in m.graph.input])
        assert len(got) == len(want)
        for w, g in zip(want, got):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, atol=atol, rtol=1e-5)
    return m


def tf_ops(m) -> Counter:
    gd, _, _ = lift_to_graph_def(import_onnx(m))
    return Counter(n.op for n in gd.node)


KINDS = ["RNN", "GRU", "LSTM"]
DIRECTIONS = ["forward", "reverse", "bidirectional"]


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_directions_with_initial_states(kind, direction):
    dirs = 2 if direction == "bidirectional" else 1
    check(kind, rnn_inputs(kind, dirs=dirs, h0=True, c0=kind == "LSTM"), direction=direction)


@pytest.mark.parametrize("kind", KINDS)
def test_runtime_weights(kind):
    """W, R, B, initial states and P as graph inputs: sliced and multiplied transposed at run time."""
    feeds = rnn_inputs(kind, dirs=2, h0=True, c0=kind == "LSTM", peep=kind == "LSTM")
    check(kind, feeds, consts=(), direction="bidirectional")


@pytest.mark.parametrize("kind", KINDS)
def test_layout_1(kind):
    feeds = rnn_inputs(kind, steps=3, batch=2, dirs=2, layout=1, h0=True, c0=kind == "LSTM")
    check(kind, feeds, layout=1, direction="bidirectional")
    check(kind, feeds, consts=(), layout=1, direction="bidirectional")


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_sequence_lens(kind, direction):
    """Unequal lengths (0 among them): Y zero past each length, Y_h/Y_c the state at len - 1."""
    dirs = 2 if direction == "bidirectional" else 1
    feeds = rnn_inputs(kind, steps=5, batch=4, dirs=dirs, lens=[5, 2, 0, 3], h0=True, c0=kind == "LSTM")
    other = {k: feeds[k] for k in ("X", "initial_h", "initial_c") if k in feeds}
    other["sequence_lens"] = np.array([1, 5, 4, 5], np.int32)
    m = check(kind, feeds, direction=direction, consts=("W", "R", "B"), runs=[other])
    assert tf_ops(m)["ReverseSequence"] == (2 if direction != "forward" else 0)


def test_constant_full_sequence_lens_is_dropped():
    feeds = rnn_inputs("GRU", lens=[4, 4, 4])
    m = check("GRU", feeds, consts=("W", "R", "B", "sequence_lens"))
    assert not {"SelectV2", "ReverseSequence"} & set(tf_ops(m))


@pytest.mark.parametrize("layout", [0, 1])
def test_lstm_peepholes_clip_input_forget(layout):
    feeds = rnn_inputs("LSTM", dirs=2, layout=layout, h0=True, c0=True, peep=True, lens=[4, 1, 3])
    check("LSTM", feeds, direction="bidirectional", layout=layout, clip=0.7)
    check("LSTM", feeds, direction="bidirectional", layout=layout, input_forget=1)
    check("LSTM", feeds, direction="bidirectional", layout=layout, clip=1.5, input_forget=1)


def test_clip_without_peepholes():
    for kind in KINDS:
        check(kind, rnn_inputs(kind, dirs=2, h0=True), direction="bidirectional", clip=0.5)


@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_linear_before_reset(lbr):
    check("GRU", rnn_inputs("GRU", dirs=2, h0=True, lens=[4, 2, 3]), direction="bidirectional",
          linear_before_reset=lbr)
    check("GRU", rnn_inputs("GRU", bias=False), linear_before_reset=lbr)
    check("GRU", rnn_inputs("GRU", dirs=1, h0=True), consts=(), linear_before_reset=lbr)


ACTIVATIONS = [
    ("RNN", ["Relu"], [], []),
    ("RNN", ["Affine"], [0.7], [0.2]),
    ("RNN", ["LeakyRelu"], [], []),  # the default alpha, 0.01
    ("RNN", ["ThresholdedRelu"], [0.1], []),
    ("RNN", ["ScaledTanh"], [1.3], [0.6]),
    ("RNN", ["Elu"], [0.5], []),
    ("RNN", ["Softsign"], [], []),
    ("RNN", ["Softplus"], [], []),
    ("GRU", ["HardSigmoid", "Softsign"], [], []),  # defaults 0.2, 0.5
    ("GRU", ["HardSigmoid", "LeakyRelu"], [0.3, 0.2], [0.4]),
    ("LSTM", ["HardSigmoid", "Elu", "ScaledTanh"], [0.25, 0.9, 1.1], [0.45, 0.8]),
    ("LSTM", ["Sigmoid", "Softsign", "Affine"], [0.5], [0.1]),
]


@pytest.mark.parametrize("kind,names,alphas,betas", ACTIVATIONS, ids=lambda v: str(v))
def test_activations(kind, names, alphas, betas):
    attrs = {"activations": names}
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    check(kind, rnn_inputs(kind, h0=True), **attrs)


def test_bidirectional_activations_per_direction():
    """alpha/beta are read in order across both directions' functions."""
    check("GRU", rnn_inputs("GRU", dirs=2, h0=True), direction="bidirectional",
          activations=["HardSigmoid", "Tanh", "Sigmoid", "LeakyRelu"], activation_alpha=[0.3, 0.05],
          activation_beta=[0.45])


def test_only_some_outputs():
    check("LSTM", rnn_inputs("LSTM"), outs=(False, False, True))
    check("LSTM", rnn_inputs("LSTM", lens=[2, 4, 1]), outs=(True, False, False), direction="reverse")


def test_double_and_dynamic_batch():
    """float64 (onnxruntime's GRU has none: ONNX's reference); a batch unknown when converting
    (zero states made with Fill)."""
    from onnx.reference import ReferenceEvaluator

    feeds = rnn_inputs("GRU", dtype=np.float64, dirs=2)
    m, f = rnn_model("GRU", feeds, dims={"X": {1: "N"}}, direction="bidirectional")
    for batch in (3, 1):
        x = rand(4, batch, 5, dtype=np.float64)
        got, want = run_onnx_in_tf(m, [x]), ReferenceEvaluator(m).run(None, {"X": x})
        for g, w in zip(got, want):
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, atol=1e-10)


@pytest.mark.parametrize("kind,dynamic_steps", [("LSTM", False), ("LSTM", True), ("GRU", True)])
def test_float16_computed_in_float32(kind, dynamic_steps):
    """Against ONNX's reference (onnxruntime has no float16 LSTM); unknown steps: BlockLSTMV2
    (LSTM) or a While (GRU)."""
    from onnx.reference import ReferenceEvaluator

    feeds = rnn_inputs(kind, dtype=np.float16)
    m, f = rnn_model(kind, feeds, dims={"X": {0: "T"}} if dynamic_steps else None)
    loop = "BlockLSTMV2" if kind == "LSTM" else "StatelessWhile"
    assert bool(tf_ops(m)[loop]) == dynamic_steps
    want = ReferenceEvaluator(m).run(None, f)
    got = run_onnx_in_tf(m, list(f.values()))
    for g, w in zip(got, want):
        assert g.dtype == np.float16
        np.testing.assert_allclose(g.astype(np.float32), w.astype(np.float32), atol=5e-3)


# ---- an unknown or long sequence length ----------------------------------------------------------
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_dynamic_steps_lstm_is_block_lstm(direction):
    dirs = 2 if direction == "bidirectional" else 1
    feeds = rnn_inputs("LSTM", dirs=dirs, h0=True, c0=True, peep=True)
    m, _ = rnn_model("LSTM", feeds, dims={"X": {0: "T"}}, direction=direction)
    assert tf_ops(m)["BlockLSTMV2"] == dirs
    runs = [{"X": rand(t, 3, 5)} for t in (7, 1)]
    check("LSTM", feeds, consts=("W", "R", "B", "P", "initial_h", "initial_c"), runs=runs,
          dims={"X": {0: "T"}}, direction=direction)


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_dynamic_steps_lstm_with_lens_and_runtime_weights(direction):
    feeds = rnn_inputs("LSTM", dirs=1, layout=1, lens=[3, 0, 1])
    runs = [{"X": rand(3, 6, 5), "W": feeds["W"], "R": feeds["R"], "B": feeds["B"],
             "sequence_lens": np.array([6, 2, 5], np.int32)}]
    check("LSTM", feeds, consts=(), runs=runs, dims={"X": {1: "T"}}, layout=1, direction=direction)


DYN = {"X": {0: "T"}}


def _dyn_runs(feeds, steps=(7, 1), lens=None):
    """Feeds of other sequence lengths (layout 0) for a model with a dynamic X axis 0."""
    batch, size = feeds["X"].shape[1:]
    runs = []
    for t in steps:
        f = {"X": rand(t, batch, size)}
        if lens is not None:
            f["sequence_lens"] = RNG.integers(0, t + 1, batch).astype(np.int32)
            f["sequence_lens"][0] = t
        runs.append(f)
    return runs


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind,attrs", [
    ("RNN", {}),
    ("RNN", {"activations": ["LeakyRelu"], "activation_alpha": [0.2], "clip": 1.5}),
    ("GRU", {"linear_before_reset": 0}),
    ("GRU", {"linear_before_reset": 1}),
    ("GRU", {"activations": ["HardSigmoid", "Softsign"], "clip": 0.9, "linear_before_reset": 1}),
    ("LSTM", {"clip": 0.7}),
    ("LSTM", {"activations": ["HardSigmoid", "Elu", "ScaledTanh"], "activation_alpha": [0.25, 0.9, 1.1],
              "activation_beta": [0.45, 0.8]}),
], ids=lambda v: str(v))
def test_dynamic_steps_while_loop(kind, attrs, direction):
    """An unknown sequence length: a StatelessWhile over the steps, at lengths 4, 7 and 1."""
    dirs = 2 if direction == "bidirectional" else 1
    if direction == "bidirectional" and "activations" in attrs:
        attrs = {**attrs, "activations": attrs["activations"] * 2}
    feeds = rnn_inputs(kind, dirs=dirs, h0=True, c0=kind == "LSTM")
    m, _ = rnn_model(kind, feeds, dims=DYN, direction=direction, **attrs)
    ops = tf_ops(m)
    assert ops["StatelessWhile"] == dirs and not ops["BlockLSTMV2"]
    check(kind, feeds, consts=("W", "R", "B", "initial_h", "initial_c"), runs=_dyn_runs(feeds), dims=DYN,
          direction=direction, **attrs)


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_dynamic_steps_while_loop_sequence_lens(kind, direction):
    """Per-entry lengths (0 and full among them) with runtime initial states."""
    dirs = 2 if direction == "bidirectional" else 1
    attrs = {"clip": 2.0} if kind == "LSTM" else {}
    feeds = rnn_inputs(kind, batch=4, dirs=dirs, h0=True, c0=kind == "LSTM", lens=[4, 2, 0, 1])
    runs = _dyn_runs(feeds, lens=True)
    for f in runs:
        f.update({k: feeds[k] for k in ("initial_h", "initial_c") if k in feeds})
    check(kind, feeds, consts=("W", "R", "B"), runs=runs, dims=DYN, direction=direction, **attrs)


@pytest.mark.parametrize("layout", [0, 1])
def test_dynamic_steps_while_loop_lstm_peepholes_input_forget(layout):
    feeds = rnn_inputs("LSTM", dirs=2, layout=layout, h0=True, c0=True, peep=True, lens=[4, 1, 3])
    dims = {"X": {layout: "T"}}
    other = {"X": rand(*((3, 6, 5) if layout else (6, 3, 5))), "sequence_lens": np.array([6, 0, 1], np.int32)}
    other.update({k: feeds[k] for k in ("initial_h", "initial_c")})
    for attrs in ({"input_forget": 1}, {"clip": 1.5, "input_forget": 1}):
        check("LSTM", feeds, consts=("W", "R", "B", "P"), runs=[other], dims=dims, layout=layout,
              direction="bidirectional", **attrs)


@pytest.mark.parametrize("kind", KINDS)
def test_dynamic_steps_while_loop_runtime_weights(kind):
    """W, R, B, P as graph inputs: the weights enter the loop as loop variables."""
    feeds = rnn_inputs(kind, dirs=2, h0=True, c0=kind == "LSTM", peep=kind == "LSTM")
    runs = [{**feeds, "X": rand(t, 3, 5)} for t in (2, 1)]
    attrs = {"clip": 3.0} if kind == "LSTM" else {}
    check(kind, feeds, consts=(), runs=runs, dims=DYN, direction="bidirectional", **attrs)


def test_dynamic_steps_while_loop_double_lstm():
    """float64 (BlockLSTMV2 is float32 only), against ONNX's reference (onnxruntime has none);
    the batch unknown too (zero states made with Fill)."""
    from onnx.reference import ReferenceEvaluator

    feeds = rnn_inputs("LSTM", dtype=np.float64, dirs=2, peep=True)
    m, _ = rnn_model("LSTM", feeds, dims={"X": {0: "T", 1: "N"}}, direction="bidirectional")
    assert tf_ops(m)["StatelessWhile"] == 2
    for t, batch in ((4, 3), (1, 2), (6, 1)):
        x = rand(t, batch, 5, dtype=np.float64)
        for g, w in zip(run_onnx_in_tf(m, [x]), ReferenceEvaluator(m).run(None, {"X": x})):
            assert g.dtype == np.float64
            np.testing.assert_allclose(g, w, atol=1e-10)


def test_dynamic_steps_gru_inside_a_loop_body():
    """A GRU reading an outer X of unknown length inside an ONNX Loop: a While in a While body."""
    from onnx import TensorProto

    w, r, b = rand(1, 12, 5, scale=0.5), rand(1, 12, 4, scale=0.5), rand(1, 24, scale=0.5)
    body = helper.make_graph(
        [helper.make_node("GRU", ["x", "W", "R", "B"], ["y", "yh"], hidden_size=4, linear_before_reset=1),
         helper.make_node("Identity", ["c_in"], ["c_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("yh", TensorProto.FLOAT, [1, 3, 4])])
    g = helper.make_graph(
        [helper.make_node("Loop", ["M", ""], ["out"], body=body)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 3, 5]),
         helper.make_tensor_value_info("M", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 1, 3, 4])],
        [numpy_helper.from_array(a, n) for a, n in ((w, "W"), (r, "R"), (b, "B"))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 22)], ir_version=10)
    for t in (3, 1):
        x, trips = rand(t, 3, 5), np.array(2, np.int64)
        want = ort_run(m, {"x": x, "M": trips})
        np.testing.assert_allclose(run_onnx_in_tf(m, [x, trips])[0], want[0], atol=1e-5, rtol=1e-5)


def _lifted_both_ways(m, inputs, monkeypatch):
    """(unrolled, While) outputs of the same static-length model."""
    unrolled = run_onnx_in_tf(m, inputs)
    with monkeypatch.context() as mp:
        mp.setattr(recurrent, "UNROLL_LIMIT", 0)
        mp.setattr(recurrent, "USE_BLOCK_LSTM", False)
        assert tf_ops(m)["StatelessWhile"] and not tf_ops(m)["Unpack"]
        looped = run_onnx_in_tf(m, inputs)
    return unrolled, looped


@pytest.mark.parametrize("kind,attrs", [
    ("RNN", {"activations": ["Affine", "Relu"], "activation_alpha": [0.7], "activation_beta": [0.2]}),
    ("GRU", {"linear_before_reset": 1, "clip": 1.0}),
    ("GRU", {"activations": ["Sigmoid", "Tanh", "HardSigmoid", "LeakyRelu"],
             "activation_alpha": [0.3, 0.05]}),
    ("LSTM", {"clip": 0.8, "input_forget": 1}),
    ("LSTM", {}),
], ids=lambda v: str(v))
@pytest.mark.parametrize("layout", [0, 1])
def test_while_matches_unrolled(kind, attrs, layout, monkeypatch):
    """The same static-length model lifted unrolled and as a While: equal outputs (bitwise equal
    when measured; a small tolerance leaves TF room to fuse differently in a function)."""
    feeds = rnn_inputs(kind, steps=5, batch=4, dirs=2, layout=layout, h0=True, c0=kind == "LSTM",
                       peep=kind == "LSTM", lens=[5, 2, 0, 3])
    m, f = rnn_model(kind, feeds, consts=("W", "R", "B", "P"), direction="bidirectional", layout=layout,
                     **attrs)
    unrolled, looped = _lifted_both_ways(m, list(f.values()), monkeypatch)
    for u, w in zip(unrolled, looped):
        np.testing.assert_allclose(w, u, atol=1e-6, rtol=1e-6)


def test_long_static_gru_is_a_while_loop():
    feeds = rnn_inputs("GRU", steps=130, batch=2, h0=True)
    m = check("GRU", feeds, atol=1e-4, direction="reverse", linear_before_reset=1)
    ops = tf_ops(m)
    assert ops["StatelessWhile"] == 1 and not ops["Unpack"]


def test_long_static_lstm_is_block_lstm():
    feeds = rnn_inputs("LSTM", steps=130, batch=2, h0=True, c0=True)
    m = check("LSTM", feeds, atol=1e-4)
    assert tf_ops(m)["BlockLSTMV2"] == 1


def test_unrolled_graph_is_compact():
    """Constant weights: no Transpose or slice at run time; one input MatMul per direction."""
    m = check("LSTM", rnn_inputs("LSTM", steps=6, dirs=2), direction="bidirectional")
    ops = tf_ops(m)
    assert ops["BatchMatMulV2"] == 2 and ops["MatMul"] == 12 and ops["Unpack"] == 2
    assert not {"Transpose", "StridedSlice", "GatherV2"} & set(ops), ops


def _refuses(m, match):
    with pytest.raises(UnsupportedOpError, match=match):
        lift_model(import_onnx(m))


def test_bad_activations_are_refused():
    m, _ = rnn_model("GRU", rnn_inputs("GRU"), activations=["Sigmoid", "Swish"])
    _refuses(m, "unknown activation function 'Swish'")
    m, _ = rnn_model("GRU", rnn_inputs("GRU", dirs=2), direction="bidirectional",
                     activations=["Sigmoid", "Tanh"])
    _refuses(m, "2 activations given")


# ---- a PyTorch export, converted to a SavedModel ------------------------------------------------
@pytest.mark.parametrize("cls,dynamic_steps",
                         [("LSTM", False), ("GRU", False), ("LSTM", True), ("GRU", True)],
                         ids=["LSTM", "GRU", "LSTM-dynamic-steps", "GRU-dynamic-steps"])
def test_torch_export_to_savedmodel(cls, dynamic_steps, tmp_path):
    """A 2-layer bidirectional batch-first nn.LSTM/nn.GRU + Linear exported by torch (a dynamic
    batch; the sequence axis fixed, or dynamic: BlockLSTMV2 / a While), converted, loaded by TF."""
    torch = pytest.importorskip("torch")
    import tensorbridge as tb

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, cls)(6, 8, num_layers=2, batch_first=True, bidirectional=True)
            self.head = torch.nn.Linear(16, 3)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.head(y)

    src, out = tmp_path / f"{cls}.onnx", tmp_path / f"{cls}_sm"
    axes = {0: "batch", 1: "steps"} if dynamic_steps else {0: "batch"}
    torch.onnx.export(Net().eval(), (torch.randn(2, 5, 6),), str(src), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": axes, "y": axes}, opset_version=17, dynamo=False)
    tb.convert(src, out)
    looped = b"StatelessWhile" in (out / "saved_model.pb").read_bytes()
    assert looped == (dynamic_steps and cls == "GRU")
    fn = tf.saved_model.load(str(out)).signatures["serving_default"]
    sess = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    for batch, steps in ((1, 5), (4, 5), *(((3, 9), (2, 1)) if dynamic_steps else ())):
        x = rand(batch, steps, 6)
        got = fn(x=tf.constant(x))["y"].numpy()
        np.testing.assert_allclose(got, sess.run(None, {"x": x})[0], atol=1e-5, rtol=1e-5)
