"""simplify: a ReduceMean over every spatial axis becomes GlobalAveragePool (passes/simplify_pool.py);
the mean over the same elements, so the outputs match to float rounding (atol 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from passes_helpers import assert_close, build, check_pass, init, vi

from tensorbridge.passes import PassContext, simplify


def _pooled(m, before, after):
    out = check_pass(simplify, m, before, after, numerics=False)
    assert_close(m, out, atol=1e-6, rtol=1e-5)
    return out


@pytest.mark.parametrize("rank", [3, 4, 5])
def test_reduce_mean_over_spatial_axes_keepdims(rank):
    shape = [2, 3, 5, 4, 3][:rank]
    axes = list(range(2, rank))
    m = build([helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1)],
              [vi("x", shape)], [vi("y", shape[:2] + [1] * (rank - 2))],
              [init("axes", np.asarray(axes[::-1], np.int64))], opset=18)
    out = _pooled(m, ["ReduceMean"], ["GlobalAveragePool"])
    assert not out.graph.initializers  # the axes went with the ReduceMean
    assert out.graph.outputs[0].name == "y"


def test_keepdims_0_pools_then_flattens_and_keeps_the_value_name():
    """Keras' GlobalAveragePooling2D (Mean over H, W after the layout pass) -> Dense."""
    m = build([helper.make_node("ReduceMean", ["x", "axes"], ["pooled"], keepdims=0),
               helper.make_node("MatMul", ["pooled", "w"], ["y"])],
              [vi("x", ["batch", 8, 7, 7])], [vi("y", ["batch", 4])],
              [init("axes", np.asarray([-2, -1], np.int64)),
               init("w", np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32))],
              opset=18)
    out = _pooled(m, ["ReduceMean", "MatMul"], ["GlobalAveragePool", "Flatten", "MatMul"])
    flatten = [n for n in out.graph if n.op_type == "Flatten"][0]
    assert flatten.outputs[0].name == "pooled"  # check --bisect pairs values by name


@pytest.mark.parametrize("case", ["channel axis", "batch axis", "integer", "one spatial axis"])
def test_other_reductions_stay(case):
    f, i32 = TensorProto.FLOAT, TensorProto.INT32
    axes, elem = {"channel axis": ([1, 2, 3], f), "batch axis": ([0, 2, 3], f),
                  "integer": ([2, 3], i32), "one spatial axis": ([2], f)}[case]
    y = [1 if i in axes else d for i, d in enumerate([2, 3, 4, 4])]
    m = build([helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1)],
              [vi("x", [2, 3, 4, 4], elem)], [vi("y", y, elem)],
              [init("axes", np.asarray(axes, np.int64))], opset=18)
    result = simplify(m, PassContext())
    assert not result.changed and [n.op_type for n in m.graph] == ["ReduceMean"]


def test_se_block_reshape_first_then_one_pool():
    """ReduceMean(keepdims=0) -> Reshape [N, C, 1, 1] (an SE block): one GlobalAveragePool."""
    m = build([helper.make_node("ReduceMean", ["x", "axes"], ["p"], keepdims=0),
               helper.make_node("Reshape", ["p", "shape"], ["y"])],
              [vi("x", [2, 8, 5, 5])], [vi("y", [2, 8, 1, 1])],
              [init("axes", np.asarray([2, 3], np.int64)),
               init("shape", np.asarray([-1, 8, 1, 1], np.int64))],
              opset=18)
    _pooled(m, ["ReduceMean", "Reshape"], ["GlobalAveragePool"])
