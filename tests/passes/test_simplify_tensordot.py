"""Keras 3 Dense on an NHWC view of an NCHW tensor (ConvNeXt's pointwise layers), small: the
tensordot Reshape -> MatMul -> Reshape collapses to MatMul(x, W) (passes/simplify_tensordot.py),
which the layout pass turns into a 1x1 Conv so both Transposes cancel; and passes/dims.py."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from passes_helpers import I64, build, check_pass, init, ops, run, vi

from tensorbridge.passes import PassContext, Pipeline, fold_constants, layout, prune_dead_nodes, simplify
from tensorbridge.passes.dims import known_dims
from tensorbridge.runtime import compare_outputs

NCHW, NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
I32 = TensorProto.INT32
rng = np.random.default_rng(0)


def _dense_nodes(x: str, y: str) -> list:
    """TF's tensordot(x, W, [[3], [0]]) on a rank-4 x, as converted (shapes at run time)."""
    return [
        helper.make_node("Shape", [x], ["shp"]),
        helper.make_node("Cast", ["shp"], ["shp32"], to=I32),
        helper.make_node("Gather", ["shp32", "free"], ["free_dims"], axis=0),
        helper.make_node("ReduceProd", ["free_dims"], ["pf"], keepdims=0),
        helper.make_node("Gather", ["shp32", "last"], ["last_dims"], axis=0),
        helper.make_node("ReduceProd", ["last_dims"], ["pl"], keepdims=0),
        helper.make_node("Unsqueeze", ["pf", "zero"], ["pf1"]),
        helper.make_node("Unsqueeze", ["pl", "zero"], ["pl1"]),
        helper.make_node("Concat", ["pf1", "pl1"], ["flat32"], axis=0),
        helper.make_node("Cast", ["flat32"], ["flat"], to=I64),
        helper.make_node("Reshape", [x, "flat"], ["x2"]),
        helper.make_node("MatMul", ["x2", "w"], ["m"]),
        helper.make_node("Concat", ["free_dims", "cols"], ["back32"], axis=0),
        helper.make_node("Cast", ["back32"], ["back"], to=I64),
        helper.make_node("Reshape", ["m", "back"], [y]),
    ]


def _inits(cin: int = 4, cout: int = 5) -> list:
    return [init("free", np.array([0, 1, 2], np.int64)), init("last", np.array([3], np.int64)),
            init("zero", np.array([0], np.int64)), init("cols", np.array([cout], np.int32)),
            init("w", rng.standard_normal((cin, cout)).astype(np.float32)),
            init("b", rng.standard_normal(cout).astype(np.float32))]  # fmt: skip


def _model():
    return build(
        [helper.make_node("Transpose", ["x"], ["t"], perm=NHWC), *_dense_nodes("t", "d"),
         helper.make_node("Add", ["d", "b"], ["db"]),
         helper.make_node("Transpose", ["db"], ["back_nchw"], perm=NCHW),
         helper.make_node("Relu", ["back_nchw"], ["y"])],
        [vi("x", ["N", 4, 3, 3])], [vi("y", ["N", 5, 3, 3])], _inits(),
    )  # fmt: skip


def test_tensordot_collapses_to_matmul():
    m = _model()
    out = check_pass(Pipeline("s", [simplify, prune_dead_nodes]), m, ops(m),
                     ["Transpose", "MatMul", "Add", "Transpose", "Relu"], numerics=False)  # fmt: skip
    _close(m, out)


def test_dense_on_nhwc_view_becomes_a_conv_without_transposes():
    m = _model()
    p = Pipeline("cleanup", [fold_constants, layout, simplify, prune_dead_nodes], max_iterations=4)
    out = check_pass(p, m, ops(m), ["Conv", "Relu"], numerics=False)
    _close(m, out)


def test_tensordot_of_unknown_rank_stays():
    """Without x's rank, a trailing 1-sized dim could hide: the Reshapes stay."""
    unranked = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)
    m = build(_dense_nodes("x", "y"), [unranked], [vi("y", ["a", "b", "c", 5])], _inits())
    assert "tensordot" not in simplify(m, PassContext(verify_each=True)).stats


def test_known_dims_through_pool_and_pointwise_conv():
    m = build(
        [helper.make_node("ReduceMean", ["x", "axes"], ["p"], keepdims=1),
         helper.make_node("Conv", ["p", "wc"], ["c"]),
         helper.make_node("Sigmoid", ["c"], ["s"]),
         helper.make_node("Mul", ["c", "s"], ["y"])],
        [vi("x", ["N", 4, 7, 7])], [vi("y", ["N", "C", "H", "W"])],
        [init("axes", np.array([2, 3], np.int64)), init("wc", np.ones((6, 4, 1, 1), np.float32))],
    )  # fmt: skip
    for n in m.graph:  # as converted graphs have them: no shapes on intermediate values
        for o in n.outputs:
            o.shape = None
    assert known_dims(m.graph.outputs[0]) == [None, 6, 1, 1]


def _close(m, out):
    want, got = run(m), run(out)
    report = compare_outputs(want, got, atol=1e-5, rtol=1e-4)
    assert report.ok, report
