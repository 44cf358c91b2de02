"""simplify: Conv -> Mul/Add of a per-output-channel constant folded into the Conv's weight and
bias (passes/simplify_conv.py), as Keras 3's BatchNormalization arithmetic needs.

Folded weights are rounded once, so outputs match the unfused graph to float32 level:
atol=1e-5, rtol=1e-4 (check_pass's exact comparison is off for these)."""

from __future__ import annotations

import numpy as np
from onnx import helper
from passes_helpers import assert_close, build, check_pass, init, ops, vi

from tensorbridge import ir
from tensorbridge.passes import PassContext, simplify

RNG = np.random.default_rng(0)


def _w(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _folded(m, before, after):
    out = check_pass(simplify, m, before, after, numerics=False)
    assert_close(m, out, atol=1e-5, rtol=1e-4)
    return out


def test_keras_batchnorm_arithmetic_and_bias_fold_into_the_conv():
    """Conv -> Add(bias) -> Mul(s [1,C,1,1]) -> Add(t [1,C,1,1]) -> Relu: ResNet50's pattern."""
    m = build(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], group=2),
         helper.make_node("Add", ["c", "b"], ["cb"]),
         helper.make_node("Mul", ["s", "cb"], ["cs"]),  # the constant first: commuted
         helper.make_node("Add", ["cs", "t"], ["ct"]),
         helper.make_node("Relu", ["ct"], ["y"])],
        [vi("x", [2, 4, 5, 5])], [vi("y", [2, 6, 5, 5])],
        [init("w", _w(6, 2, 3, 3)), init("b", _w(6, 1, 1)), init("s", _w(1, 6, 1, 1)),
         init("t", _w(1, 6, 1, 1))],
    )  # fmt: skip
    out = _folded(m, ["Conv", "Add", "Mul", "Add", "Relu"], ["Conv", "Relu"])
    conv = list(out.graph)[0]
    assert isinstance(conv.inputs[1].const, ir.LazyTensor)  # the weight is computed when written
    assert len(out.graph.initializers) == 2  # the old weight, bias and constants are gone


def test_scalar_and_graph_output_keep_the_name():
    m = build(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"]),
         helper.make_node("Mul", ["c", "k"], ["y"])],
        [vi("x", [1, 3, 4, 4])], [vi("y", [1, 5, 2, 2])],
        [init("w", _w(5, 3, 3, 3)), init("b", _w(5)), init("k", np.float32(0.5))],
    )  # fmt: skip
    out = _folded(m, ["Conv", "Mul"], ["Conv"])
    assert out.graph.outputs[0].name == "y"


def _kept(nodes, inits, out_shape=(1, 5, 5, 5)):
    m = build(nodes, [vi("x", [1, 3, 7, 7])], [vi("y", list(out_shape))], inits)
    before = ops(m)
    assert simplify(m, PassContext(verify_each=True)).changed is False
    assert ops(m) == before


def test_not_along_the_channel_axis_is_kept():
    conv = helper.make_node("Conv", ["x", "w"], ["c"])
    for shape in [(5,), (5, 1), (1, 5, 5, 1), (1, 1, 5, 1, 1)]:  # W, H, C and H, rank 5
        out_shape = np.broadcast_shapes((1, 5, 5, 5), shape)
        _kept([conv, helper.make_node("Mul", ["c", "s"], ["y"])],
              [init("w", _w(5, 3, 3, 3)), init("s", _w(*shape))], out_shape)


def test_conv_output_read_twice_or_dynamic_factor_is_kept():
    conv = helper.make_node("Conv", ["x", "w"], ["c"])
    _kept([conv, helper.make_node("Mul", ["c", "s"], ["d"]), helper.make_node("Add", ["c", "d"], ["y"])],
          [init("w", _w(5, 3, 3, 3)), init("s", _w(1, 5, 1, 1))])
    m = build([conv, helper.make_node("Mul", ["c", "z"], ["y"])],
              [vi("x", [1, 3, 4, 4]), vi("z", [1, 5, 1, 1])], [vi("y", [1, 5, 2, 2])],
              [init("w", _w(5, 3, 3, 3))])  # fmt: skip
    assert simplify(m, PassContext(verify_each=True)).changed is False


def _padded(pads, value=None, mode="constant"):
    ins = ["x", "p"] + (["v"] if value is not None else [])
    inits = [init("p", np.array(pads, np.int64)), init("w", _w(5, 3, 3, 3))]
    inits += [init("v", np.float32(value))] if value is not None else []
    return build(
        [helper.make_node("Pad", ins, ["xp"], mode=mode),
         helper.make_node("Conv", ["xp", "w"], ["y"], strides=[2, 2], pads=[1, 0, 0, 0])],
        [vi("x", [1, 3, 7, 7])], [vi("y", ["n", 5, "h", "w"])], inits,
    )  # fmt: skip


def test_zero_pad_goes_into_the_conv_pads():
    """Keras ZeroPadding2D before a strided conv: the pads add up, numerics are identical."""
    out = check_pass(simplify, _padded([0, 0, 1, 0, 0, 0, 0, 1], value=0.0), ["Pad", "Conv"], ["Conv"])
    assert list(list(out.graph)[0].attr("pads")) == [2, 0, 0, 1]


def test_pad_with_a_value_or_on_the_batch_or_reflecting_stays():
    for m in (_padded([0, 0, 1, 1, 0, 0, 1, 1], value=1.0), _padded([1, 0, 0, 0, 0, 0, 0, 0]),
              _padded([0, 0, 1, 1, 0, 0, 1, 1], mode="reflect")):
        assert simplify(m, PassContext(verify_each=True)).changed is False
