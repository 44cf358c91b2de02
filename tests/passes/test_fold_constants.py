"""fold-constants: the STYLE 4.9 recipe per case, size limits, shape folding, and every numpy
evaluator checked against a one-node ONNX Runtime session on random inputs and edge cases."""

from __future__ import annotations

import logging

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from passes_helpers import I64, F, build, check_pass, init, ops, vi

from tensorbridge import ir
from tensorbridge.converters.onnx import export_onnx
from tensorbridge.passes import PassContext, default_pipeline, fold_constants, freeze_variables
from tensorbridge.passes.fold_constants_numpy import EVALUATORS, Fallback, NotFoldable
from tensorbridge.passes.fold_constants_ort import OrtEvaluator

RNG = np.random.default_rng(0)


def test_constant_chain_folds_to_initializer():
    m = build(
        [helper.make_node("Constant", [], ["c"], value=helper.make_tensor("v", F, [3], [1, 2, 3])),
         helper.make_node("Mul", ["c", "k"], ["d"]),
         helper.make_node("Add", ["x", "d"], ["y"])],
        [vi("x", [2, 3])], [vi("y", [2, 3])], [init("k", np.float32([2, 2, 2]))],
    )  # fmt: skip
    out = check_pass(fold_constants, m, ["Constant", "Mul", "Add"], ["Add"])
    d = next(iter(out.graph)).inputs[1]
    assert d.is_initializer and d.const.numpy().tolist() == [2, 4, 6]
    assert "k" not in out.graph.initializers  # no longer read: removed


def test_graph_output_keeps_its_name_through_identity():
    m = build(
        [helper.make_node("Add", ["a", "b"], ["y"]), helper.make_node("Relu", ["x"], ["z"])],
        [vi("x", [2])], [vi("y", [2]), vi("z", [2])],
        [init("a", np.float32([1, 2])), init("b", np.float32([3, 4]))],
    )  # fmt: skip
    out = check_pass(fold_constants, m, ["Add", "Relu"], ["Identity", "Relu"])
    assert [v.name for v in out.graph.outputs] == ["y", "z"]
    assert out.main.signature().outputs["y"] is out.graph.outputs[0]
    # the whole default pipeline is stable on it too
    assert default_pipeline()(out, PassContext(verify_each=True)).changed is False


def test_variables_fold_only_after_freeze():
    m = build(
        [helper.make_node("Neg", ["w"], ["n"]), helper.make_node("Add", ["x", "n"], ["y"])],
        [vi("x", [2])], [vi("y", [2])], [init("w", np.float32([1, 2]))],
    )  # fmt: skip
    w = m.graph.initializers["w"]
    w.variable, w.const = ir.Variable("w", w.const), None
    m.variables["w"] = w.variable
    assert fold_constants(m).changed is False
    freeze_variables(m)
    assert fold_constants(m).changed is True
    assert ops(m) == ["Add"]


def test_shape_chain_on_static_input_folds_to_constant_shape():
    m = build(
        [helper.make_node("Shape", ["x"], ["s"]),
         helper.make_node("Gather", ["s", "i0"], ["d0"], axis=0),
         helper.make_node("Unsqueeze", ["d0", "ax"], ["u"]),
         helper.make_node("Concat", ["u", "m1"], ["tgt"], axis=0),
         helper.make_node("Reshape", ["x", "tgt"], ["y"])],
        [vi("x", [2, 3, 4])], [vi("y", [2, 12])],
        [init("i0", np.int64(0)), init("ax", np.int64([0])), init("m1", np.int64([-1]))],
    )  # fmt: skip
    out = check_pass(fold_constants, m, ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape"],
                     ["Reshape"])  # fmt: skip
    assert next(iter(out.graph)).inputs[1].const.numpy().tolist() == [2, -1]


def test_shape_start_end_size_and_rank_with_dynamic_batch():
    m = build(
        [helper.make_node("Shape", ["x"], ["s"], start=1),
         helper.make_node("Shape", ["x"], ["full"]),
         helper.make_node("Shape", ["full"], ["rank"]),
         helper.make_node("Size", ["full"], ["rank2"]),
         helper.make_node("Concat", ["s", "rank", "full"], ["y"], axis=0),
         helper.make_node("Mul", ["rank2", "rank2"], ["z"])],
        [vi("x", ["N", 3, 4])], [vi("y", [None], elem=I64), vi("z", [], elem=I64)],
    )  # fmt: skip
    out = check_pass(fold_constants, m, ["Shape", "Shape", "Shape", "Size", "Concat", "Mul"],
                     ["Shape", "Concat", "Identity"])  # fmt: skip
    assert out.graph.outputs[1].producer().inputs[0].const.numpy() == 9


def test_big_generators_stay_and_file_does_not_grow(tmp_path):
    big = np.ones((256, 256), np.float32)  # 256 KiB each
    m = build(
        [helper.make_node("Tile", ["a", "r"], ["t"]),
         helper.make_node("Expand", ["a", "e"], ["ex"]),
         helper.make_node("ConstantOfShape", ["sh"], ["co"],
                          value=helper.make_tensor("v", F, [1], [1.0])),
         helper.make_node("Range", ["r0", "r1", "r2"], ["rg"]),
         helper.make_node("Add", ["x", "t"], ["y1"]),
         helper.make_node("Add", ["x4", "ex"], ["y2"]),
         helper.make_node("Add", ["x", "co"], ["y3"]),
         helper.make_node("Cast", ["rg"], ["y4"], to=F)],
        [vi("x", [512, 512]), vi("x4", [4, 256, 256])],
        [vi("y1", [512, 512]), vi("y2", [4, 256, 256]), vi("y3", [512, 512]), vi("y4", [100000])],
        [init("a", big), init("r", np.int64([2, 2])), init("e", np.int64([4, 256, 256])),
         init("sh", np.int64([512, 512])), init("r0", np.int64(0)), init("r1", np.int64(100000)),
         init("r2", np.int64(1))],
    )  # fmt: skip
    before = export_onnx(m, tmp_path / "before.onnx").stat().st_size
    ctx = PassContext(verify_each=True, fold_output_size_limit=1 << 30, fold_input_size_limit=1 << 30)
    result = fold_constants(m, ctx)
    assert result.changed is False
    after = export_onnx(m, tmp_path / "after.onnx").stat().st_size
    assert after <= before
    small = build(
        [helper.make_node("Tile", ["a", "r"], ["y"])], [], [vi("y", [4, 4])],
        [init("a", np.ones((2, 2), np.float32)), init("r", np.int64([2, 2]))],
    )  # fmt: skip
    assert fold_constants(small).changed is True  # small growth is allowed


def test_limits_keep_lazy_inputs_unread(tmp_path, caplog):
    m = build(
        [helper.make_node("Transpose", ["w"], ["t"]), helper.make_node("Add", ["x", "t"], ["y"])],
        [vi("x", [64, 64])], [vi("y", [64, 64])], [init("w", RNG.random((64, 64), np.float32))],
    )  # fmt: skip
    ctx = PassContext(fold_input_size_limit=1024)
    with caplog.at_level(logging.DEBUG, logger="tensorbridge.passes.fold_constants"):
        assert fold_constants(m, ctx).changed is False
    assert "fold_input_size_limit" in caplog.text


def test_never_folded_random_and_failing_nodes(caplog):
    m = build(
        [helper.make_node("RandomUniformLike", ["a"], ["r"]),
         helper.make_node("Div", ["i", "zero"], ["q"]),
         helper.make_node("Add", ["x", "r"], ["y"]),
         helper.make_node("Add", ["q", "q"], ["z"])],
        [vi("x", [2])], [vi("y", [2]), vi("z", [2], elem=I64)],
        [init("a", np.float32([1, 2])), init("i", np.int64([4, 5])), init("zero", np.int64([0, 1]))],
    )  # fmt: skip
    with caplog.at_level(logging.DEBUG, logger="tensorbridge.passes.fold_constants"):
        assert fold_constants(m).changed is False
    assert "integer division by zero" in caplog.text


def test_ort_fallback_for_other_ops():
    m = build(
        [helper.make_node("Erf", ["a"], ["e"]), helper.make_node("Add", ["x", "e"], ["y"])],
        [vi("x", [3])], [vi("y", [3])], [init("a", np.float32([0.1, 0.5, 2]))],
    )  # fmt: skip
    check_pass(fold_constants, m, ["Erf", "Add"], ["Add"])


# ---- numpy evaluators vs ONNX Runtime ----------------------------------------------------------
def _r(shape, dtype, lo=-5, hi=5):
    if np.dtype(dtype).kind == "f":
        return (RNG.random(shape) * (hi - lo) + lo).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return RNG.random(shape) > 0.5
    return RNG.integers(max(lo, np.iinfo(dtype).min), hi, shape).astype(dtype)


def _i(*v):
    return np.array(v, np.int64)


I64MAX, I64MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min
F32, F64, I32, INT64 = np.float32, np.float64, np.int32, np.int64
CASES = [
    *[(op, [_r((3, 4), dt), _r((4,), dt)], {}) for op in ("Add", "Sub", "Mul")
      for dt in (F32, F64, I32, INT64, np.uint8)],
    ("Div", [_r((3, 4), F32), _r((3, 4), F32, 1, 5)], {}),
    ("Div", [_i(7, -7, 7, -7, 0, -9), _i(2, 2, -2, -2, 3, 4)], {}),
    ("Div", [np.array([7, -7, 9], I32), np.array([-3, 3, -4], I32)], {}),
    ("Div", [np.array([7, 200], np.uint8), np.array([3, 7], np.uint8)], {}),
    *[("Neg", [_r((5,), dt)], {}) for dt in (F32, I32, INT64)],
    ("Abs", [_r((5,), F64)], {}),
    ("Sqrt", [_r((6,), F32, 0, 9)], {}), ("Floor", [_r((6,), F32)], {}),
    ("Ceil", [_r((6,), F64)], {}),
    ("Reciprocal", [_r((7,), F32)], {}), ("Reciprocal", [np.array([0.0, -0.0, 3.0, np.inf], F64)], {}),
    ("Min", [_r((3, 4), F32), _r((4,), F32), _r((1, 4), F32)], {}),
    ("Max", [_r((3, 4), INT64), _r((4,), INT64)], {}),
    *[(op, [_r((3, 4), INT64), _r((4,), INT64)], {}) for op in
      ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")],
    ("Equal", [_r((3,), F32), _r((3,), F32)], {}),
    ("Not", [_r((4,), np.bool_)], {}),
    *[(op, [_r((4,), np.bool_), _r((4,), np.bool_)], {}) for op in ("And", "Or", "Xor")],
    ("Where", [_r((3, 4), np.bool_), _r((3, 4), F32), _r((4,), F32)], {}),
    ("Cast", [_r((6,), F32, -100, 100)], {"to": TensorProto.INT32}),
    ("Cast", [_r((6,), F64, 0, 250)], {"to": TensorProto.UINT8}),
    ("Cast", [_r((6,), INT64)], {"to": TensorProto.FLOAT}),
    ("Cast", [_r((6,), F64)], {"to": TensorProto.FLOAT}),
    ("Cast", [_r((6,), F32)], {"to": TensorProto.BOOL}),
    ("Identity", [_r((2, 3), F32)], {}),
    ("Shape", [_r((2, 3, 4), F32)], {}),
    ("Shape", [_r((2, 3, 4), F32)], {"start": 1}),
    ("Shape", [_r((2, 3, 4), F32)], {"start": -2, "end": -1}),
    ("Shape", [_r((2, 3, 4), F32)], {"start": -10, "end": 10}),
    ("Size", [_r((2, 3, 4), F32)], {}),
    ("Reshape", [_r((2, 3, 4), F32), _i(0, -1)], {}),
    ("Reshape", [_r((2, 3, 4), F32), _i(-1, 0, 2)], {}),
    ("Reshape", [_r((2, 3, 4), F32), _i(4, 6)], {"allowzero": 1}),
    ("Reshape", [_r((0, 3), F32), _i(3, 0)], {"allowzero": 1}),
    ("Unsqueeze", [_r((2, 3), F32), _i(0, -1)], {}),
    ("Unsqueeze", [_r((2, 3), F32), _i(1, 3)], {}),
    ("Squeeze", [_r((1, 3, 1), F32), _i(-1)], {}),
    ("Squeeze", [_r((1, 3, 1), F32)], {}),
    ("Transpose", [_r((2, 3, 4), F32)], {}),
    ("Transpose", [_r((2, 3, 4), INT64)], {"perm": [1, 2, 0]}),
    ("Concat", [_r((2, 3), F32), _r((1, 3), F32)], {"axis": 0}),
    ("Concat", [_r((2, 3), INT64), _r((2, 1), INT64)], {"axis": -1}),
    ("Gather", [_r((5, 3), F32), _i(0, -1, 2, -5)], {"axis": 0}),
    ("Gather", [_r((2, 5), INT64), np.array([[-1, 1], [0, 4]], np.int32)], {"axis": 1}),
    ("Gather", [_i(2, 3, 4), np.int64(-1)], {}),
    ("Slice", [_r((10,), F32), _i(1), _i(I64MAX)], {}),
    ("Slice", [_r((10,), F32), _i(-1), _i(I64MIN), _i(0), _i(-1)], {}),
    ("Slice", [_r((10,), F32), _i(8), _i(1), _i(0), _i(-3)], {}),
    ("Slice", [_r((10,), F32), _i(20), _i(-20), _i(0), _i(-2)], {}),
    ("Slice", [_r((4, 6), INT64), _i(0, -1), _i(I64MAX, -5), _i(0, 1), _i(2, -1)], {}),
    ("Slice", [_r((4, 6), F32), _i(-100), _i(100), _i(-1)], {}),
    ("Expand", [_r((3, 1), F32), _i(2, 1, 4)], {}),
    ("Expand", [_r((3, 4), INT64), _i(1, 1)], {}),
    ("Tile", [_r((2, 3), F32), _i(2, 1)], {}),
    ("ConstantOfShape", [_i(2, 3)], {"value": helper.make_tensor("v", I64, [1], [7])}),
    ("ConstantOfShape", [_i(2, 0)], {}),
    ("Range", [np.int64(0), np.int64(10), np.int64(3)], {}),
    ("Range", [np.int32(10), np.int32(-3), np.int32(-4)], {}),
    ("Range", [np.int64(5), np.int64(1), np.int64(1)], {}),
    ("Constant", [], {"value": helper.make_tensor("v", F, [2], [1.5, 2])}),
    ("Constant", [], {"value_ints": [1, 2, 3]}),
    ("Constant", [], {"value_float": 2.5}),
    *[(op, [_r((3, 4), dt, -3, 4), _i(1)], {"keepdims": k}) for op in
      ("ReduceSum", "ReduceProd", "ReduceMin", "ReduceMax") for dt in (I32, INT64) for k in (0, 1)],
    ("ReduceSum", [_r((3, 4), INT64)], {}),
    ("ReduceProd", [_r((3, 4), INT64, -2, 3), _i(-1, 0)], {"keepdims": 0}),
    ("ReduceSum", [_r((3, 4), INT64), _i()], {"noop_with_empty_axes": 1}),
]  # fmt: skip


def _node(op, inputs, attrs) -> ir.Node:
    """The case as an IR node (attributes converted by the ONNX importer)."""
    names = [f"i{k}" for k in range(len(inputs))]
    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
           for n, a in zip(names, inputs, strict=True)]  # fmt: skip
    g = helper.make_graph([helper.make_node(op, names, ["o"], **attrs)], "g", ins,
                          [onnx.ValueInfoProto(name="o")])  # fmt: skip
    from tensorbridge.converters.onnx import import_onnx

    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", ir.CANONICAL_OPSET)])
    return next(iter(import_onnx(proto).graph))


@pytest.mark.parametrize(("op", "inputs", "attrs"), CASES, ids=lambda c: c if isinstance(c, str) else "")
def test_numpy_evaluator_matches_ort(op, inputs, attrs):
    inputs = [np.asarray(a) for a in inputs]
    node = _node(op, inputs, attrs)
    want = OrtEvaluator(ir.CANONICAL_OPSET)(node, inputs)
    try:
        got = EVALUATORS[op](node, inputs)
    except Fallback:
        pytest.fail(f"{op} fell back for {[a.dtype for a in inputs]}: the case tests nothing")
    assert len(got) == len(want)
    for g_, w in zip(got, want, strict=True):
        assert g_.dtype == w.dtype and g_.shape == w.shape
        np.testing.assert_array_equal(g_, w)


def test_every_numpy_evaluator_is_tested():
    assert set(EVALUATORS) <= {c[0] for c in CASES}


@pytest.mark.parametrize(("op", "inputs", "attrs"), [
    ("Div", [_i(1, 2), _i(0, 1)], {}),
    ("Gather", [_i(1, 2), _i(2)], {}),
    ("Cast", [np.float32([np.nan])], {"to": TensorProto.INT32}),
    ("Reshape", [_r((2, 3), F32), _i(4, -1)], {}),
])  # fmt: skip
def test_numpy_evaluator_refuses_undefined(op, inputs, attrs):
    inputs = [np.asarray(a) for a in inputs]
    with pytest.raises(NotFoldable):
        EVALUATORS[op](_node(op, inputs, attrs), inputs)
