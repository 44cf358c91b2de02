"""Our own down-conversion rewrites (converters/onnx/_lower.py): each is exact (ORT gives the
same numbers at opset 13 as at the canonical opset) or refuses with the op, node and feature."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_ort_helpers as _ort
import pytest
from onnx import TensorProto, helper

from tensorbridge import ir
from tensorbridge.converters.onnx import import_onnx, to_model_proto
from tensorbridge.errors import ConversionError


def _model(nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", ir.CANONICAL_OPSET)])
    m.ir_version = 10
    return m


def _vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def _out(name, elem, rank):
    """An output of known rank (the checker wants a shape on lowered models' outputs)."""
    return helper.make_tensor_value_info(name, elem, [None] * rank)


def _lowered(proto, target=13):
    model = import_onnx(proto)
    low = to_model_proto(model, opset=target)
    assert low.opset_import[0].version == target
    assert all(o.domain != "tensorbridge.lowered" for o in low.opset_import)
    return to_model_proto(model), low


def _same(proto, inputs, target=13, exact=True):
    high, low = _lowered(proto, target)
    a, b = _ort.run(high, inputs), _ort.run(low, inputs)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        if exact:
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    return low


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16])
def test_small_int_arithmetic_wraps_like_the_original(op, dtype):
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    info = np.iinfo(dtype)
    vals = np.array(sorted({info.min, info.min + 1, -1 if info.min else 0, 0, 1, 2, 3, 7,
                            info.max - 1, info.max}), dtype)
    a, b = np.meshgrid(vals, vals)
    a, b = a.reshape(-1), b.reshape(-1)
    if op == "Div":
        keep = b != 0
        if info.min:
            keep &= ~((a == info.min) & (b == -1))  # overflow: undefined in C++
        a, b = a[keep], b[keep]
    n = len(a)
    proto = _model([helper.make_node(op, ["a", "b"], ["y"])],
                   [_vi("a", elem, [n]), _vi("b", elem, [n])], [_vi("y", elem, [n])])
    low = _same(proto, [a, b])
    assert [n.op_type for n in low.graph.node] == ["Cast", "Cast", op, "Cast"]


def test_isinf_float16_through_float():
    x = np.array([np.inf, -np.inf, 1, np.nan, 65504], np.float16)
    proto = _model([helper.make_node("IsInf", ["x"], ["y"], detect_negative=0)],
                   [_vi("x", TensorProto.FLOAT16, [5])], [_vi("y", TensorProto.BOOL, [5])])
    _same(proto, [x])


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceMax", "ReduceProd", "ReduceLogSumExp"])
@pytest.mark.parametrize("axes,noop", [([1], 0), ([-1, 0], 0), ([], 0), ([], 1), (None, 0),
                                       (None, 1)])
def test_reduce_constant_axes_to_attribute(op, axes, noop):
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    inits = [] if axes is None else [helper.make_tensor("axes", TensorProto.INT64,
                                                        [len(axes)], axes)]
    node = helper.make_node(op, ["x", "axes"] if axes is not None else ["x"], ["y"],
                            keepdims=0, noop_with_empty_axes=noop)
    rank = 3 if (not axes and noop) else 0 if not axes else 3 - len(axes)
    proto = _model([node], [_vi("x", TensorProto.FLOAT, [2, 3, 4])],
                   [_out("y", TensorProto.FLOAT, rank)], inits)
    low = _same(proto, [x], exact=False)
    if not axes and noop:
        assert [n.op_type for n in low.graph.node] == ["Identity"]


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceL1", "ReduceL2", "ReduceSumSquare",
                                "ReduceLogSum"])
@pytest.mark.parametrize("axes", [[1], [0, -1], []])
@pytest.mark.parametrize("noop", [0, 1])
def test_reduce_runtime_axes_through_reduce_sum(op, axes, noop):
    x = np.random.default_rng(1).uniform(0.5, 2, (2, 3, 4)).astype(np.float32)
    node = helper.make_node(op, ["x", "axes"], ["y"], keepdims=1, noop_with_empty_axes=noop)
    proto = _model([node], [_vi("x", TensorProto.FLOAT, [2, 3, 4]),
                            _vi("axes", TensorProto.INT64, [None])],
                   [_out("y", TensorProto.FLOAT, 3)])
    _same(proto, [x, np.array(axes, np.int64)], exact=False)


def test_reduce_max_runtime_axes_is_refused():
    node = helper.make_node("ReduceMax", ["x", "axes"], ["y"], name="rmax")
    proto = _model([node], [_vi("x", TensorProto.FLOAT, [2, 3]),
                            _vi("axes", TensorProto.INT64, [1])],
                   [_vi("y", TensorProto.FLOAT, None)])
    with pytest.raises(ConversionError, match=r"ReduceMax node 'rmax'.*'axes' input"):
        to_model_proto(import_onnx(proto), opset=13)


def test_reduce_max_bool_constant_axes():
    x = np.array([[True, False, False], [False, False, False]])
    init = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    proto = _model([helper.make_node("ReduceMax", ["x", "axes"], ["y"], keepdims=0)],
                   [_vi("x", TensorProto.BOOL, [2, 3])], [_vi("y", TensorProto.BOOL, [2])],
                   [init])
    _same(proto, [x])


@pytest.mark.parametrize("dim", [6, 7, 5, 3])
@pytest.mark.parametrize("static", [True, False])
def test_split_num_outputs(dim, static):
    n = 3
    x = np.arange(dim * 2, dtype=np.float32).reshape(2, dim)
    proto = _model([helper.make_node("Split", ["x"], [f"y{i}" for i in range(n)], axis=1,
                                     num_outputs=n)],
                   [_vi("x", TensorProto.FLOAT, [2, dim if static else None])],
                   [_out(f"y{i}", TensorProto.FLOAT, 2) for i in range(n)])
    _same(proto, [x])


@pytest.mark.parametrize("start,end", [(0, None), (1, None), (-1, None), (0, 2), (1, -1),
                                       (-10, 10), (3, 1), (0, -1)])
def test_shape_start_end(start, end):
    kw = {"start": start} | ({} if end is None else {"end": end})
    proto = _model([helper.make_node("Shape", ["x"], ["y"], **kw)],
                   [_vi("x", TensorProto.FLOAT, [2, None, 4])],
                   [_out("y", TensorProto.INT64, 1)])
    _same(proto, [np.zeros((2, 3, 4), np.float32)])


def test_average_pool_dilations():
    def model(d):
        return _model([helper.make_node("AveragePool", ["x"], ["y"], name="pool",
                                        kernel_shape=[2, 2], dilations=d)],
                      [_vi("x", TensorProto.FLOAT, [1, 1, 5, 5])],
                      [_out("y", TensorProto.FLOAT, 4)])
    _same(model([1, 1]), [np.random.default_rng(2).random((1, 1, 5, 5), np.float32)],
          exact=False)  # ORT's AveragePool-11 and -22 kernels differ in the last bit
    with pytest.raises(ConversionError, match=r"AveragePool node 'pool'.*dilations=\[2, 2\]"):
        to_model_proto(import_onnx(model([2, 2])), opset=13)


def test_no_rule_is_a_clear_error():
    proto = _model([helper.make_node("Equal", ["a", "b"], ["y"], name="eq")],
                   [_vi("a", TensorProto.STRING, [2]), _vi("b", TensorProto.STRING, [2])],
                   [_vi("y", TensorProto.BOOL, [2])])
    with pytest.raises(ConversionError, match=r"Equal 'eq': input 0 of type tensor\(string\)"):
        to_model_proto(import_onnx(proto), opset=13)


def test_rewrites_inside_subgraphs():
    then = helper.make_graph([helper.make_node("Shape", ["x"], ["s"], start=1)], "then", [],
                             [_out("s", TensorProto.INT64, 1)])
    other = helper.make_graph([helper.make_node("Shape", ["x"], ["s2"], end=1)], "else", [],
                              [_out("s2", TensorProto.INT64, 1)])
    proto = _model([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)],
                   [_vi("c", TensorProto.BOOL, []), _vi("x", TensorProto.FLOAT, [2, 3])],
                   [_out("y", TensorProto.INT64, 1)])
    for c in (True, False):
        _same(proto, [np.array(c), np.zeros((2, 3), np.float32)])


def test_target_at_or_above_the_feature_is_untouched():
    proto = _model([helper.make_node("Shape", ["x"], ["y"], start=1)],
                   [_vi("x", TensorProto.FLOAT, [2, 3])], [_out("y", TensorProto.INT64, 1)])
    _, low = _lowered(proto, 15)
    assert [n.op_type for n in low.graph.node] == ["Shape"]
    onnx.checker.check_model(low)
