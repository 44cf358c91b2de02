"""IR -> TF lifting of the array/shape ops (lift/array.py, shaping.py, slicing.py,
indexing.py): each case is a one-node ONNX model run in ONNX Runtime and, lifted, in TF.

An argument is fed as a graph input ("in": static shape; "dyn": every dim symbolic, so the
handler cannot read static shapes; "any": not even the rank is known) or stored as an
initializer ("init": a constant, which takes the handlers' constant paths).
"""

from __future__ import annotations

import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper, shape_inference

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import run_onnx_in_tf  # noqa: E402

pytestmark = pytest.mark.tf
OPSET = 26  # the canonical opset: no version conversion (and its shape inference) on import
IR_VERSION = 11  # ONNX Runtime 1.31 reads IR <= 13; onnx 1.23 writes 14
INT64_MAX, INT64_MIN = int(np.iinfo(np.int64).max), int(np.iinfo(np.int64).min)
rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4, 5)).astype(np.float32)
M = rng.standard_normal((4, 5)).astype(np.float32)


def i64(*v):
    return np.asarray(v, np.int64)


def _model(op, args, attrs, n_out):
    inputs, inits, names = [], [], []
    for i, arg in enumerate(args):
        if arg is None:
            names.append("")
            continue
        kind, arr = arg[0], np.asarray(arg[1])
        name = f"a{i}"
        names.append(name)
        if kind == "init":
            inits.append(numpy_helper.from_array(arr, name))
            continue
        dims = {"dyn": [f"{name}_{j}" for j in range(arr.ndim)], "any": None}.get(kind, list(arr.shape))
        elem = helper.np_dtype_to_tensor_dtype(arr.dtype)
        inputs.append((helper.make_tensor_value_info(name, elem, dims), arr))
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, names, outs, **attrs)
    g = helper.make_graph([node], "g", [vi for vi, _ in inputs],
                          [helper.make_value_info(o, helper.TypeProto()) for o in outs], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    inferred = shape_inference.infer_shapes(model)
    del model.graph.output[:]
    for o in inferred.graph.output:  # element types only: the harness must not see static shapes
        model.graph.output.append(helper.make_tensor_value_info(o.name, o.type.tensor_type.elem_type, None))
    return model, [arr for _, arr in inputs]


def check(op, args, attrs=None, n_out=1, rtol=0.0):
    model, feeds = _model(op, args, attrs or {}, n_out)
    want = _expected(model, feeds)
    got = run_onnx_in_tf(model, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if w.dtype == object:  # strings: TF gives bytes, ORT str
            w = np.vectorize(lambda v: v.encode() if isinstance(v, str) else v, otypes=[object])(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        if rtol:
            np.testing.assert_allclose(g, w, rtol=rtol)
        else:
            np.testing.assert_array_equal(g, w)


def _expected(model, feeds):
    """ONNX Runtime's result; the ONNX reference evaluator's where ORT has no kernel for the
    type (e.g. Pad on uint16, EyeLike to bool) or cannot feed it (bfloat16)."""
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    feed = dict(zip([i.name for i in model.graph.input], feeds))
    if any(a.dtype == ml_dtypes.bfloat16 for a in feeds):
        return ReferenceEvaluator(model).run(None, feed)
    try:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except ort.capi.onnxruntime_pybind11_state.NotImplemented:
        return ReferenceEvaluator(model).run(None, feed)
    return sess.run(None, feed)


def kinds(data_kinds=("in", "dyn"), arg_kinds=("init", "in")):
    return [(d, a) for d in data_kinds for a in arg_kinds]


@pytest.fixture(autouse=True)
def _tf():
    pytest.importorskip("tensorflow")


# ---- reshaping ------------------------------------------------------------------------------
@pytest.mark.parametrize("dk,ak", kinds())
@pytest.mark.parametrize("shape,allowzero", [((0, -1), 0), ((3, 0, 5), 0), ((-1,), 0), ((3, 20), 1),
                                             ((0, 0, 5, 1), 0)])
def test_reshape(dk, ak, shape, allowzero):
    check("Reshape", [(dk, X), (ak, i64(*shape))], {"allowzero": allowzero})


def test_reshape_allowzero_empty():
    check("Reshape", [("dyn", np.zeros((0, 3), np.float32)), ("in", i64(3, 0))], {"allowzero": 1})


@pytest.mark.parametrize("dk", ["in", "dyn"])
@pytest.mark.parametrize("perm", [None, [1, 0, 2], [2, 0, 1]])
def test_transpose(dk, perm):
    check("Transpose", [(dk, X)], {} if perm is None else {"perm": perm})


Y = rng.standard_normal((1, 3, 1, 2)).astype(np.float32)


@pytest.mark.parametrize("dk,ak", kinds())
@pytest.mark.parametrize("axes", [None, [0], [-2], [0, 2]])
def test_squeeze(dk, ak, axes):
    check("Squeeze", [(dk, Y)] + ([] if axes is None else [(ak, i64(*axes))]))


@pytest.mark.parametrize("dk,ak", kinds())
@pytest.mark.parametrize("axes", [[0], [-1], [0, 4], [-1, 1], [3, -5]])
def test_unsqueeze(dk, ak, axes):
    check("Unsqueeze", [(dk, X), (ak, i64(*axes))])


def test_unsqueeze_scalar():
    check("Unsqueeze", [("in", np.float32(3)), ("in", i64(0, -1))])


@pytest.mark.parametrize("dk", ["in", "dyn"])
@pytest.mark.parametrize("axis", [0, 1, -1, 3, -3])
def test_flatten(dk, axis):
    check("Flatten", [(dk, X)], {"axis": axis})


@pytest.mark.parametrize("dk", ["in", "dyn"])
@pytest.mark.parametrize("axis", [0, 2, -2])
def test_concat(dk, axis):
    check("Concat", [(dk, X), (dk, X + 1)], {"axis": axis})


@pytest.mark.parametrize("dk,ak", kinds())
def test_split_sizes(dk, ak):
    check("Split", [(dk, X), (ak, i64(1, 3))], {"axis": 1}, n_out=2)


@pytest.mark.parametrize("dk", ["in", "dyn"])
@pytest.mark.parametrize("n,axis", [(3, -1), (2, 2), (4, 1), (3, 0)])
def test_split_num_outputs(dk, n, axis):
    check("Split", [(dk, X)], {"axis": axis, "num_outputs": n}, n_out=n)


# ---- slicing --------------------------------------------------------------------------------
SLICES = [  # starts, ends, axes, steps
    ([1], [3], [1], None), ([0, 1], [2, -1], None, None), ([-1], [-100], [2], [-1]),
    ([-100], [INT64_MIN], [2], [-2]), ([INT64_MAX], [INT64_MIN], [-1], [-1]),
    ([1, 0], [INT64_MAX, 100], [0, -1], [2, 3]), ([10], [20], [1], [1]), ([-7], [3], [2], [-1]),
    ([2], [2], [0], [1]), ([3], [-8], [1], [-1]),
]


@pytest.mark.parametrize("dk,ak", kinds())
@pytest.mark.parametrize("starts,ends,axes,steps", SLICES)
def test_slice(dk, ak, starts, ends, axes, steps):
    args = [(dk, X), (ak, i64(*starts)), (ak, i64(*ends))]
    args.append(None if axes is None else (ak, i64(*axes)))
    args.append(None if steps is None else (ak, i64(*steps)))
    while args[-1] is None:
        args.pop()
    check("Slice", args)


def test_slice_int32_indices():
    args = [(-1, 0), (-2**31, 3), (2, 1), (-1, 2)]  # starts, ends, axes, steps
    check("Slice", [("dyn", X)] + [("in", np.asarray(a, np.int32)) for a in args])


@pytest.mark.parametrize("dk,ak", kinds())
@pytest.mark.parametrize("k,upper", [(0, 1), (1, 1), (-1, 1), (0, 0), (2, 0), (-2, 0), (9, 1), (-9, 0)])
def test_trilu(dk, ak, k, upper):
    check("Trilu", [(dk, X), (ak, i64(k).reshape(()))], {"upper": upper})


def test_trilu_default_k_int():
    check("Trilu", [("dyn", np.arange(12, dtype=np.int32).reshape(3, 4))], {"upper": 0})


def test_reverse_sequence():
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    check("ReverseSequence", [("dyn", x), ("in", i64(1, 2, 3, 4, 0))], {"time_axis": 0, "batch_axis": 1})


@pytest.mark.parametrize("axis", [None, 1, -1])
def test_compress(axis):
    cond = np.array([True, False, True], bool)
    check("Compress", [("dyn", X), ("in", cond)], {} if axis is None else {"axis": axis})


# ---- shapes, constants, ranges ----------------------------------------------------------------
@pytest.mark.parametrize("dk", ["in", "dyn"])
@pytest.mark.parametrize("attrs", [{}, {"start": 1}, {"end": -1}, {"start": -2, "end": 10}, {"start": 5}])
def test_shape(dk, attrs):
    check("Shape", [(dk, X)], attrs)


@pytest.mark.parametrize("dk", ["in", "dyn"])
def test_size(dk):
    check("Size", [(dk, X)])


@pytest.mark.parametrize("ak", ["init", "in"])
@pytest.mark.parametrize("reps", [(1, 2, 1), (2, 1, 3)])
def test_tile(ak, reps):
    check("Tile", [("dyn", X), (ak, i64(*reps))])


@pytest.mark.parametrize("dk,ak", kinds())
@pytest.mark.parametrize("shape", [(2, 1, 1, 5), (1,), (4, 1)])
def test_expand(dk, ak, shape):
    check("Expand", [(dk, M), (ak, i64(*shape))])


@pytest.mark.parametrize("args", [(0, 10, 3), (5, 1, 1), (10, 0, -3), (1, 1, 1)])
@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64, np.float32, np.float64])
def test_range(args, dtype):
    check("Range", [("in", np.asarray(a, dtype)) for a in args])


@pytest.mark.parametrize("value", [None, np.array([7], np.int32), np.array([1.5], np.float64)])
def test_constant_of_shape(value):
    attrs = {} if value is None else {"value": numpy_helper.from_array(value)}
    check("ConstantOfShape", [("in", i64(2, 3))], attrs)


@pytest.mark.parametrize("k,dtype", [(0, None), (1, TensorProto.INT32), (-2, TensorProto.BOOL)])
def test_eyelike(k, dtype):
    attrs = {"k": k} | ({} if dtype is None else {"dtype": dtype})
    check("EyeLike", [("dyn", M)], attrs)


def test_constant():
    check("Constant", [], {"value": numpy_helper.from_array(M)})
    check("Constant", [], {"value_ints": [1, 2]})


# ---- padding --------------------------------------------------------------------------------
@pytest.mark.parametrize("dk,ak", kinds())
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("pads", [(0, 1, 2, 1, 0, 2), (1, -1, 0, 0, 2, -2)])
def test_pad(dk, ak, mode, pads):
    args = [(dk, X), (ak, i64(*pads))]
    if mode == "constant":
        args.append((ak, np.float32(2.5)))
    check("Pad", args, {"mode": mode})


@pytest.mark.parametrize("mode", ["constant", "edge"])
@pytest.mark.parametrize("ak", ["init", "in"])
def test_pad_axes(mode, ak):
    check("Pad", [("dyn", X), (ak, i64(1, 2, -1, 0)), None, (ak, i64(-1, 0))], {"mode": mode})


def test_pad_axes_unknown_rank():
    check("Pad", [("any", X), ("init", i64(1, 2, 0, 3)), None, ("init", i64(-1, 0))])


UNKNOWN_RANK = [  # (op, args, attrs): the data's rank is unknown
    ("Reshape", [("any", X), ("in", i64(0, -1))], {}),
    ("Transpose", [("any", X)], {}),
    ("Squeeze", [("any", Y), ("in", i64(-2))], {}),
    ("Squeeze", [("any", Y)], {}),
    ("Unsqueeze", [("any", X), ("init", i64(-1, 0))], {}),
    ("Flatten", [("any", X)], {"axis": -2}),
    ("Slice", [("any", X), ("init", i64(-1, 0)), ("init", i64(INT64_MIN, 2)), ("init", i64(-1, 1)),
               ("init", i64(-2, 1))], {}),
    ("Gather", [("any", X), ("in", i64(-1, 0))], {"axis": -2}),
    ("GatherElements", [("any", M), ("any", np.array([[0, -1], [3, 1]], np.int64))], {"axis": -2}),
    ("ScatterElements", [("any", M), ("any", np.array([[0, -1], [3, 1]], np.int64)),
                         ("any", np.ones((2, 2), np.float32))], {"axis": -1, "reduction": "add"}),
    ("Trilu", [("any", X), ("in", i64(1).reshape(()))], {"upper": 0}),
    ("Shape", [("any", X)], {"start": -2}),
    ("Expand", [("any", M), ("in", i64(3, 1, 1))], {}),
    ("Concat", [("any", X), ("any", X)], {"axis": -1}),
    ("GatherND", [("any", X), ("in", np.array([[1, -1]], np.int64))], {}),
]


@pytest.mark.parametrize("op,args,attrs", UNKNOWN_RANK,
                         ids=[f"{c[0]}{i}" for i, c in enumerate(UNKNOWN_RANK)])
def test_unknown_rank(op, args, attrs):
    check(op, args, attrs)


@pytest.mark.parametrize("dk", ["in", "dyn", "any"])
@pytest.mark.parametrize("shape,axes", [((2, 7, 4), None), ((5, 3), [1, -1]), ((1,), [-2]), ((6, 2), [2, 0])])
def test_center_crop_pad(dk, shape, axes):
    check("CenterCropPad", [(dk, X), ("in", i64(*shape))], {} if axes is None else {"axes": axes})


# ---- indexing -------------------------------------------------------------------------------
@pytest.mark.parametrize("dk,ak", kinds())
@pytest.mark.parametrize("axis,idx", [(0, [[0, -1], [2, -3]]), (1, [-4, 3, 0]), (-1, [[-5]])])
def test_gather(dk, ak, axis, idx):
    check("Gather", [(dk, X), (ak, np.asarray(idx, np.int64))], {"axis": axis})


def test_gather_int32_scalar_index():
    check("Gather", [("dyn", M), ("in", np.int32(-1))], {"axis": 1})


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements(axis):
    idx = np.array([[0, -1, 1], [2, 0, -2]], np.int64)
    check("GatherElements", [("dyn", M[:3, :3]), ("in", idx)], {"axis": axis})


@pytest.mark.parametrize("idx,batch", [([[0, 1], [-1, -2]], 0), ([[1], [0], [-3]], 0),
                                       ([[1, 2], [0, -1], [2, 0]], 1),
                                       ([[[1], [0]], [[-1], [2]], [[0], [-4]]], 1)])
def test_gather_nd(idx, batch):
    check("GatherND", [("dyn", X), ("in", np.asarray(idx, np.int64))], {"batch_dims": batch})


@pytest.mark.parametrize("reduction", ["none", "add", "max", "min", "mul"])
def test_scatter_nd(reduction):
    idx = np.array([[0, 1], [-1, 2], [0, 1]] if reduction != "none" else [[0, 1], [-1, 2]], np.int64)
    upd = rng.standard_normal((len(idx), 5)).astype(np.float32)
    # mul: duplicates multiply in another order (x * (u1 * u2)), one float rounding apart
    check("ScatterND", [("dyn", X), ("in", idx), ("in", upd)], {"reduction": reduction},
          rtol=1e-6 if reduction == "mul" else 0.0)


@pytest.mark.parametrize("reduction", ["none", "add", "max", "min", "mul"])
@pytest.mark.parametrize("axis", [0, -1])
def test_scatter_elements(reduction, axis):
    idx = np.array([[0, -1, 1], [2, 1, 0]], np.int64)
    upd = np.arange(6, dtype=np.float32).reshape(2, 3)
    check("ScatterElements", [("dyn", M), ("in", idx), ("in", upd)], {"axis": axis, "reduction": reduction})


@pytest.mark.parametrize("dtype", [np.int32, np.float64])
def test_scatter_mul_duplicates(dtype):
    x = np.arange(1, 25).reshape(2, 3, 4).astype(dtype)
    idx = np.array([[[0, 1], [-1, 2]], [[0, 1], [1, 1]]], np.int64)
    upd = np.arange(2, 18).reshape(2, 2, 4).astype(dtype)
    check("ScatterND", [("dyn", x), ("in", idx), ("in", upd)], {"reduction": "mul"})
    e_idx = np.array([[0, 0, 3], [-1, 0, 2]], np.int64)
    check("ScatterElements", [("any", x[0]), ("in", e_idx), ("in", x[0, :2, :3] + 1)],
          {"axis": 1, "reduction": "mul"})


@pytest.mark.parametrize("dk", ["dyn", "any"])
@pytest.mark.parametrize("mode,wi", [("linear", None), ("linear", [0, 2, 1]), ("circular", [3, 4, 0])])
def test_tensor_scatter(dk, mode, wi):
    cache = np.zeros((3, 2, 5, 4), np.float32)
    upd = rng.standard_normal((3, 2, 2, 4)).astype(np.float32)
    args = [(dk, cache), (dk, upd)] + ([] if wi is None else [("in", i64(*wi))])
    check("TensorScatter", args, {"mode": mode})


@pytest.mark.parametrize("axis", [-1, 0, 1, -2])
@pytest.mark.parametrize("itype,dtype,vtype", [(np.int64, np.int64, np.int64),
                                               (np.int32, np.float32, np.float32),
                                               (np.float32, np.float32, np.float32),
                                               (np.int64, np.float32, np.int32)])
def test_onehot(axis, itype, dtype, vtype):
    idx = np.array([[0, -1, 3], [5, -4, -6]], itype)
    check("OneHot", [("dyn", idx), ("in", dtype(4)), ("in", np.array([2, 9], vtype))], {"axis": axis})


@pytest.mark.parametrize("x", [X > 0.3, np.array([[0, 2], [3, 0]], np.int32), np.zeros((2, 0), np.float32)])
def test_nonzero(x):
    check("NonZero", [("dyn", x)])


# ---- dtypes ---------------------------------------------------------------------------------
DTYPES = [np.float16, np.float64, np.int8, np.uint8, np.int32, np.int64, np.uint16, bool, ml_dtypes.bfloat16]


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes_move_data(dtype):
    x = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    check("Slice", [("dyn", x), ("init", i64(2)), ("init", i64(0)), ("init", i64(-1)), ("init", i64(-1))])
    check("Gather", [("dyn", x), ("in", i64(-1, 0))], {"axis": 1})
    check("Transpose", [("dyn", x)])
    check("Pad", [("dyn", x), ("init", i64(0, 1, 1, 0, 0, 1))], {"mode": "edge"})
    check("Expand", [("dyn", x), ("init", i64(2, 1, 1, 1))])
    check("Tile", [("dyn", x), ("in", i64(1, 2, 1))])
    check("Trilu", [("dyn", x), ("in", i64(1).reshape(()))], {"upper": 1})
    check("Trilu", [("in", x), ("init", i64(0).reshape(()))], {"upper": 0})
    check("Split", [("dyn", x)], {"axis": 1, "num_outputs": 2}, n_out=2)
    e_idx = np.array([[[0, -1, 2, 1], [1, 1, 0, -3]]] * 2, np.int64)
    check("GatherElements", [("dyn", x), ("in", e_idx)], {"axis": 1})
    check("GatherND", [("dyn", x), ("in", np.array([[1, -1]], np.int64))])
    check("ScatterND", [("dyn", x), ("in", np.array([[1, -1]], np.int64)), ("in", x[0, :1])])
    check("ScatterElements", [("dyn", x), ("in", e_idx), ("in", x[:, :2])], {"axis": 1})
    check("Compress", [("dyn", x), ("in", np.array([True, False, True]))], {"axis": 1})
    check("ReverseSequence", [("dyn", x), ("in", i64(1, 3))], {"batch_axis": 0, "time_axis": 1})
    check("Reshape", [("dyn", x), ("in", i64(0, -1))])
    check("Squeeze", [("dyn", x[:1]), ("in", i64(0))])


def test_strings():
    x = np.array([["a", "bc", ""], ["d", "e", "fgh"]], dtype=object)
    check("Concat", [("dyn", x), ("in", x)], {"axis": -1})
    check("Gather", [("dyn", x), ("in", i64(-1, 0))], {"axis": 1})
    check("Slice", [("dyn", x), ("in", i64(-1)), ("in", i64(INT64_MIN)), ("in", i64(1)), ("in", i64(-2))])
    check("Transpose", [("dyn", x)])
    check("Reshape", [("dyn", x), ("in", i64(0, 1, -1))], {"allowzero": 0})
    check("Unsqueeze", [("dyn", x), ("in", i64(-1))])
    check("Split", [("dyn", x)], {"axis": 1, "num_outputs": 2}, n_out=2)


def test_chain_keeps_declared_shapes():
    """A lifted output keeps the ONNX value's declared shape: MatMul after Reshape needs the rank."""
    nodes = [helper.make_node("Constant", [], ["s"], value=numpy_helper.from_array(i64(0, 4, 5))),
             helper.make_node("Reshape", ["x", "s"], ["r"]),
             helper.make_node("Gather", ["r", "i"], ["g"], axis=-1),
             helper.make_node("MatMul", ["g", "w"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 20]),
                                       helper.make_tensor_value_info("i", TensorProto.INT64, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, 3])],
                          [numpy_helper.from_array(np.ones((2, 3), np.float32), "w")],
                          value_info=[helper.make_tensor_value_info("r", TensorProto.FLOAT, ["n", 4, 5]),
                                      helper.make_tensor_value_info("g", TensorProto.FLOAT, ["n", 4, 2])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    x, i = X.reshape(3, 20), i64(-1, 0)
    np.testing.assert_allclose(run_onnx_in_tf(model, [x, i])[0], _expected(model, [x, i])[0], rtol=1e-6)
