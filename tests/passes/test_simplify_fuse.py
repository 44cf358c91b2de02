"""simplify: BatchNormalization folded into Conv/ConvTranspose/Gemm/MatMul.

The folded weights are computed in float64 and rounded once to float32, so the outputs match
the unfused graph to float32 level, not bit for bit: this rule's numerics are checked with
atol=1e-5, rtol=1e-4 (check_pass's own exact comparison is switched off for it).
"""

from __future__ import annotations

import numpy as np
from onnx import helper
from passes_helpers import build, check_pass, init, ops, run, vi

from tensorbridge.passes import simplify
from tensorbridge.runtime import compare_outputs

RNG = np.random.default_rng(0)


def _bn_params(c: int) -> list:
    return [init("sc", RNG.uniform(0.5, 2, c).astype(np.float32)),
            init("bb", RNG.standard_normal(c).astype(np.float32)),
            init("mu", RNG.standard_normal(c).astype(np.float32)),
            init("var", RNG.uniform(0.5, 2, c).astype(np.float32))]  # fmt: skip


def _bn(x: str, y: str, **attrs):
    return helper.make_node("BatchNormalization", [x, "sc", "bb", "mu", "var"], [y], **attrs)


def _check_folded(m, before, after):
    out = check_pass(simplify, m, before, after, numerics=False)
    want, got = run(m), run(out)
    assert list(got) == list(want)
    report = compare_outputs(want, got, atol=1e-5, rtol=1e-4)  # float32-level, see module doc
    assert report.ok, report
    assert out.graph.outputs[0].name == "y"
    return out


def _w(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def test_conv_with_bias_and_groups():
    m = build(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], group=2, pads=[1, 1, 1, 1]),
         _bn("c", "y", epsilon=1e-3)],
        [vi("x", [2, 4, 5, 5])], [vi("y", [2, 6, 5, 5])],
        [init("w", _w(6, 2, 3, 3)), init("b", _w(6))] + _bn_params(6),
    )  # fmt: skip
    out = _check_folded(m, ["Conv", "BatchNormalization"], ["Conv"])
    assert sorted(out.graph.initializers) == ["w_bn", "y_bn_bias"]  # BN params and old weights gone


def test_conv_without_bias_gets_one():
    m = build(
        [helper.make_node("Conv", ["x", "w"], ["c"]), _bn("c", "d"), helper.make_node("Relu", ["d"], ["y"])],
        [vi("x", [1, 3, 4, 4])], [vi("y", [1, 5, 2, 2])], [init("w", _w(5, 3, 3, 3))] + _bn_params(5),
    )  # fmt: skip
    out = _check_folded(m, ["Conv", "BatchNormalization", "Relu"], ["Conv", "Relu"])
    assert len(list(out.graph)[0].inputs) == 3


def test_conv_transpose_weight_layout_with_groups():
    m = build(
        [helper.make_node("ConvTranspose", ["x", "w"], ["c"], group=2, strides=[2, 2]), _bn("c", "y")],
        [vi("x", [1, 4, 3, 3])], [vi("y", [1, 6, 7, 7])],
        [init("w", _w(4, 3, 3, 3))] + _bn_params(6),  # [C_in, C_out/group, kh, kw]
    )  # fmt: skip
    _check_folded(m, ["ConvTranspose", "BatchNormalization"], ["ConvTranspose"])


def test_gemm_trans_b_with_beta_and_bias():
    m = build(
        [helper.make_node("Gemm", ["x", "w", "b"], ["c"], transB=1, alpha=0.5, beta=2.0), _bn("c", "y")],
        [vi("x", [3, 4])], [vi("y", [3, 5])],
        [init("w", _w(5, 4)), init("b", _w(1, 5))] + _bn_params(5),
    )  # fmt: skip
    out = _check_folded(m, ["Gemm", "BatchNormalization"], ["Gemm"])
    assert list(out.graph)[0].attr("beta") == 1.0


def test_matmul_constant_weight_gets_an_add():
    m = build(
        [helper.make_node("MatMul", ["x", "w"], ["c"]), _bn("c", "y")],
        [vi("x", [3, 4])], [vi("y", [3, 5])], [init("w", _w(4, 5))] + _bn_params(5),
    )  # fmt: skip
    _check_folded(m, ["MatMul", "BatchNormalization"], ["MatMul", "Add"])


def test_conv_output_with_another_user_is_not_folded():
    m = build(
        [helper.make_node("Conv", ["x", "w"], ["c"]), _bn("c", "d"),
         helper.make_node("Add", ["c", "d"], ["y"])],
        [vi("x", [1, 3, 4, 4])], [vi("y", [1, 5, 2, 2])], [init("w", _w(5, 3, 3, 3))] + _bn_params(5),
    )  # fmt: skip
    assert simplify(m).changed is False
    assert ops(m) == ["Conv", "BatchNormalization", "Add"]


def test_training_mode_or_runtime_weights_are_not_folded():
    m = build(
        [helper.make_node("Conv", ["x", "w"], ["c"]),
         helper.make_node("BatchNormalization", ["c", "sc", "bb", "mu", "var"], ["d", "rm", "rv"],
                          training_mode=1),
         helper.make_node("MatMul", ["z", "wz"], ["e"]), _bn("e", "y")],
        [vi("x", [1, 3, 4, 4]), vi("z", [2, 5]), vi("wz", [5, 5])],
        [vi("d", [1, 5, 2, 2]), vi("y", [2, 5]), vi("rm", [5]), vi("rv", [5])],
        [init("w", _w(5, 3, 3, 3))] + _bn_params(5),
    )  # fmt: skip
    assert simplify(m).changed is False
    assert ops(m) == ["Conv", "BatchNormalization", "MatMul", "BatchNormalization"]


def test_matmul_with_rank3_input_is_not_folded():
    m = build(
        [helper.make_node("MatMul", ["x", "w"], ["c"]), _bn("c", "y")],
        [vi("x", [2, 5, 4])], [vi("y", [2, 5, 5])], [init("w", _w(4, 5))] + _bn_params(5),
    )  # fmt: skip
    assert simplify(m).changed is False
