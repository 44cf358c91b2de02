"""Lifting GridSample, RoiAlign and NonMaxSuppression to TF, checked against onnxruntime on
what ONNX's node tests leave out (out-of-range grids per padding mode, 3-D, dynamic shapes,
adaptive RoiAlign sampling, NMS over several batches and classes, ties, thresholds)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import helper, numpy_helper, shape_inference

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import run_onnx_in_tf  # noqa: E402

from tensorbridge.converters.onnx import import_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.lift import lift_model  # noqa: E402
from tensorbridge.errors import UnsupportedOpError  # noqa: E402

pytestmark = pytest.mark.tf
ort = pytest.importorskip("onnxruntime")
tf = pytest.importorskip("tensorflow")

RNG = np.random.default_rng(7)


def _model(op, inputs, consts=None, opset=22, dyn=(), **attrs):
    """One ``op`` node over graph inputs ``inputs`` then initializers ``consts`` (name -> array,
    None for an omitted input); inputs named in ``dyn`` get every dim unknown."""
    consts = consts or {}
    names = [k if v is not None else "" for k, v in [*inputs.items(), *consts.items()]]
    while names and not names[-1]:
        names.pop()
    node = helper.make_node(op, names, ["y"], **attrs)
    vis = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype),
                                         [None] * v.ndim if k in dyn else v.shape)
           for k, v in inputs.items()]
    inits = [numpy_helper.from_array(v, k) for k, v in consts.items() if v is not None]
    g = helper.make_graph([node], op, vis, [helper.make_empty_tensor_value_info("y")], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    return shape_inference.infer_shapes(m, strict_mode=True)


def check(op, inputs, consts=None, opset=22, dyn=(), atol=1e-5, oracle="ort", **attrs):
    """Lifted to TF vs onnxruntime (``oracle="ref"``: vs ONNX's reference implementation)."""
    m = _model(op, inputs, consts, opset, dyn, **attrs)
    if oracle == "ref":
        from onnx.reference import ReferenceEvaluator

        want = ReferenceEvaluator(m).run(None, dict(inputs))[0]
    else:
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        want = sess.run(None, dict(inputs))[0]
    got = run_onnx_in_tf(m, list(inputs.values()))[0]
    assert got.dtype == want.dtype
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, atol=atol, rtol=1e-5)


def refuses(op, inputs, consts=None, opset=22, match="", dyn=(), **attrs):
    model = import_onnx(_model(op, inputs, consts, opset, dyn, **attrs))
    with pytest.raises(UnsupportedOpError, match=match):
        lift_model(model)


# ---- GridSample --------------------------------------------------------------------------
def _grid(n, *out, spread=1.6):
    """Normalized coordinates in [-spread, spread] (past [-1, 1]: outside the image), with some
    exact borders and pixel centres mixed in."""
    g = RNG.uniform(-spread, spread, (n, *out, len(out))).astype(np.float32)
    flat = g.reshape(-1)
    flat[::7] = np.float32(-1.0)
    flat[3::11] = np.float32(1.0)
    flat[5::13] = np.float32(0.0)
    return g


@pytest.mark.parametrize("align", [0, 1])
@pytest.mark.parametrize("pad", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_grid_sample_2d_out_of_range(mode, pad, align):
    x = RNG.standard_normal((2, 3, 5, 6)).astype(np.float32)
    # cubic + border: onnxruntime (like PyTorch) clamps only the four taps, ONNX's reference
    # (which the node tests follow) clamps the coordinate first: the reference is the spec here
    oracle = "ref" if (mode, pad) == ("cubic", "border") else "ort"
    check("GridSample", {"x": x, "grid": _grid(2, 4, 7, spread=2.5)}, mode=mode, padding_mode=pad,
          align_corners=align, atol=1e-4, oracle=oracle)


@pytest.mark.parametrize("align", [0, 1])
@pytest.mark.parametrize("pad", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_grid_sample_3d(mode, pad, align):
    x = RNG.standard_normal((2, 2, 3, 4, 5)).astype(np.float32)
    check("GridSample", {"x": x, "grid": _grid(2, 2, 3, 4, spread=1.8)}, mode=mode, padding_mode=pad,
          align_corners=align, atol=1e-4)


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_grid_sample_dynamic_shapes(mode):
    x = RNG.standard_normal((1, 2, 4, 5)).astype(np.float32)
    check("GridSample", {"x": x, "grid": _grid(1, 3, 3, spread=1.3)}, dyn=("x", "grid"), mode=mode,
          padding_mode="reflection", atol=1e-4)


def test_grid_sample_nearest_ties_round_to_even():
    x = np.arange(8, dtype=np.float32).reshape(1, 1, 1, 8)
    # align_corners=1: x = (g + 1) * 3.5, halves at g = k / 7 - 1 + 1/7
    g = np.zeros((1, 1, 8, 2), np.float32)
    g[..., 0] = (np.arange(8) + 0.5) / 3.5 - 1
    check("GridSample", {"x": x, "grid": g}, mode="nearest", align_corners=1)


def test_grid_sample_double_and_int_nearest():  # onnxruntime has float only
    x = RNG.standard_normal((1, 2, 4, 4))
    check("GridSample", {"x": x, "grid": _grid(1, 3, 3).astype(np.float64)}, mode="linear", atol=1e-9,
          oracle="ref")
    xi = RNG.integers(-50, 50, (1, 2, 4, 4)).astype(np.int32)
    check("GridSample", {"x": xi, "grid": _grid(1, 3, 3)}, mode="nearest", padding_mode="zeros", oracle="ref")


def test_grid_sample_refuses_linear_ints():
    xi = RNG.integers(-50, 50, (1, 2, 4, 4)).astype(np.int32)
    refuses("GridSample", {"x": xi, "grid": _grid(1, 3, 3)}, mode="linear", match="linear GridSample of")


# ---- RoiAlign ----------------------------------------------------------------------------
# (onnxruntime implements RoiAlign up to opset 16; the import brings it to the IR opset)
def _rois(n):
    """ROIs [x1, y1, x2, y2] in input pixels: inside, partly and wholly outside, tiny, inverted."""
    fixed = np.array([[0, 0, 9, 7], [-3, -2, 4, 3], [6, 5, 14, 12], [11, 9, 16, 15], [2, 3, 2.4, 3.2],
                      [5, 4, 1, 2], [1.3, 0.7, 8.9, 6.1]], np.float32)
    rand = RNG.uniform(-2, 12, (n, 2)).astype(np.float32)
    rand = np.concatenate([rand, rand + RNG.uniform(0, 8, (n, 2)).astype(np.float32)], axis=1)
    return np.concatenate([fixed, rand])


@pytest.mark.parametrize("ratio", [0, 2, 3])
@pytest.mark.parametrize("ctm", ["half_pixel", "output_half_pixel"])
@pytest.mark.parametrize("mode", ["avg", "max"])
def test_roi_align(mode, ctm, ratio):
    x = RNG.standard_normal((2, 3, 8, 10)).astype(np.float32)
    rois = _rois(5)
    batch = RNG.integers(0, 2, len(rois)).astype(np.int64)
    check("RoiAlign", {"x": x, "rois": rois, "batch": batch}, mode=mode, coordinate_transformation_mode=ctm,
          sampling_ratio=ratio, output_height=3, output_width=4, spatial_scale=0.8, atol=1e-5, opset=16)


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_roi_align_dynamic_shapes(mode):
    x = RNG.standard_normal((2, 2, 6, 7)).astype(np.float32)
    rois = _rois(3)
    batch = RNG.integers(0, 2, len(rois)).astype(np.int64)
    check("RoiAlign", {"x": x, "rois": rois, "batch": batch}, dyn=("x", "rois", "batch"), mode=mode,
          output_height=2, output_width=3, spatial_scale=1.0, atol=1e-5, opset=16)


# ---- NonMaxSuppression -------------------------------------------------------------------
def _boxes(b, n, center=False):
    """Overlapping boxes, corners in either order (or centre/size)."""
    p = RNG.uniform(0, 6, (b, n, 2)).astype(np.float32)
    size = RNG.uniform(1, 4, (b, n, 2)).astype(np.float32)
    if center:
        return np.concatenate([p[..., ::-1], size[..., ::-1]], axis=-1)  # x_c, y_c, w, h
    q = p + size
    flip = RNG.random((b, n, 1)) < 0.3
    return np.where(flip, np.concatenate([q, p], -1), np.concatenate([p, q], -1)).astype(np.float32)


def _scores(b, c, n, ties=True):
    s = RNG.random((b, c, n)).astype(np.float32)
    return np.round(s * 4).astype(np.float32) / 4 if ties else s  # many equal scores


def _nms(inputs, limit=None, iou=None, threshold=None, dyn=(), oracle="ort", **attrs):
    consts = {"limit": None if limit is None else np.array([limit], np.int64),
              "iou": None if iou is None else np.array([iou], np.float32),
              "threshold": None if threshold is None else np.array([threshold], np.float32)}
    check("NonMaxSuppression", inputs, consts, dyn=dyn, oracle=oracle, **attrs)


@pytest.mark.parametrize("center", [0, 1])
@pytest.mark.parametrize("threshold", [None, 0.25, 0.5])
@pytest.mark.parametrize("iou", [0.0, 0.3, 0.7])
def test_nms_batches_classes(iou, threshold, center):
    inputs = {"boxes": _boxes(3, 12, center), "scores": _scores(3, 2, 12)}
    _nms(inputs, limit=5, iou=iou, threshold=threshold, center_point_box=center)


def test_nms_center_negative_sizes():
    boxes = _boxes(1, 10, center=True)
    boxes[0, ::3, 2] *= -1  # negative widths
    boxes[0, 1::4, 3] *= -1  # negative heights
    boxes[0, 5, 2] = 0
    _nms({"boxes": boxes, "scores": _scores(1, 2, 10)}, limit=10, iou=0.1, center_point_box=1)


@pytest.mark.parametrize("limit", [None, 0, -2, 1, 100])
def test_nms_limits(limit):
    _nms({"boxes": _boxes(2, 8), "scores": _scores(2, 3, 8)}, limit=limit, iou=0.4)


def test_nms_thresholds_out_of_range_and_infinite_scores():
    scores = _scores(1, 2, 9)
    scores[0, 0, [1, 4]] = -np.inf
    inputs = {"boxes": _boxes(1, 9), "scores": scores}
    _nms(inputs, limit=9, iou=0.5)
    # outside [0, 1] onnxruntime refuses; ONNX's reference selects (as TF with the clamped value)
    _nms(inputs, limit=9, iou=1.5, oracle="ref")
    _nms(inputs, limit=9, iou=-0.5, oracle="ref")


def test_nms_run_time_parameters():
    inputs = {"boxes": _boxes(2, 10), "scores": _scores(2, 2, 10), "limit": np.array([3], np.int64),
              "iou": np.array([0.45], np.float32), "threshold": np.array([0.3], np.float32)}
    check("NonMaxSuppression", inputs, dyn=("boxes",))


def _nms_model(dyn_dims, limit=3, iou=0.4, threshold=0.5, **attrs):
    """NonMaxSuppression with scores dims ``dyn_dims`` (of batch, class, box) unknown."""
    s_dims = ["batch" if 0 in dyn_dims else 2, "cls" if 1 in dyn_dims else 2, 10]
    vis = [helper.make_tensor_value_info("boxes", 1, [s_dims[0], 10, 4]),
           helper.make_tensor_value_info("scores", 1, s_dims)]
    consts = [numpy_helper.from_array(np.array([limit], np.int64), "limit"),
              numpy_helper.from_array(np.array([iou], np.float32), "iou"),
              numpy_helper.from_array(np.array([threshold], np.float32), "threshold")]
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores", "limit", "iou", "threshold"], ["y"],
                            **attrs)
    g = helper.make_graph([node], "nms", vis, [helper.make_tensor_value_info("y", 7, [None, 3])], consts)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 22)], ir_version=10)


def _nms_cases():
    """(boxes, scores) at several batch and class counts: none, one, several; some with no score
    above the threshold (no box selected) in one pair or all."""
    for b, c in [(0, 2), (1, 1), (3, 2), (2, 0), (4, 3)]:
        boxes, scores = _boxes(b, 10), _scores(b, c, 10, ties=False)
        if b * c > 1:
            scores[min(1, b - 1), -1] *= 0.4  # this pair selects nothing
        yield boxes, scores
    yield _boxes(2, 10), _scores(2, 3, 10) * 0.4  # nothing selected anywhere


@pytest.mark.parametrize("center", [0, 1])
@pytest.mark.parametrize("dyn_dims", [(0,), (1,), (0, 1)], ids=["batch", "class", "both"])
def test_nms_run_time_batch_and_class_counts(dyn_dims, center):
    m = _nms_model(dyn_dims, center_point_box=center)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    for boxes, scores in _nms_cases():
        if 0 not in dyn_dims and scores.shape[0] != 2 or 1 not in dyn_dims and scores.shape[1] != 2:
            continue
        want = sess.run(None, {"boxes": boxes, "scores": scores})[0]
        got = run_onnx_in_tf(m, [boxes, scores])[0]
        assert got.dtype == want.dtype == np.int64
        assert got.shape == want.shape, (got.shape, want.shape, scores.shape)
        np.testing.assert_array_equal(got, want)


def test_nms_run_time_batch_saved_model_round_trip(tmp_path):
    import onnx

    import tensorbridge

    m = _nms_model((0,))
    onnx.save(m, tmp_path / "nms.onnx")
    tensorbridge.convert(tmp_path / "nms.onnx", tmp_path / "sm")
    serve = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    for boxes, scores in _nms_cases():
        if scores.shape[1] != 2:
            continue
        want = sess.run(None, {"boxes": boxes, "scores": scores})[0]
        got = serve(boxes=tf.constant(boxes), scores=tf.constant(scores))
        (got,) = (v.numpy() for v in got.values())
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)


# ---- AffineGrid ---------------------------------------------------------------------------
def _theta(n, k):
    return (np.eye(k, k + 1) + RNG.uniform(-0.4, 0.4, (n, k, k + 1))).astype(np.float32)


@pytest.mark.filterwarnings("ignore:divide by zero")  # ONNX's reference on an aligned size-1 axis
@pytest.mark.parametrize("align", [0, 1])
@pytest.mark.parametrize("size", [[2, 3, 5, 7], [1, 1, 1, 4], [3, 2, 6, 1], [2, 1, 3, 4, 5], [1, 2, 1, 6, 2]])
def test_affine_grid_run_time_size(size, align):
    inputs = {"theta": _theta(size[0], len(size) - 2), "size": np.array(size, np.int64)}
    # size 1 on an aligned axis: ONNX's reference gives -1 (onnxruntime gives +1)
    oracle = "ref" if align and 1 in size[2:] else "ort"
    check("AffineGrid", inputs, opset=20, dyn=("theta",), align_corners=align, oracle=oracle)


@pytest.mark.parametrize("k", [2, 3])
def test_affine_grid_other_float_types(k):  # computed in float64, rounded once
    theta = _theta(2, k)
    size = np.array([2, 1, 4, 3, 5][:k + 2], np.int64)
    want = _affine_ref(theta.astype(np.float64), size, 1)
    for dt, atol in [(np.float64, 1e-12), (np.float16, 2e-3)]:
        m = _model("AffineGrid", {"theta": theta.astype(dt), "size": size}, opset=20, align_corners=1)
        got = run_onnx_in_tf(m, [theta.astype(dt), size])[0]
        assert got.dtype == dt
        np.testing.assert_allclose(got, want, atol=atol)


def _affine_ref(theta, size, align):
    """ONNX's reference, kept in theta's precision."""
    from onnx.reference.ops.op_affine_grid import construct_original_grid

    grid = construct_original_grid(list(size[2:]), align)
    k = len(size) - 2
    rows = grid.reshape(-1, k + 1)
    return np.einsum("nij,pj->npi", theta, rows).reshape(len(theta), *size[2:], k)


def test_half_precision():  # computed in float32, rounded once (onnxruntime has float only)
    x = RNG.standard_normal((1, 2, 5, 6)).astype(np.float16)
    check("GridSample", {"x": x, "grid": _grid(1, 3, 4).astype(np.float16)}, mode="cubic",
          padding_mode="reflection", atol=2e-2, oracle="ref")
    rois = _rois(2)
    check("RoiAlign", {"x": x, "rois": rois.astype(np.float16), "batch": np.zeros(len(rois), np.int64)},
          output_height=2, output_width=2, atol=2e-2, oracle="ref")
