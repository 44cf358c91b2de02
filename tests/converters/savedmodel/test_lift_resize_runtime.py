"""Resize computed at run time (lift/_resize_runtime.py): scales/sizes/roi fed as graph inputs,
inputs whose dims are unknown when lifting, ranks 3 and 5, integer and half inputs; checked
against onnxruntime (or ONNX's reference implementation where noted)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import lift_to_graph_def, run_onnx_in_tf  # noqa: E402

from tensorbridge.converters.onnx import import_onnx  # noqa: E402

pytestmark = pytest.mark.tf
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("tensorflow")

RNG = np.random.default_rng(7)


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def resize_model(x, feeds: dict, dynamic=(), opset=19, **attrs):
    """A Resize whose x and ``feeds`` (some of roi, scales, sizes) are graph inputs; the dims
    of x listed in ``dynamic`` are unknown (dim_param)."""
    slots = ["x"] + [k if k in feeds else "" for k in ("roi", "scales", "sizes")]
    while slots[-1] == "":
        slots.pop()
    shape = [f"d{i}" if i in dynamic else d for i, d in enumerate(x.shape)]
    vis = [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x.dtype), shape)]
    vis += [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for k, v in feeds.items()]
    node = helper.make_node("Resize", slots, ["y"], **attrs)
    out = helper.make_tensor_value_info("y", helper.np_dtype_to_tensor_dtype(x.dtype), None)
    g = helper.make_graph([node], "resize", vis, [out])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)


def check(x, feeds: dict, dynamic=(), oracle="ort", atol=1e-5, **attrs):
    m = resize_model(x, feeds, dynamic, **attrs)
    inputs = {"x": x, **feeds}
    if oracle == "ref":
        from onnx.reference import ReferenceEvaluator

        want = ReferenceEvaluator(m).run(None, inputs)[0]
    else:
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        want = sess.run(None, inputs)[0]
    got = run_onnx_in_tf(m, list(inputs.values()))[0]
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), atol=atol, rtol=1e-5)


def sizes(*v):
    return {"sizes": np.asarray(v, np.int64)}


def scales(*v):
    return {"scales": np.asarray(v, np.float32)}


MODES = [
    dict(mode="nearest"),  # half_pixel, round_prefer_floor (exact halves below)
    dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="round_prefer_ceil"),
    dict(mode="nearest", coordinate_transformation_mode="align_corners", nearest_mode="floor"),
    dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="ceil"),
    dict(mode="linear"),
    dict(mode="linear", coordinate_transformation_mode="asymmetric"),
    dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"),
    dict(mode="linear", coordinate_transformation_mode="half_pixel_symmetric"),
    dict(mode="cubic"),
    dict(mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1),
    dict(mode="cubic", coordinate_transformation_mode="align_corners"),
]


@pytest.mark.parametrize("attrs", MODES, ids=str)
def test_dynamic_input_dims_and_sizes(attrs):
    """No dim of x is known when lifting; one lifted graph runs on two input shapes."""
    m = resize_model(rand(2, 3, 4, 5), sizes(2, 3, 8, 3), dynamic=(0, 1, 2, 3), **attrs)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    for x, s in ((rand(2, 3, 4, 5), [2, 3, 8, 3]), (rand(1, 2, 6, 3), [1, 2, 4, 7])):
        s = np.asarray(s, np.int64)
        want = sess.run(None, {"x": x, "sizes": s})[0]
        np.testing.assert_allclose(run_onnx_in_tf(m, [x, s])[0], want, atol=1e-5, rtol=1e-5)


def oracle_for(attrs):
    """onnxruntime's cubic takes only 2-D and 4-D inputs: ONNX's reference for the others."""
    return "ref" if attrs["mode"] == "cubic" else "ort"


@pytest.mark.parametrize("attrs", MODES[::2], ids=str)
def test_rank_3_scales(attrs):
    check(rand(2, 5, 6), scales(1, 2, 0.5), dynamic=(0, 2), oracle=oracle_for(attrs), **attrs)


@pytest.mark.parametrize("attrs", MODES[1::2], ids=str)
def test_rank_5_sizes(attrs):
    check(rand(1, 2, 3, 4, 5), sizes(1, 2, 5, 3, 7), dynamic=(2, 3, 4), oracle=oracle_for(attrs), **attrs)


def test_rank_5_axes_subset():
    check(rand(1, 2, 3, 4, 5), sizes(6, 2), mode="linear", axes=[4, 2])


@pytest.mark.parametrize("attrs", [
    dict(mode="linear"), dict(mode="cubic"), dict(mode="cubic", exclude_outside=1),
    dict(mode="linear", coordinate_transformation_mode="align_corners"),
], ids=str)
def test_antialias_mixed_scales(attrs):
    """Downscaling one axis (a wider filter) and upscaling another in the same graph. With
    align_corners and in * scale not integral (12 * 0.4) onnxruntime maps by the integer output
    size, ONNX's reference (and the backend tests) by in * scale: the reference's is taken."""
    oracle = "ref" if "coordinate_transformation_mode" in attrs else "ort"
    check(rand(1, 2, 12, 5), scales(1, 1, 0.4, 1.6), dynamic=(2, 3), antialias=1, atol=1e-4, oracle=oracle,
          **attrs)


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
def test_keep_aspect_ratio_dynamic(policy):
    check(rand(1, 2, 4, 6), sizes(7, 9), dynamic=(2, 3), mode="linear", axes=[2, 3],
          keep_aspect_ratio_policy=policy)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_tf_crop_and_resize_runtime_roi(mode):
    feeds = {"roi": np.asarray([-0.2, 0.3, 0.8, 1.2], np.float32), **sizes(4, 5)}
    check(rand(1, 2, 6, 6), feeds, dynamic=(0, 2), mode=mode, axes=[2, 3],
          coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-3.0)


@pytest.mark.parametrize("attrs", [
    dict(mode="cubic"),
    dict(mode="linear", coordinate_transformation_mode="tf_crop_and_resize"),  # no roi: [0, 1]
    dict(mode="nearest", coordinate_transformation_mode="asymmetric"),
    dict(mode="nearest"),
], ids=str)
def test_sizes_as_input_no_tf_kernel(attrs):
    """These were refused before the run-time path (no TF kernel, no constant sizes)."""
    m = resize_model(rand(1, 2, 4, 4), sizes(1, 2, 8, 8), **attrs)
    x, s = rand(1, 2, 4, 4), np.asarray([1, 2, 8, 8], np.int64)
    got = run_onnx_in_tf(m, [x, s])[0]
    if attrs.get("coordinate_transformation_mode") == "tf_crop_and_resize":
        attrs = dict(mode="linear", coordinate_transformation_mode="align_corners")  # the same map
    want = check_model_ort(resize_model(x, sizes(1, 2, 8, 8), **attrs), {"x": x, "sizes": s})
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def check_model_ort(m, feeds):
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32])
@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_integer_input_rounds_like_the_reference(dtype, mode):
    info = np.iinfo(dtype)
    x = RNG.integers(max(info.min, -1000), min(info.max, 1000), (1, 1, 5, 6), endpoint=True).astype(dtype)
    check(x, scales(1, 1, 1.6, 0.7), oracle="ref", atol=0, mode=mode)


def test_float16_input():
    check(rand(1, 2, 4, 5, dtype=np.float16), scales(1, 1, 1.5, 2.0), atol=2e-3, mode="cubic")


def test_nearest_keeps_any_type():
    """int64 beyond float64's integers: gathered, never through floats (onnxruntime has no
    int64 Resize)."""
    x = RNG.integers(2**60, 2**62, (2, 3, 4), dtype=np.int64)
    m = resize_model(x, sizes(2, 5, 7), dynamic=(1,), mode="nearest", nearest_mode="floor",
                     coordinate_transformation_mode="asymmetric")
    got = run_onnx_in_tf(m, [x, np.asarray([2, 5, 7], np.int64)])[0]
    np.testing.assert_array_equal(got, x[:, [0, 0, 1, 1, 2]][:, :, [0, 0, 1, 1, 2, 2, 3]])


def test_graph_size_is_moderate():
    """Coordinate maps are computed once for all resized axes (not per axis)."""
    m = resize_model(rand(1, 2, 4, 5), scales(1, 1, 1.5, 0.5), mode="cubic")
    gd, _, _ = lift_to_graph_def(import_onnx(m))
    assert len(gd.node) < 130, len(gd.node)
    assert sum(n.op == "Einsum" for n in gd.node) == 4
