"""Lifting ConvInteger, QLinearConv, DeformConv, Col2Im, MaxUnpool, STFT and MelWeightMatrix to
TF: the cases ONNX's conformance tests leave out, checked against ONNX's reference evaluator
(or onnxruntime)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import helper, numpy_helper, shape_inference

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import lift_to_graph_def, run_onnx_in_tf  # noqa: E402

from tensorbridge.converters.onnx import import_onnx  # noqa: E402

pytestmark = pytest.mark.tf
tf = pytest.importorskip("tensorflow")
ReferenceEvaluator = pytest.importorskip("onnx.reference").ReferenceEvaluator

rng = np.random.default_rng(7)


def _model(op, inputs, consts=None, slots=None, opset=22, dims=None, **attrs):
    """One ``op`` node reading graph inputs ``inputs`` then initializers ``consts`` (or the
    names ``slots``, "" for an omitted input); ``dims``: declared input shapes other than the
    arrays' (None/str for a dynamic dim)."""
    consts, dims = consts or {}, dims or {}
    node = helper.make_node(op, slots if slots is not None else [*inputs, *consts], ["y"], **attrs)
    vis = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), dims.get(k, v.shape))
           for k, v in inputs.items()]
    g = helper.make_graph([node], op, vis, [helper.make_empty_tensor_value_info("y")],
                          [numpy_helper.from_array(v, k) for k, v in consts.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    return shape_inference.infer_shapes(m)


def check(op, inputs, consts=None, slots=None, atol=1e-5, rtol=1e-5, oracle="ref", dims=None, **attrs):
    m = _model(op, inputs, consts, slots, dims=dims, **attrs)
    if oracle == "ref":
        want = ReferenceEvaluator(m).run(None, dict(inputs))[0]
    else:
        ort = pytest.importorskip("onnxruntime")
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        want = sess.run(None, dict(inputs))[0]
    got = run_onnx_in_tf(m, list(inputs.values()))[0]
    assert got.shape == want.shape and got.dtype == want.dtype
    if np.issubdtype(want.dtype, np.integer):
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, atol=atol, rtol=rtol)
    return got


def _ops(m) -> list[str]:
    gd, _, _ = lift_to_graph_def(import_onnx(m))
    return [n.op for n in gd.node]


def u8(*shape):
    return rng.integers(0, 256, shape).astype(np.uint8)


def i8(*shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


# ---- ConvInteger / QLinearConv ---------------------------------------------------------
@pytest.mark.parametrize("const_w", [True, False])
def test_conv_integer_per_channel_zero_point_groups(const_w):
    x, w = u8(2, 4, 7, 6), u8(6, 2, 3, 2)
    zx, zw = np.array(131, np.uint8), np.array([1, 250, 3, 128, 0, 77], np.uint8)
    inputs = {"x": x} if const_w else {"x": x, "w": w}
    consts = {"w": w, "zx": zx, "zw": zw} if const_w else {"zx": zx, "zw": zw}
    check("ConvInteger", inputs, consts, slots=["x", "w", "zx", "zw"], group=2, strides=[2, 1],
          pads=[1, 0, 2, 1], dilations=[1, 2])


def test_conv_integer_1d_3d_same_upper_int8():
    check("ConvInteger", {"x": i8(1, 3, 11), "w": i8(2, 3, 4)}, {"zx": np.array(-5, np.int8)},
          slots=["x", "w", "zx"], auto_pad="SAME_UPPER", strides=[2])
    check("ConvInteger", {"x": u8(1, 2, 4, 5, 3)}, {"w": u8(3, 2, 2, 2, 2)}, slots=["x", "w"])


def test_conv_integer_constant_input():
    m = _model("ConvInteger", {}, {"x": u8(1, 2, 5, 5), "w": u8(3, 2, 2, 2), "zx": np.array(4, np.uint8)})
    want = ReferenceEvaluator(m).run(None, {})[0]
    np.testing.assert_array_equal(run_onnx_in_tf(m, [])[0], want)


def test_conv_integer_depthwise_exact_large_sums():
    # every product near 255 * 255: an int32 accumulation far beyond float32's 2^24
    x = np.full((1, 3, 9, 9), 255, np.uint8)
    w = np.full((6, 1, 5, 5), 0, np.uint8)
    check("ConvInteger", {"x": x}, {"w": w, "zx": np.array(0, np.uint8), "zw": np.array(255, np.uint8)},
          group=3)


@pytest.mark.parametrize("to", [np.uint8, np.int8])
def test_qlinear_conv_per_channel(to):
    x, w = u8(1, 4, 6, 6), i8(4, 2, 3, 3)
    consts = {"sx": np.array(0.02, np.float32), "zx": np.array(120, np.uint8), "w": w,
              "sw": np.array([0.01, 0.03, 0.002, 0.05], np.float32), "zw": np.zeros(4, np.int8),
              "sy": np.array(0.17, np.float32), "zy": np.array(3 if to is np.uint8 else -4, to),
              "b": np.array([100, -2000, 5, 0], np.int32)}
    check("QLinearConv", {"x": x}, consts, slots=["x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"],
          group=2, pads=[1, 1, 1, 1], strides=[1, 2])


def test_qlinear_conv_runtime_scales():
    inputs = {"x": u8(2, 3, 5, 5), "sx": np.array(0.05, np.float32), "w": u8(2, 3, 3, 3),
              "sw": np.array(0.04, np.float32), "sy": np.array(0.3, np.float32)}
    consts = {"zx": np.array(128, np.uint8), "zw": np.array(100, np.uint8), "zy": np.array(128, np.uint8)}
    check("QLinearConv", inputs, consts, slots=["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"])


# ---- DeformConv ------------------------------------------------------------------------
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_deform_conv_mask_groups_offset_groups(dt):
    n, c, h, w, m, kh, kw = 2, 4, 6, 7, 6, 3, 2
    strides, dil, pads = [2, 1], [1, 2], [1, 2, 0, 1]
    oh = (h + pads[0] + pads[2] - (kh - 1) * dil[0] - 1) // strides[0] + 1
    ow = (w + pads[1] + pads[3] - (kw - 1) * dil[1] - 1) // strides[1] + 1
    og = 2
    inputs = {"x": rng.standard_normal((n, c, h, w)).astype(dt),
              "w": rng.standard_normal((m, c // 2, kh, kw)).astype(dt),
              "offset": (3 * rng.standard_normal((n, og * kh * kw * 2, oh, ow))).astype(dt),
              "b": rng.standard_normal(m).astype(dt),
              "mask": rng.uniform(0, 1, (n, og * kh * kw, oh, ow)).astype(dt)}
    check("DeformConv", inputs, group=2, offset_group=og, strides=strides, dilations=dil, pads=pads,
          atol=1e-4)


def test_deform_conv_integral_offsets_match_conv():
    # integral offsets land on pixels: with zero offsets DeformConv is Conv
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    off = np.zeros((1, 18, 5, 5), np.float32)
    got = check("DeformConv", {"x": x, "w": w, "offset": off}, pads=[1, 1, 1, 1])
    conv = ReferenceEvaluator(_model("Conv", {"x": x, "w": w}, pads=[1, 1, 1, 1]))
    conv = conv.run(None, {"x": x, "w": w})[0]
    np.testing.assert_allclose(got, conv, atol=1e-5)


# ---- Col2Im ------------------------------------------------------------------------------
@pytest.mark.parametrize("runtime_shapes", [False, True])
def test_col2im_dilations_pads_strides_non_square(runtime_shapes):
    image, block = np.array([7, 9], np.int64), np.array([3, 2], np.int64)
    dil, pads, strides = [2, 1], [1, 0, 2, 3], [1, 2]
    counts = [(image[i] + pads[i] + pads[i + 2] - dil[i] * (block[i] - 1) - 1) // strides[i] + 1
              for i in range(2)]
    x = rng.standard_normal((2, 3 * 6, counts[0] * counts[1])).astype(np.float32)
    shapes = {"image": image, "block": block}
    inputs, consts = ({"x": x, **shapes}, None) if runtime_shapes else ({"x": x}, shapes)
    check("Col2Im", inputs, consts, slots=["x", "image", "block"], dilations=dil, pads=pads, strides=strides)


def test_col2im_3d_pads_int32():
    image, block = np.array([3, 4, 5], np.int64), np.array([2, 2, 3], np.int64)
    pads = [1, 0, 1, 0, 1, 1]
    counts = [image[i] + pads[i] + pads[i + 3] - block[i] + 1 for i in range(3)]
    x = rng.integers(-9, 9, (1, 2 * 12, int(np.prod(counts)))).astype(np.int32)
    check("Col2Im", {"x": x}, {"image": image, "block": block}, pads=pads)


# ---- MaxUnpool ------------------------------------------------------------------------
def _pooled(x, **attrs):
    m = _model("MaxPool", {"x": x}, **attrs)
    m.graph.output.append(helper.make_empty_tensor_value_info("i"))
    m.graph.node[0].output.append("i")
    return ReferenceEvaluator(m).run(None, {"x": x})


@pytest.mark.parametrize("runtime_shape", [False, True])
def test_max_unpool_output_shape(runtime_shape):
    # indices are flat in the inferred [N, C, 6, 8] (the reference's and conformance's reading;
    # onnxruntime reads them in output_shape instead), which is zero-padded at the ends
    x = rng.standard_normal((2, 3, 6, 8)).astype(np.float32)
    attrs = dict(kernel_shape=[3, 2], strides=[3, 2])
    y, idx = _pooled(x, **attrs)
    shape = np.array([2, 3, 7, 10], np.int64)
    inputs, consts = ({"p": y, "idx": idx, "shape": shape}, None) if runtime_shape else \
        ({"p": y, "idx": idx}, {"shape": shape})
    check("MaxUnpool", inputs, consts, slots=["p", "idx", "shape"], **attrs)


def test_max_unpool_overlapping_windows_1d_and_3d():
    # overlapping windows pick some input twice: it is written once, not summed
    x = rng.standard_normal((1, 2, 9)).astype(np.float32)
    y, idx = _pooled(x, kernel_shape=[3], strides=[1])
    assert len(np.unique(idx)) < idx.size
    check("MaxUnpool", {"p": y, "idx": idx}, kernel_shape=[3], strides=[1])
    x = rng.standard_normal((1, 1, 4, 4, 6)).astype(np.float64)
    y, idx = _pooled(x, kernel_shape=[2, 2, 2], strides=[2, 2, 2])
    check("MaxUnpool", {"p": y, "idx": idx}, kernel_shape=[2, 2, 2], strides=[2, 2, 2])


# ---- STFT / MelWeightMatrix -------------------------------------------------------------
def test_stft_complex_two_sided_double():
    x = rng.standard_normal((2, 40, 2))
    window = np.hanning(12)
    check("STFT", {"x": x, "step": np.array(5, np.int64), "window": window}, onesided=0, atol=1e-9)


def test_stft_real_frame_length_no_window():
    x = rng.standard_normal((1, 33, 1)).astype(np.float32)
    check("STFT", {"x": x}, {"step": np.array(4, np.int64), "length": np.array(10, np.int64)},
          slots=["x", "step", "", "length"], atol=1e-4)


MEL = [(8, 512, 16000, 0.0, 8000.0), (20, 256, 22050, 125.0, 7600.0), (5, 64, 8000, 300.0, 3000.0)]


def _mel_inputs(bins, dft, rate, lo, hi):
    return {"m": np.array(bins, np.int32), "dft": np.array(dft, np.int32), "rate": np.array(rate, np.int32),
            "lo": np.array(lo, np.float32), "hi": np.array(hi, np.float32)}


@pytest.mark.parametrize("params", MEL)
def test_mel_weight_matrix_runtime(params):
    check("MelWeightMatrix", _mel_inputs(*params), opset=17)


@pytest.mark.parametrize("params", MEL)
def test_mel_weight_matrix_constant_folds(params):
    m = _model("MelWeightMatrix", {}, _mel_inputs(*params), opset=17, output_datatype=11)
    want = ReferenceEvaluator(m).run(None, {})[0]
    got = run_onnx_in_tf(m, [])[0]
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)
    assert set(_ops(m)) <= {"Const", "Identity"}  # the matrix, the (unused) inputs, the output


# ---- dynamic shapes, other types, refusals --------------------------------------------------
def test_dynamic_batch_and_spatial_dims():
    check("ConvInteger", {"x": u8(2, 3, 9, 7)}, {"w": u8(4, 3, 3, 3), "zx": np.array(9, np.uint8)},
          slots=["x", "w", "zx"], auto_pad="SAME_UPPER", dims={"x": ["n", 3, "h", "w"]})
    x = rng.standard_normal((3, 2, 5, 4)).astype(np.float32)
    off = rng.standard_normal((3, 8, 4, 3)).astype(np.float32)
    check("DeformConv", {"x": x, "offset": off}, {"w": rng.standard_normal((2, 2, 2, 2)).astype(np.float32)},
          slots=["x", "w", "offset"], dims={"x": ["n", 2, 5, 4], "offset": ["n", 8, 4, 3]}, atol=1e-4)
    y = rng.standard_normal((2, 6, 12)).astype(np.float32)
    check("Col2Im", {"x": y}, {"image": np.array([3, 4], np.int64), "block": np.array([1, 3], np.int64)},
          slots=["x", "image", "block"], dims={"x": ["n", "c", 12]}, pads=[0, 1, 0, 1])


@pytest.mark.parametrize("dt", [np.float16, np.int64, np.uint8])
def test_col2im_types(dt):
    x = rng.integers(0, 20, (1, 8, 4)).astype(dt)
    check("Col2Im", {"x": x}, {"image": np.array([3, 3], np.int64), "block": np.array([2, 2], np.int64)})


def test_col2im_refuses_bool():
    from tensorbridge.converters.savedmodel.lift import lift_model
    from tensorbridge.errors import UnsupportedOpError

    m = _model("Col2Im", {"x": np.zeros((1, 4, 4), bool)},
               {"image": np.array([3, 3], np.int64), "block": np.array([2, 2], np.int64)})
    with pytest.raises(UnsupportedOpError, match="Col2Im"):
        lift_model(import_onnx(m))
