"""Lifting the NN ops (conv, pool, norm, resize, depth/space) to TF, checked against ORT."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import lift_to_graph_def, run_onnx_in_tf  # noqa: E402

from tensorbridge.converters.onnx import import_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.lift import lift_model  # noqa: E402
from tensorbridge.errors import UnsupportedOpError  # noqa: E402

pytestmark = pytest.mark.tf
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("tensorflow")

F32 = TensorProto.FLOAT


def _model(op, inputs, consts=None, n_out=1, opset=22, slots=None, **attrs):
    """One ``op`` node: graph inputs ``inputs`` (name -> array), initializers ``consts``;
    ``slots``: the node's input names when not inputs then consts ("" for an omitted one)."""
    consts = consts or {}
    names = slots if slots is not None else [*inputs, *consts]
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, names, outs, **attrs)
    vis = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
           for k, v in inputs.items()]
    g = helper.make_graph([node], op, vis, [helper.make_empty_tensor_value_info(o) for o in outs],
                          [numpy_helper.from_array(v, k) for k, v in consts.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    from onnx import shape_inference

    return shape_inference.infer_shapes(m, strict_mode=True)


def check(op, inputs, consts=None, n_out=1, opset=22, atol=1e-5, slots=None, oracle="ort", **attrs):
    """Lifted to TF vs onnxruntime (``oracle="ref"``: vs ONNX's reference implementation)."""
    m = _model(op, inputs, consts, n_out, opset, slots, **attrs)
    if oracle == "ref":
        from onnx.reference import ReferenceEvaluator

        want = ReferenceEvaluator(m).run(None, dict(inputs))
    else:
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        want = sess.run(None, dict(inputs))
    got = run_onnx_in_tf(m, list(inputs.values()))
    for w, g in zip(want, got):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, atol=atol, rtol=1e-5)


def refuses(op, inputs, consts=None, opset=22, match="", n_out=1, **attrs):
    model = import_onnx(_model(op, inputs, consts, n_out, opset, **attrs))
    with pytest.raises(UnsupportedOpError, match=match):
        lift_model(model)


RNG = np.random.default_rng(0)


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# ---- Conv ------------------------------------------------------------------------------------
CONV2D = [
    dict(),
    dict(pads=[1, 1, 1, 1]),
    dict(pads=[0, 1, 2, 1], strides=[2, 1]),
    dict(dilations=[2, 2], pads=[2, 1, 0, 3]),
    dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(auto_pad="SAME_LOWER", strides=[2, 2]),
    dict(auto_pad="VALID", strides=[2, 3]),
]


@pytest.mark.parametrize("attrs", CONV2D, ids=str)
def test_conv2d(attrs):
    check("Conv", {"x": rand(2, 3, 9, 8)}, {"w": rand(4, 3, 3, 3), "b": rand(4)}, **attrs)


@pytest.mark.parametrize("group,cin,cout", [(3, 3, 6), (3, 3, 3), (2, 4, 6), (4, 8, 4)])
def test_conv2d_groups(group, cin, cout):
    check("Conv", {"x": rand(1, cin, 7, 7)}, {"w": rand(cout, cin // group, 3, 3)}, group=group,
          pads=[1, 0, 1, 2], strides=[1, 2])


@pytest.mark.parametrize("pads", [[1, 1, 1, 1], [0, 1, 2, 1]])
def test_depthwise_with_bias_never_explicit(pads):
    """TF 2.21's grappler aborts the process on an EXPLICIT-padded DepthwiseConv2dNative with a
    BiasAdd: SAME pads become SAME, others a Pad op."""
    m = _model("Conv", {"x": rand(2, 4, 6, 6)}, {"w": rand(8, 1, 3, 3), "b": rand(8)}, group=4, pads=pads)
    gd, _, _ = lift_to_graph_def(import_onnx(m))
    assert all(n.attr["padding"].s != b"EXPLICIT" for n in gd.node if n.op == "DepthwiseConv2dNative")
    check("Conv", {"x": rand(2, 4, 6, 6)}, {"w": rand(8, 1, 3, 3), "b": rand(8)}, group=4, pads=pads)


def test_conv_weight_is_an_input():
    check("Conv", {"x": rand(1, 4, 6, 6), "w": rand(4, 2, 3, 3)}, group=2, pads=[1, 1, 1, 1])
    check("Conv", {"x": rand(1, 4, 6, 6), "w": rand(4, 1, 3, 3)}, group=4, pads=[1, 1, 1, 1])


@pytest.mark.parametrize("attrs", [dict(), dict(pads=[2, 1], strides=[2], dilations=[2]),
                                   dict(group=2, auto_pad="SAME_LOWER")], ids=str)
def test_conv1d(attrs):
    check("Conv", {"x": rand(2, 4, 11)}, {"w": rand(6, 4 // attrs.get("group", 1), 3), "b": rand(6)}, **attrs)


@pytest.mark.parametrize("attrs", [dict(), dict(pads=[1, 0, 2, 1, 1, 0], strides=[2, 1, 2]),
                                   dict(dilations=[2, 1, 1], group=2)], ids=str)
def test_conv3d(attrs):
    g = attrs.get("group", 1)
    check("Conv", {"x": rand(1, 4, 6, 7, 5)}, {"w": rand(4, 4 // g, 3, 2, 3), "b": rand(4)}, **attrs)


def test_conv_dynamic_batch_same_upper():
    m = _model("Conv", {"x": rand(1, 3, 7, 7)}, {"w": rand(2, 3, 3, 3)}, auto_pad="SAME_UPPER",
               strides=[2, 2])
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    m.graph.input[0].type.tensor_type.shape.dim[3].dim_param = "W"
    x = rand(3, 3, 7, 9)
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(run_onnx_in_tf(m, [x])[0], want[0], atol=1e-5)


# ---- ConvTranspose -----------------------------------------------------------------------------
CONVT = [
    dict(),
    dict(strides=[2, 2]),
    dict(strides=[2, 3], output_padding=[1, 2], pads=[1, 0, 0, 1]),
    dict(strides=[2, 2], output_shape=[10, 9]),
    dict(strides=[3, 2], output_shape=[15, 10]),  # beyond the full output: zero rows at the end
    dict(strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(strides=[2, 2], auto_pad="SAME_LOWER"),
    dict(dilations=[2, 1], pads=[1, 1, 1, 1]),
    dict(group=2, strides=[2, 1]),
]


@pytest.mark.parametrize("attrs", CONVT, ids=str)
def test_conv_transpose(attrs):
    g = attrs.get("group", 1)
    check("ConvTranspose", {"x": rand(2, 4, 5, 4)}, {"w": rand(4, 6 // g, 3, 3), "b": rand(6)}, **attrs)


def test_conv_transpose_1d_3d():
    check("ConvTranspose", {"x": rand(1, 2, 5)}, {"w": rand(2, 3, 3)}, strides=[2], pads=[1, 0])
    check("ConvTranspose", {"x": rand(1, 2, 3, 4, 3)}, {"w": rand(2, 3, 2, 3, 2)}, strides=[2, 1, 2])


# ---- pooling ---------------------------------------------------------------------------------
POOL2D = [
    dict(kernel_shape=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[3, 2], strides=[2, 1], pads=[0, 1, 2, 0]),
    dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[3, 3], strides=[3, 2], pads=[1, 0, 1, 1], ceil_mode=1),
    dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_LOWER"),
    dict(kernel_shape=[2, 2], strides=[1, 1], dilations=[2, 2], pads=[1, 0, 1, 1]),
]


@pytest.mark.parametrize("attrs", POOL2D, ids=str)
def test_max_pool(attrs):
    check("MaxPool", {"x": rand(2, 3, 9, 8)}, **attrs)


@pytest.mark.parametrize("include", [0, 1])
@pytest.mark.parametrize("attrs", POOL2D, ids=str)
def test_average_pool(attrs, include):
    check("AveragePool", {"x": rand(2, 3, 9, 8)}, count_include_pad=include, **attrs)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool", "LpPool"])
def test_pool_1d_3d(op):
    check(op, {"x": rand(2, 3, 10)}, kernel_shape=[3], strides=[2], pads=[1, 2])
    check(op, {"x": rand(1, 2, 5, 6, 7)}, kernel_shape=[2, 3, 2], strides=[1, 2, 2], pads=[1, 0, 1, 0, 1, 1])


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool", "LpPool"])
@pytest.mark.parametrize("include", [0, 1])
def test_pool_3d_dilated(op, include):
    extra = dict(count_include_pad=include) if op == "AveragePool" else {}
    check(op, {"x": rand(1, 2, 7, 6, 8)}, kernel_shape=[2, 3, 2], strides=[1, 2, 2], dilations=[2, 1, 3],
          pads=[1, 0, 1, 0, 1, 1], ceil_mode=1, atol=1e-4, **extra)


@pytest.mark.parametrize("attrs", POOL2D[:3] + POOL2D[-1:], ids=str)
@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool(attrs, p):
    check("LpPool", {"x": rand(1, 3, 9, 8)}, p=p, atol=1e-4, **attrs)


def test_max_pool_int8():
    x = RNG.integers(-128, 127, (1, 2, 6, 6)).astype(np.int8)
    check("MaxPool", {"x": x}, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[2, 2], strides=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
], ids=str)
def test_max_pool_indices(attrs, order):
    check("MaxPool", {"x": rand(2, 3, 7, 6)}, n_out=2, storage_order=order, **attrs)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pools(op):
    check(op, {"x": rand(2, 3, 5, 4)})
    check(op, {"x": rand(2, 3, 5)})


def test_global_lp_pool():  # onnxruntime has no GlobalLpPool kernel at opset 2+: numpy reference
    x = rand(2, 3, 5, 4)
    got = run_onnx_in_tf(_model("GlobalLpPool", {"x": x}, p=3), [x])[0]
    np.testing.assert_allclose(got, (np.abs(x) ** 3).sum(axis=(2, 3), keepdims=True) ** (1 / 3), rtol=1e-5)


# ---- normalization -----------------------------------------------------------------------------
def _bn_params(c):
    return {"s": rand(c), "b": rand(c), "m": rand(c), "v": RNG.uniform(0.5, 2, c).astype(np.float32)}


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (2, 3, 4, 5), (1, 3, 2, 3, 4)])
def test_batch_norm(shape):
    check("BatchNormalization", {"x": rand(*shape)}, _bn_params(3), epsilon=1e-3)


def test_batch_norm_params_as_inputs():
    check("BatchNormalization", {"x": rand(2, 3, 4, 5), **_bn_params(3)})


def test_batch_norm_training():
    """Lifted by norm_extra.py (batch statistics, running-statistics outputs); more there."""
    check("BatchNormalization", {"x": rand(2, 3, 4)}, _bn_params(3), training_mode=1, n_out=3,
          oracle="ref", atol=1e-4)


def test_instance_norm():
    check("InstanceNormalization", {"x": rand(2, 3, 4, 5)}, {"s": rand(3), "b": rand(3)}, epsilon=1e-3,
          atol=1e-4)
    check("InstanceNormalization", {"x": rand(2, 3, 7), "s": rand(3), "b": rand(3)}, atol=1e-4)


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_layer_norm(axis):
    x = rand(2, 3, 4, 5)
    shape = x.shape[axis:] if axis != -1 else x.shape[-1:]
    check("LayerNormalization", {"x": x}, {"s": rand(*shape), "b": rand(*shape)}, n_out=3, axis=axis,
          atol=1e-4)


def test_layer_norm_half_and_no_bias():
    x = rand(2, 6, dtype=np.float16)
    check("LayerNormalization", {"x": x}, {"s": rand(6, dtype=np.float16)}, atol=2e-3)


def test_group_norm():
    check("GroupNormalization", {"x": rand(2, 6, 4, 3)}, {"s": rand(6), "b": rand(6)}, num_groups=3,
          opset=21, atol=1e-4)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn(size):
    check("LRN", {"x": rand(2, 7, 4, 5)}, size=size, alpha=1e-3, beta=0.6, bias=2.0, atol=1e-5)


def test_lrn_even_size_refused():
    refuses("LRN", {"x": rand(1, 4, 3, 3)}, size=2, match="even size")


def test_dropout():
    check("Dropout", {"x": rand(2, 3)}, n_out=2)
    check("Dropout", {"x": rand(2, 3)}, {"r": np.array(0.3, np.float32), "t": np.array(False)}, n_out=2)


# ---- resize, depth/space -------------------------------------------------------------------
def _resize(x, scales=None, sizes=None, **attrs):
    consts = {"roi": np.zeros(0, np.float32),
              "scales": np.asarray(scales if scales is not None else [], np.float32)}
    if sizes is not None:
        consts["sizes"] = np.asarray(sizes, np.int64)
    return {"x": x}, consts, attrs


RESIZE_OK = [
    dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    dict(mode="nearest", coordinate_transformation_mode="align_corners", nearest_mode="round_prefer_ceil"),
    dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil"),
    dict(mode="nearest"),  # half_pixel, round_prefer_floor: no ties at these sizes
    dict(mode="linear", coordinate_transformation_mode="asymmetric"),
    dict(mode="linear", coordinate_transformation_mode="align_corners"),
    dict(mode="linear"),
    dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"),
    dict(mode="cubic", coordinate_transformation_mode="align_corners"),
    dict(mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1),
]


# nearest round_prefer_floor needs sizes with no exact halves; ResizeBicubic sizes on its table
_SIZES = {3: [(8, 10), (12, 15)], 8: [(7, 9), (13, 17)]}
RESIZE_CASES = [(a, s) for i, a in enumerate(RESIZE_OK) for s in _SIZES.get(i, [(8, 6), (3, 5), (9, 4)])]


@pytest.mark.parametrize("attrs,size", RESIZE_CASES, ids=str)
def test_resize_sizes(attrs, size):
    inputs, consts, attrs = _resize(rand(2, 3, 4, 5), sizes=[2, 3, *size], **attrs)
    check("Resize", inputs, consts, atol=1e-4, **attrs)


def test_resize_integer_scales_dynamic_dims():
    """out = in * 2 needs no static dims (and is never 1: pytorch_half_pixel is half_pixel)."""
    m = _model("Resize", {"x": rand(1, 3, 4, 5)}, _resize(None, scales=[1, 1, 2, 2])[1], mode="linear",
               coordinate_transformation_mode="pytorch_half_pixel")
    for d in (0, 2, 3):
        m.graph.input[0].type.tensor_type.shape.dim[d].dim_param = f"d{d}"
    x = rand(2, 3, 6, 7)
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(run_onnx_in_tf(m, [x])[0], want[0], atol=1e-5)


@pytest.mark.parametrize("attrs", RESIZE_OK[:1] + RESIZE_OK[4:7], ids=str)
def test_resize_scales_and_nhwc(attrs):
    check("Resize", *_resize(rand(1, 3, 4, 5), scales=[1, 1, 2, 3])[:2], atol=1e-5, **attrs)
    check("Resize", *_resize(rand(1, 4, 5, 3), scales=[1, 2, 0.6, 1])[:2], atol=1e-5, **attrs)


@pytest.mark.parametrize("attrs", [
    dict(mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1),  # ScaleAndTranslate
    dict(mode="cubic"), dict(mode="linear"),  # gathers and weights
    dict(mode="linear", coordinate_transformation_mode="align_corners"),
], ids=str)
@pytest.mark.parametrize("oracle", ["ort", "ref"])
def test_resize_antialias_downscale(attrs, oracle):
    inputs, consts, _ = _resize(rand(1, 2, 12, 10), sizes=[1, 2, 5, 4])
    check("Resize", inputs, consts, antialias=1, atol=1e-4, oracle=oracle, **attrs)


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space(mode):
    check("DepthToSpace", {"x": rand(2, 12, 3, 4)}, blocksize=2, mode=mode)


def test_space_to_depth():
    check("SpaceToDepth", {"x": rand(2, 3, 6, 4)}, blocksize=2)


DYNAMIC_OK = [
    dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    dict(mode="nearest", nearest_mode="round_prefer_ceil"),
    dict(mode="linear"),
    dict(mode="linear", coordinate_transformation_mode="align_corners"),
    dict(mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1),
]


@pytest.mark.parametrize("attrs", DYNAMIC_OK, ids=str)
@pytest.mark.parametrize("axes", [None, [3, 2]])
def test_resize_sizes_as_input(attrs, axes):
    x = rand(2, 3, 4, 5)
    sizes = np.asarray([7, 9] if axes else [2, 3, 9, 7], np.int64)
    extra = {"axes": axes} if axes else {}
    check("Resize", {"x": x, "sizes": sizes}, slots=["x", "", "", "sizes"], atol=1e-4, **attrs, **extra)


@pytest.mark.parametrize("attrs", DYNAMIC_OK, ids=str)
def test_resize_sizes_as_input_may_change_batch_and_channels(attrs):
    """Run-time sizes of all four axes: TF's kernel when N and C stay (a StatelessIf), the
    general run-time path when they change (the kernel cannot)."""
    x = rand(2, 3, 4, 5)
    m = _model("Resize", {"x": x, "sizes": np.zeros(4, np.int64)}, slots=["x", "", "", "sizes"], **attrs)
    ops = {n.op for n in lift_to_graph_def(import_onnx(m))[0].node}
    assert "StatelessIf" in ops
    from onnx.reference import ReferenceEvaluator

    ref = ReferenceEvaluator(m)  # onnxruntime resizes N, C by nearest only
    for sizes in ([2, 3, 8, 10], [2, 4, 8, 10], [4, 3, 3, 7], [1, 1, 4, 5], [2, 3, 1, 1]):
        feeds = [x, np.asarray(sizes, np.int64)]
        want = ref.run(None, {"x": x, "sizes": feeds[1]})[0]
        got = run_onnx_in_tf(m, feeds)[0]
        assert got.shape == want.shape == tuple(sizes)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-5)


GATHER_PATH = [  # no TF kernel matches these: gathers and weights
    dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="floor"),
    dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="round_prefer_ceil"),
    dict(mode="nearest", coordinate_transformation_mode="align_corners", nearest_mode="ceil"),
    dict(mode="nearest"),  # half_pixel round_prefer_floor with ties
    dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"),
    dict(mode="linear", coordinate_transformation_mode="half_pixel_symmetric"),
    dict(mode="cubic"),
    dict(mode="cubic", coordinate_transformation_mode="asymmetric", exclude_outside=1),
    dict(mode="cubic", coordinate_transformation_mode="align_corners"),
]


@pytest.mark.parametrize("attrs", GATHER_PATH, ids=str)
@pytest.mark.parametrize("scales,sizes", [(None, [2, 3, 3, 1]), ([1, 1, 1.7, 0.6], None),
                                          (None, [2, 3, 6, 8])])
def test_resize_by_taps(attrs, scales, sizes):
    # align_corners with a non-integral in * scale: onnxruntime divides by the integer output
    # size, ONNX's reference (and the backend tests) by in * scale; we follow the reference
    oracle = "ref" if scales and attrs.get("coordinate_transformation_mode") == "align_corners" else "ort"
    check("Resize", *_resize(rand(2, 3, 4, 5), scales=scales, sizes=sizes)[:2], atol=1e-5, oracle=oracle,
          **attrs)


def test_resize_by_taps_other_axes_and_ranks():
    check("Resize", *_resize(rand(2, 3, 5), sizes=[4, 3, 9])[:2], mode="linear")
    check("Resize", *_resize(rand(2, 3, 4, 5), scales=[1, 2, 1, 1])[:2], mode="nearest")
    check("Resize", *_resize(rand(1, 2, 3, 4, 5), sizes=[1, 2, 5, 6, 7])[:2], mode="linear", atol=1e-5)


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
def test_resize_keep_aspect_ratio(policy):
    inputs, consts, _ = _resize(rand(1, 2, 4, 6), sizes=[7, 9])
    check("Resize", inputs, consts, mode="linear", axes=[2, 3], keep_aspect_ratio_policy=policy)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_tf_crop_and_resize(mode):
    inputs, consts, _ = _resize(rand(1, 2, 6, 6), sizes=[1, 2, 4, 5])
    consts["roi"] = np.asarray([0, 0, -0.2, 0.3, 1, 1, 0.8, 1.2], np.float32)
    check("Resize", inputs, consts, mode=mode, coordinate_transformation_mode="tf_crop_and_resize",
          extrapolation_value=-3.0)


def _backend_cases(prefix):
    import warnings

    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    return [c for c in cases if c.name.startswith(prefix) and not c.name.endswith("_expanded")]


@pytest.mark.parametrize("case", _backend_cases("test_resize_"), ids=lambda c: c.name)
def test_resize_backend_cases_with_constant_sizes(case):
    """ONNX's Resize node tests feed roi/scales/sizes as graph inputs, which lifting cannot see
    (test_lift_conformance.py: refused); here they become initializers, as in real models."""
    model = case.model.__class__()
    model.CopyFrom(case.model)
    g = model.graph
    x, *rest = case.data_sets[0][0]
    for vi, arr in zip(list(g.input)[1:], rest):
        g.initializer.append(numpy_helper.from_array(np.asarray(arr), vi.name))
    del g.input[1:]
    got = run_onnx_in_tf(model, [x])[0]
    np.testing.assert_allclose(got, case.data_sets[0][1][0], atol=1e-4, rtol=1e-4)
