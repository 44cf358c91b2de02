"""Math-family lift handlers (lift/math.py, elementwise.py, activations.py, matmul.py, reduce.py)
on the cases ONNX's own conformance suite does not reach: the integer rounding traps, mixed-type
Pow, unsigned types TF's kernels lack, runtime axes, unknown ranks, ties. Each model is one
ONNX node, lifted and run in TF, checked against onnx's reference evaluator (ints/bools exact).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import run_onnx_in_tf  # noqa: E402

from tensorbridge.converters.onnx import import_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.lift import lift_model  # noqa: E402
from tensorbridge.errors import UnsupportedOpError  # noqa: E402

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tf
RNG = np.random.default_rng(0)


def _model(op, inputs, consts=None, attrs=None, n_out=1, unknown_rank=(), opset=26):
    consts = consts or {}
    vis = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype),
                                         None if k in unknown_rank else v.shape) for k, v in inputs.items()]
    names = [*inputs, *consts]
    node = helper.make_node(op, names, [f"y{i}" for i in range(n_out)], **(attrs or {}))
    outs = [helper.make_tensor_value_info(f"y{i}", 0, None) for i in range(n_out)]
    inits = [numpy_helper.from_array(v, k) for k, v in consts.items()]
    g = helper.make_graph([node], "g", vis, outs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def check(op, inputs, consts=None, attrs=None, n_out=1, unknown_rank=(), rtol=1e-5, order=None):
    """Lift + run ``op`` in TF and compare with the ONNX reference; ``order`` names the inputs
    in node order when constants come between runtime inputs."""
    proto = _model(op, inputs, consts, attrs, n_out, unknown_rank)
    if order is not None:
        proto.graph.node[0].input[:] = order
    expected = ReferenceEvaluator(proto).run(None, inputs)
    actual = run_onnx_in_tf(proto, list(inputs.values()))
    for e, a in zip(expected, actual):
        e = np.asarray(e)
        assert a.shape == e.shape and a.dtype == e.dtype, (a.shape, e.shape, a.dtype, e.dtype)
        if e.dtype.kind in "fc":
            np.testing.assert_allclose(a, e, rtol=rtol, atol=1e-6, equal_nan=True)
        else:
            np.testing.assert_array_equal(a, e)
    return actual


def _ints(dtype, shape=(3, 4), lo=-9, hi=10):
    info = np.iinfo(dtype)
    return RNG.integers(max(lo, info.min), min(hi, info.max), shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64])
def test_integer_div_truncates_and_mod_signs(dtype):
    a = _ints(dtype)
    b = _ints(dtype, lo=1) * (np.array(-1).astype(dtype) if np.issubdtype(dtype, np.signedinteger) else 1)
    check("Div", {"a": a, "b": b})
    check("Mod", {"a": a, "b": b})
    check("Mod", {"a": a, "b": b}, attrs={"fmod": 1})


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_fmod_takes_dividend_sign(dtype):
    a = np.array([-7.5, 7.5, -3.0, 5.25], dtype)
    b = np.array([2.0, -2.0, 2.5, -1.5], dtype)
    check("Mod", {"a": a, "b": b}, attrs={"fmod": 1})


@pytest.mark.parametrize(("xt", "yt"), [(np.int32, np.float32), (np.int64, np.float64),
                                        (np.float32, np.int64), (np.float16, np.float32),
                                        (np.int32, np.int64), (np.uint8, np.int32)])
def test_pow_mixed_types(xt, yt):
    x = np.array([1, 2, 3, 4, 5], xt)
    y = np.array([0.5, 2, 3, 1.5, 0], yt) if np.dtype(yt).kind == "f" else np.array([3, 2, 1, 0, 2], yt)
    check("Pow", {"x": x, "y": y})


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64, np.int8])
def test_unsigned_and_narrow_kernels(dtype):
    x = _ints(dtype, lo=-5, hi=40)
    for op in ("Abs", "Sign", "BitwiseNot"):
        check(op, {"x": x})
    check("Clip", {"x": x}, consts={"lo": np.array(3, dtype), "hi": np.array(20, dtype)})
    check("Max", {"a": x, "b": x[:1]})


def test_variadic_broadcast_and_clip_optional():
    a, b, c = (RNG.standard_normal(s).astype(np.float32) for s in ((3, 4), (3, 1), (4,)))
    for op in ("Sum", "Mean", "Max", "Min"):
        check(op, {"a": a, "b": b, "c": c})
        check(op, {"a": a})
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    check("Clip", {"x": x}, consts={"hi": np.array(0.2, np.float32)}, order=["x", "", "hi"])
    check("Clip", {"x": x})


def test_isinf_variants_and_round_half_even():
    x = np.array([-np.inf, -1.0, 0.0, np.inf, np.nan], np.float32)
    for pos, neg in ((1, 1), (1, 0), (0, 1), (0, 0)):
        check("IsInf", {"x": x}, attrs={"detect_positive": pos, "detect_negative": neg})
    check("Round", {"x": np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4], np.float32)})


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceL2", "ReduceLogSumExp",
                                "ReduceSumSquare", "ReduceProd"])
@pytest.mark.parametrize("noop", [0, 1])
@pytest.mark.parametrize("axes", [[1], [], [-1, 0]])
def test_reductions_with_runtime_axes(op, noop, axes):
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    ax = np.array(axes, np.int64)
    check(op, {"x": x, "axes": ax}, attrs={"noop_with_empty_axes": noop, "keepdims": 1})
    check(op, {"x": x}, consts={"axes": ax}, attrs={"noop_with_empty_axes": noop, "keepdims": 0})


def test_reductions_bool_int_and_unknown_rank():
    b = RNG.integers(0, 2, (3, 4)).astype(bool)
    check("ReduceMax", {"x": b}, consts={"axes": np.array([1], np.int64)})
    check("ReduceMin", {"x": b}, consts={"axes": np.array([0], np.int64)})
    check("ReduceL1", {"x": _ints(np.uint8, lo=0)}, consts={"axes": np.array([1], np.int64)})
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    check("ReduceSum", {"x": x}, unknown_rank=("x",))


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("last", [0, 1])
@pytest.mark.parametrize("axis", [0, -1])
def test_argmax_ties(op, last, axis):
    x = np.array([[1, 3, 3, 0], [2, 2, 1, 2], [0, 0, 0, 0]], np.int32)
    for keep in (0, 1):
        check(op, {"x": x}, attrs={"axis": axis, "keepdims": keep, "select_last_index": last})


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64, np.uint8])
@pytest.mark.parametrize("largest", [0, 1])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_topk_ties_axes_and_smallest(dtype, largest, axis):
    x = np.array([[3, 1, 3, 0, 2], [0, 2, 2, 2, 255 if dtype == np.uint8 else -4], [5, 5, 1, 1, 0]])
    x = x.astype(dtype)
    k = 2 if axis in (0,) else 3
    check("TopK", {"x": x}, consts={"k": np.array([k], np.int64)},
          attrs={"axis": axis, "largest": largest}, n_out=2)


def test_topk_extreme_ints_smallest():
    x = np.array([np.iinfo(np.int32).min, 0, np.iinfo(np.int32).max, -1], np.int32)
    check("TopK", {"x": x, "k": np.array([3], np.int64)}, attrs={"largest": 0}, n_out=2)


@pytest.mark.parametrize(("sa", "sb"), [((4,), (4, 3)), ((2, 4), (4,)), ((4,), (4,)), ((5, 2, 4), (4,)),
                                        ((4,), (5, 4, 3)), ((2, 1, 3, 4), (5, 4, 2))])
@pytest.mark.parametrize("unknown", [False, True])
def test_matmul_numpy_ranks(sa, sb, unknown):
    a, b = (RNG.standard_normal(s).astype(np.float32) for s in (sa, sb))
    check("MatMul", {"a": a, "b": b}, unknown_rank=("a", "b") if unknown else ())


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64, np.int32])
def test_matmul_integer_types_wrap(dtype):
    a, b = _ints(dtype, (2, 3), 0, 200), _ints(dtype, (3, 2), 0, 200)
    check("MatMul", {"a": a, "b": b})


def test_gemm_and_matmul_integer_and_einsum():
    a, b = RNG.standard_normal((4, 3)).astype(np.float32), RNG.standard_normal((5, 4)).astype(np.float32)
    c = RNG.standard_normal((1, 5)).astype(np.float32)
    check("Gemm", {"a": a, "b": b, "c": c}, attrs={"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0})
    check("Gemm", {"a": a.T.copy(), "b": b.T.copy()})
    qa, qb = _ints(np.uint8, (2, 3), 0, 255), _ints(np.int8, (3, 4), -128, 127)
    check("MatMulInteger", {"a": qa, "b": qb, "za": np.array(3, np.uint8), "zb": np.array(5, np.int8)})
    # a per-row a_zero_point (the reference evaluator mis-broadcasts it: numpy instead)
    za = np.array([3, 200], np.uint8)
    proto = _model("MatMulInteger", {"a": qa, "b": qb, "za": za})
    (y,) = run_onnx_in_tf(proto, [qa, qb, za])
    np.testing.assert_array_equal(y, (qa.astype(np.int32) - za[:, None]) @ qb.astype(np.int32))
    x, y = RNG.standard_normal((2, 3)).astype(np.float32), RNG.standard_normal((3, 4)).astype(np.float32)
    check("Einsum", {"x": x, "y": y}, attrs={"equation": "ij, jk"})
    check("Einsum", {"x": x}, attrs={"equation": "ij->ji"})
    ints = {"x": _ints(np.int64, (2, 3)), "y": _ints(np.int64, (3, 4))}
    check("Einsum", ints, attrs={"equation": "ij,jk->ik"})


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family_axes(axis):
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    for op in ("Softmax", "LogSoftmax", "Hardmax"):
        check(op, {"x": x}, attrs={"axis": axis})
    ties = np.array([[1, 3, 3], [2, 2, 2]], np.float32)
    check("Hardmax", {"x": ties}, attrs={"axis": axis if axis != 0 else 1})


def test_activations_with_attributes():
    x = np.linspace(-4, 4, 17, dtype=np.float32)
    cases = [("Elu", {"alpha": 0.5}), ("Selu", {"alpha": 2.0, "gamma": 3.0}), ("Celu", {"alpha": 2.0}),
             ("LeakyRelu", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("HardSwish", {}),
             ("ThresholdedRelu", {"alpha": 0.5}), ("Shrink", {"bias": 1.5, "lambd": 1.0}),
             ("Gelu", {"approximate": "tanh"}), ("Gelu", {}), ("Mish", {}), ("Softplus", {})]
    for op, attrs in cases:
        check(op, {"x": x}, attrs=attrs)
    check("Shrink", {"x": _ints(np.int32)}, attrs={"bias": 1.5, "lambd": 2.0})
    check("PRelu", {"x": x.reshape(1, 17), "s": np.array([0.1], np.float32)})
    check("PRelu", {"x": _ints(np.int64, (2, 3)), "s": np.array([[2], [3]], np.int64)})


def test_casts():
    x = np.array([-2.7, -0.5, 0.0, 0.5, 3.9, 1e10], np.float32)
    check("Cast", {"x": x[:-1]}, attrs={"to": 6})  # float -> int32 truncates toward zero
    check("Cast", {"x": x[:-1]}, attrs={"to": 9})  # -> bool is != 0
    check("CastLike", {"x": x[:-1], "like": np.zeros(0, np.int8)})
    big = np.array([500.0, -1e6, np.inf, 3.3], np.float32)
    check("Cast", {"x": big}, attrs={"to": 17})  # float8e4m3fn saturates


def test_string_cast_refused():
    proto = _model("Cast", {"x": np.zeros(2, np.float32)}, attrs={"to": 8})
    with pytest.raises(UnsupportedOpError, match="string"):
        lift_model(import_onnx(proto))


def test_cumsum_flags_and_logic():
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    for ex in (0, 1):
        for rev in (0, 1):
            check("CumSum", {"x": x, "axis": np.array(-1, np.int32)}, attrs={"exclusive": ex, "reverse": rev})
    a, b = (RNG.integers(0, 2, (2, 3)).astype(bool) for _ in range(2))
    for op in ("And", "Or", "Xor"):
        check(op, {"a": a, "b": b})
    check("Where", {"c": a, "x": x[:2, :3], "y": np.float32([1.0])})
    shifts = {"a": _ints(np.uint16, lo=0), "b": _ints(np.uint16, lo=0, hi=4)}
    check("BitShift", shifts, attrs={"direction": "RIGHT"})


def test_nan_propagation():
    x = np.array([np.nan, 1.0, -2.0, np.nan], np.float32)
    y = np.array([0.0, np.nan, 3.0, np.nan], np.float32)
    for op in ("Max", "Min", "Sum", "Mean"):
        check(op, {"x": x, "y": y})
    for op in ("Sign", "Abs", "Relu", "Floor", "Round", "IsNaN"):
        check(op, {"x": x})
    check("Clip", {"x": x}, consts={"lo": np.array(-1, np.float32), "hi": np.array(0.5, np.float32)})


def test_integer_gemm_fractional_scale_and_cumsum_vector_axis():
    a, b, c = _ints(np.int32, (2, 3)), _ints(np.int32, (3, 4)), _ints(np.int32, (4,))
    check("Gemm", {"a": a, "b": b, "c": c}, attrs={"alpha": 0.5, "beta": 1.5})
    check("Gemm", {"a": a, "b": b, "c": c}, attrs={"alpha": 2.0, "beta": -1.0})
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    proto = _model("CumSum", {"x": x}, consts={"axis": np.array([1], np.int64)})
    (y,) = run_onnx_in_tf(proto, [x])
    np.testing.assert_allclose(y, np.cumsum(x, axis=1), rtol=1e-6)


def test_bitcast_cumprod_swish_windows():
    x = RNG.standard_normal((2, 3)).astype(np.float32)
    check("BitCast", {"x": x}, attrs={"to": 6})  # float32 -> int32 bits
    check("BitCast", {"x": _ints(np.int16)}, attrs={"to": 10})  # int16 -> float16 bits
    check("BitCast", {"x": np.array([0, 1, 1], np.uint8)}, attrs={"to": 9})
    check("CumProd", {"x": x, "axis": np.array(0, np.int64)}, attrs={"exclusive": 1, "reverse": 1})
    check("Swish", {"x": x}, attrs={"alpha": 1.5})
    for op in ("HannWindow", "HammingWindow", "BlackmanWindow"):
        for periodic, out in ((0, 11), (1, 1), (1, 7)):
            check(op, {"n": np.array(7, np.int32)}, attrs={"periodic": periodic, "output_datatype": out})


def test_integer_reduce_mean_does_not_overflow():
    x = np.array([[2**30, 2**30, -7], [-5, 2, 0]], np.int32)
    check("ReduceMean", {"x": x}, consts={"axes": np.array([1], np.int64)})


@pytest.mark.parametrize("n", [None, 6, 12])
@pytest.mark.parametrize(("inverse", "onesided"), [(0, 0), (0, 1), (1, 0)])
def test_dft_lengths_and_constant_axis(n, inverse, onesided):
    x = RNG.standard_normal((2, 8, 3, 2))
    consts = {"axis": np.array(1, np.int64)}
    if n is not None:
        consts = {"n": np.array(n, np.int64), **consts}
    order = ["x", "n" if n is not None else "", "axis"]
    attrs = {"inverse": inverse, "onesided": onesided}
    check("DFT", {"x": x}, consts=consts, attrs=attrs, order=order, rtol=1e-9)
    check("DFT", {"x": x[..., :1].astype(np.float32)}, consts=consts, attrs=attrs, order=order, rtol=1e-4)
