"""The squeeze-and-excitation and hard-swish patterns of MobileNetV3 / EfficientNet, small:
simplify turns the SE block's run-time Reshape + NHWC->NCHW Transpose into one Reshape
(passes/simplify_reshape.py), and layout pushes a Transpose through x * Clip(x + 3) / 6
(passes/layout.py ``_followers``)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from passes_helpers import I64, assert_close, build, check_pass, init, ops, vi

from tensorbridge.passes import PassContext, Pipeline, layout, prune_dead_nodes, simplify

NCHW, NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
I32 = TensorProto.INT32
rng = np.random.default_rng(0)


def _se_nodes(target_consts: list[str], perm: list[int]) -> list:
    """Pool [N, 8, 4, 4] to [N, 8], reshape to [N, *consts] by Concat(Shape(m)[0:1], ...),
    transpose with ``perm``, then a 1x1 Conv."""
    return [
        helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=0),
        helper.make_node("Shape", ["m"], ["shp"]),
        helper.make_node("Cast", ["shp"], ["shp32"], to=I32),
        helper.make_node("Slice", ["shp32", "zero", "one"], ["d"]),
        helper.make_node("Squeeze", ["d", "zero64"], ["dsq"]),
        helper.make_node("Unsqueeze", ["dsq", "zero64"], ["dun"]),
        helper.make_node("Concat", ["dun", *target_consts], ["cat"], axis=0),
        helper.make_node("Cast", ["cat"], ["tgt"], to=I64),
        helper.make_node("Reshape", ["m", "tgt"], ["r"], allowzero=1),
        helper.make_node("Transpose", ["r"], ["t"], perm=perm),
        helper.make_node("Conv", ["t", "w"], ["y"]),
    ]


def _se_inits(**consts) -> list:
    return [init("axes", np.array([2, 3], np.int64)), init("zero", np.array([0], np.int32)),
            init("one", np.array([1], np.int32)), init("zero64", np.array([0], np.int64)),
            init("w", rng.standard_normal((4, 8, 1, 1)).astype(np.float32))] + [
        init(k, np.array(v, np.int32)) for k, v in consts.items()]  # fmt: skip


def test_se_reshape_and_transpose_become_one_reshape():
    m = build(_se_nodes(["c1", "c1", "c8"], NCHW), [vi("x", ["N", 8, 4, 4])], [vi("y", ["N", 4, 1, 1])],
              _se_inits(c1=[1], c8=[8]))  # fmt: skip
    p = Pipeline("simplify+prune", [simplify, prune_dead_nodes], max_iterations=3)  # Shape(m) goes
    # Reshape [-1, 8, 1, 1]: keepdims, and that ReduceMean over H, W is a GlobalAveragePool
    _close(m, check_pass(p, m, ops(m), ["GlobalAveragePool", "Conv"], numerics=False))


def test_transpose_that_reorders_big_dims_stays():
    """[N, 2, 1, 4] -> perm [0, 3, 1, 2] moves 4 before 2: a real transpose."""
    m = build(_se_nodes(["c2", "c1", "c4"], NCHW), [vi("x", ["N", 8, 4, 4])], [vi("y", ["N", 4, 2, 1])],
              [*_se_inits(c1=[1], c2=[2], c4=[4])[:4], init("w", np.ones((4, 4, 1, 1), np.float32)),
               init("c1", np.array([1], np.int32)), init("c2", np.array([2], np.int32)),
               init("c4", np.array([4], np.int32))])  # fmt: skip
    Pipeline("simplify+prune", [simplify, prune_dead_nodes])(m, PassContext(verify_each=True))
    assert "Transpose" in ops(m)
    reshape = next(n for n in m.graph if n.op_type == "Reshape")
    assert reshape.inputs[1].const.numpy().tolist() == [0, 2, 1, 4]  # the copy still applies


def test_hard_swish_takes_the_transpose_through():
    """x * Clip(x + 3, 0, 6) / 6 on an NHWC view: both Transposes cancel."""
    m = build(
        [helper.make_node("Transpose", ["x"], ["t"], perm=NHWC),
         helper.make_node("Add", ["t", "three"], ["a"]),
         helper.make_node("Clip", ["a", "zero", "six"], ["c"]),
         helper.make_node("Div", ["c", "six"], ["d"]),
         helper.make_node("Mul", ["t", "d"], ["h"]),
         helper.make_node("Transpose", ["h"], ["back"], perm=NCHW),
         helper.make_node("Relu", ["back"], ["y"])],
        [vi("x", [2, 4, 3, 3])], [vi("y", [2, 4, 3, 3])],
        [init("three", np.float32(3)), init("zero", np.float32(0)), init("six", np.float32(6))],
    )  # fmt: skip
    check_pass(layout, m, ops(m), ["Add", "Clip", "Div", "Mul", "Relu"])


def _two_reshapes(s1: list[int], s2: list[int]):
    return build(
        [helper.make_node("Reshape", ["x", "s1"], ["r"]), helper.make_node("Reshape", ["r", "s2"], ["y"])],
        [vi("x", ["N", 8])], [vi("y", ["N", 8, 1, 1])],
        [init("s1", np.array(s1, np.int64)), init("s2", np.array(s2, np.int64))],
    )  # fmt: skip


def test_reshape_chain_composes_when_the_copies_line_up():
    check_pass(simplify, _two_reshapes([0, 1, 1, 8], [0, 8, 1, 1]), ["Reshape", "Reshape"], ["Reshape"])


def test_reshape_chain_keeps_a_copy_of_an_inferred_dim():
    m = _two_reshapes([-1, 1, 1, 8], [0, 8, 1, 1])  # dim 0 of r is inferred, not x's
    assert simplify(m, PassContext(verify_each=True)).changed is False


def _pool_reshape(target: list[int]):
    return build(
        [helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=0),
         helper.make_node("Reshape", ["m", "t"], ["y"])],
        [vi("x", ["N", 8, 4, 4])], [vi("y", ["N", "a", "b", "c"])],
        [init("axes", np.array([2, 3], np.int64)), init("t", np.array(target, np.int64))],
    )  # fmt: skip


def test_pool_then_reshape_to_the_kept_dims_keeps_them():
    # keepdims=1 (then a GlobalAveragePool: simplify_pool.py)
    for target in ([-1, 8, 1, 1], [0, 8, 1, 1]):
        m = _pool_reshape(target)
        _close(m, check_pass(simplify, m, ["ReduceMean", "Reshape"], ["GlobalAveragePool"], numerics=False))


def _close(before, after):
    """Same values up to float rounding (GlobalAveragePool sums in another order)."""
    assert_close(before, after, atol=1e-6, rtol=1e-6)


def test_pool_then_reshape_to_another_layout_stays():
    for target in ([-1, 1, 1, 8], [0, 1, 8, 1], [-1, 4, 2, 1]):
        assert simplify(_pool_reshape(target), PassContext(verify_each=True)).changed is False, target
