"""layout: hand-built NHWC-wrapped graphs, each with the STYLE 4.9 recipe (check_pass)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from passes_helpers import I64, build, check_pass, init, ops, run, vi

from tensorbridge import ir
from tensorbridge.errors import UsageError
from tensorbridge.passes import PassContext, Pipeline, default_pipeline, layout
from tensorbridge.runtime import Session, compare_outputs

NCHW, NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
rng = np.random.default_rng(0)


def w(cout: int, cin: int, k: int = 3) -> np.ndarray:
    return rng.standard_normal((cout, cin, k, k)).astype(np.float32)


def conv(x: str, weight: str, y: str, tag: str) -> list:
    """The importer's wrapping of one NHWC convolution."""
    return [
        helper.make_node("Transpose", [x], [f"{tag}_in"], perm=NCHW),
        helper.make_node("Conv", [f"{tag}_in", weight], [f"{tag}_out"], pads=[1, 1, 1, 1]),
        helper.make_node("Transpose", [f"{tag}_out"], [y], perm=NHWC),
    ]


def close(model: ir.Model, optimized: ir.Model, feeds=None, atol: float = 1e-6) -> None:
    want = run(model) if feeds is None else Session(model).run(feeds)
    got = run(optimized) if feeds is None else Session(optimized).run(feeds[1])
    assert compare_outputs(want, got, atol=atol, rtol=atol).ok


def test_conv_relu_conv_chain_keeps_one_entry_and_one_exit_transpose():
    m = build(
        [*conv("x", "w1", "a", "c1"),
         helper.make_node("Relu", ["a"], ["b"]),
         *conv("b", "w2", "y", "c2")],
        [vi("x", [2, 5, 5, 3])], [vi("y", [2, 5, 5, 4])], [init("w1", w(4, 3)), init("w2", w(4, 4))],
    )  # fmt: skip
    out = check_pass(layout, m, ["Transpose", "Conv", "Transpose", "Relu", "Transpose", "Conv", "Transpose"],
                     ["Transpose", "Conv", "Relu", "Conv", "Transpose"])  # fmt: skip
    assert out.graph.outputs[0].name == "y"
    assert out.graph.outputs[0].producer().op_type == "Transpose"


def test_residual_add_with_bias_and_global_mean():
    """Add(branch, branch) + bias [C] (rank-expanded and permuted), then ReduceMean over H, W:
    the exit Transpose vanishes because the kept dims (N, C) are in order in both layouts."""
    bias = rng.standard_normal(4).astype(np.float32)
    m = build(
        [helper.make_node("Transpose", ["x"], ["xt"], perm=NCHW),
         helper.make_node("Conv", ["xt", "w1"], ["c1"], pads=[1, 1, 1, 1]),
         helper.make_node("Transpose", ["c1"], ["a"], perm=NHWC),
         helper.make_node("Relu", ["a"], ["ar"]),
         helper.make_node("Conv", ["xt", "w2"], ["c2"], pads=[0, 0, 0, 0]),
         helper.make_node("Transpose", ["c2"], ["b"], perm=NHWC),
         helper.make_node("Add", ["ar", "b"], ["s"]),
         helper.make_node("Add", ["s", "bias"], ["sb"]),
         helper.make_node("Mul", ["sb", "half"], ["sm"]),
         helper.make_node("ReduceMean", ["sm", "axes"], ["y"], keepdims=0)],
        [vi("x", [2, 6, 6, 3])], [vi("y", [2, 4])],
        [init("w1", w(4, 3)), init("w2", w(4, 3, 1)), init("bias", bias),
         init("half", np.float32(0.5)), init("axes", np.asarray([1, 2], np.int64))],
    )  # fmt: skip
    out = check_pass(layout, m, ["Transpose", "Conv", "Transpose", "Relu", "Conv", "Transpose", "Add", "Add",
                                 "Mul", "ReduceMean"],
                     ["Transpose", "Conv", "Relu", "Conv", "Add", "Add", "Mul", "ReduceMean"],
                     numerics=False)  # fmt: skip
    close(m, out)
    assert out.graph.initializers["axes_layout"].const.numpy().tolist() == [2, 3]
    assert out.graph.initializers["bias_layout"].const.shape == (1, 4, 1, 1)


def test_concat_of_branches_and_a_constant_remaps_the_axis():
    const = rng.standard_normal((1, 4, 4, 2)).astype(np.float32)
    m = build(
        [*conv("x", "w1", "a", "c1"), *conv("x", "w2", "b", "c2"),
         helper.make_node("Concat", ["a", "b", "k"], ["y"], axis=-1)],
        [vi("x", [1, 4, 4, 3])], [vi("y", [1, 4, 4, 7])],
        [init("w1", w(2, 3)), init("w2", w(3, 3)), init("k", const)],
    )  # fmt: skip
    before = ["Transpose", "Conv", "Transpose", "Transpose", "Conv", "Transpose", "Concat"]
    # both entry Transposes stay (merging them is cse's job); one Transpose before the output
    out = check_pass(layout, m, before, ["Transpose", "Conv", "Transpose", "Conv", "Concat", "Transpose"])
    concat = [n for n in out.graph if n.op_type == "Concat"][0]
    assert concat.attr("axis") == 1


def test_reductions_keepdims_both_ways_and_argmax():
    m = build(
        [*conv("x", "w1", "a", "c1"),
         helper.make_node("ReduceMax", ["a", "last"], ["m1"], keepdims=1),
         helper.make_node("Relu", ["m1"], ["y1"]),
         helper.make_node("ReduceSum", ["a", "h"], ["m2"], keepdims=0),
         helper.make_node("Neg", ["m2"], ["y2"]),
         helper.make_node("ArgMax", ["a"], ["m3"], axis=3, keepdims=0),
         helper.make_node("Identity", ["m3"], ["y3"])],
        [vi("x", [2, 4, 5, 3])],
        [vi("y1", [2, 4, 5, 1]), vi("y2", [2, 5, 4]), vi("y3", [2, 4, 5], elem=I64)],
        [init("w1", w(4, 3)), init("last", np.asarray([-1], np.int64)),
         init("h", np.asarray([1], np.int64))],
    )  # fmt: skip
    out = check_pass(layout, m, ["Transpose", "Conv", "Transpose", "ReduceMax", "Relu", "ReduceSum", "Neg",
                                 "ArgMax", "Identity"],
                     ["Transpose", "Conv", "ReduceMax", "Relu", "Transpose", "ReduceSum", "Neg", "Transpose",
                      "ArgMax", "Identity"], numerics=False)  # fmt: skip
    assert [list(n.attr("perm")) for n in out.graph if n.op_type == "Transpose"][1:] == [NHWC, [0, 2, 1]]
    close(m, out)
    argmax = [n for n in out.graph if n.op_type == "ArgMax"][0]
    assert argmax.attr("axis") == 1


def test_pad_slice_softmax_remap_per_dim_values():
    pads = np.asarray([0, 1, 2, 0, 0, 3, 4, 0], np.int64)  # NHWC begins then ends
    m = build(
        [*conv("x", "w1", "a", "c1"),
         helper.make_node("Pad", ["a", "pads"], ["p"]),
         helper.make_node("Slice", ["p", "st", "en", "ax"], ["s"]),
         helper.make_node("Softmax", ["s"], ["sm"], axis=-1),
         *conv("sm", "w2", "y", "c2")],
        [vi("x", [1, 4, 4, 3])], [vi("y", [1, 8, 7, 2])],
        [init("w1", w(4, 3)), init("w2", w(2, 3)), init("pads", pads),
         init("st", np.asarray([0, 1], np.int64)), init("en", np.asarray([3, 8], np.int64)),
         init("ax", np.asarray([3, 2], np.int64))],
    )  # fmt: skip
    out = check_pass(layout, m, ["Transpose", "Conv", "Transpose", "Pad", "Slice", "Softmax", "Transpose",
                                 "Conv", "Transpose"],
                     ["Transpose", "Conv", "Pad", "Slice", "Softmax", "Conv", "Transpose"])  # fmt: skip
    init_ = out.graph.initializers
    assert init_["pads_layout"].const.numpy().tolist() == [0, 0, 1, 2, 0, 0, 3, 4]
    assert init_["ax_layout"].const.numpy().tolist() == [1, 3]
    assert [n for n in out.graph if n.op_type == "Softmax"][0].attr("axis") == 1


def test_swish_split_reduce_squeeze_unsqueeze():
    m = build(
        [*conv("x", "w1", "a", "c1"),
         helper.make_node("Sigmoid", ["a"], ["sg"]),
         helper.make_node("Mul", ["a", "sg"], ["sw"]),          # swish: two readers of one Transpose
         helper.make_node("Split", ["sw"], ["s1", "s2"], axis=3, num_outputs=2),
         helper.make_node("ReduceMean", ["s1", "h"], ["r"], keepdims=1),
         helper.make_node("Squeeze", ["r", "h"], ["q"]),        # 3-D: Transpose perm (0, 2, 1)
         helper.make_node("Unsqueeze", ["q", "w"], ["u"]),      # 4-D again: perm (0, 3, 2, 1)
         helper.make_node("Relu", ["u"], ["y1"]),
         helper.make_node("Neg", ["s2"], ["y2"])],
        [vi("x", [1, 4, 4, 3])], [vi("y1", [1, 4, 1, 2]), vi("y2", [1, 4, 4, 2])],
        [init("w1", w(4, 3)), init("h", np.asarray([1], np.int64)), init("w", np.asarray([2], np.int64))],
    )  # fmt: skip
    before = ["Transpose", "Conv", "Transpose", "Sigmoid", "Mul", "Split", "ReduceMean", "Squeeze",
              "Unsqueeze", "Relu", "Neg"]  # fmt: skip
    out = check_pass(layout, m, before,
                     ["Transpose", "Conv", "Sigmoid", "Mul", "Split", "ReduceMean", "Squeeze", "Unsqueeze",
                      "Relu", "Transpose", "Neg", "Transpose"], numerics=False)  # fmt: skip
    perms = [list(n.attr("perm")) for n in out.graph if n.op_type == "Transpose"]
    assert perms == [NCHW, [0, 3, 2, 1], NHWC]
    close(m, out)


def test_transposes_that_cannot_move_stay_and_nothing_changes():
    m = build(
        [helper.make_node("Transpose", ["x"], ["t"], perm=NCHW),
         helper.make_node("Relu", ["t"], ["r"]),                 # a graph output: stays
         helper.make_node("Transpose", ["x"], ["t2"], perm=NCHW),
         helper.make_node("MatMul", ["t2", "m"], ["mm"]),        # no rule
         helper.make_node("Transpose", ["x"], ["t3"], perm=NCHW),
         helper.make_node("Add", ["t3", "z"], ["y"])],           # other input: not a Transpose
        [vi("x", [1, 2, 3, 4]), vi("z", [1, 4, 2, 3])],
        [vi("r", [1, 4, 2, 3]), vi("mm", [1, 4, 2, 2]), vi("y", [1, 4, 2, 3]), vi("t", [1, 4, 2, 3])],
        [init("m", np.ones((3, 2), np.float32))],
    )  # fmt: skip
    before = ops(m)
    result = layout(m, PassContext(verify_each=True))
    assert result.changed is False
    assert ops(m) == before


def test_batchnorm_passes_only_when_channel_axis_stays():
    c = 4
    bn = [init(n, rng.random(c).astype(np.float32) + 0.5) for n in ("sc", "bi", "mu", "va")]
    m = build(
        [helper.make_node("Transpose", ["x"], ["t1"], perm=[0, 1, 3, 2]),
         helper.make_node("BatchNormalization", ["t1", "sc", "bi", "mu", "va"], ["b1"]),
         helper.make_node("Transpose", ["b1"], ["t2"], perm=[0, 1, 3, 2]),
         helper.make_node("Transpose", ["t2"], ["t3"], perm=[0, 3, 1, 2]),
         helper.make_node("BatchNormalization", ["t3", "sc", "bi", "mu", "va"], ["y"])],
        [vi("x", [2, c, 5, c])], [vi("y", [2, c, c, 5])], bn,
    )  # fmt: skip
    # the first pair cancels around BN (perm keeps N, C); the other one cannot pass BN
    check_pass(layout, m, ["Transpose", "BatchNormalization", "Transpose", "Transpose", "BatchNormalization"],
               ["BatchNormalization", "Transpose", "BatchNormalization"])  # fmt: skip


def test_inputs_as_nchw_drops_the_entry_transpose():
    m = build(
        [*conv("x", "w1", "a", "c1"), helper.make_node("Relu", ["a"], ["y"])],
        [vi("x", [2, 5, 5, 3])], [vi("y", [2, 5, 5, 4])], [init("w1", w(4, 3))],
    )  # fmt: skip
    ctx = PassContext(verify_each=True)
    ctx.inputs_as_nchw = ("x",)
    feeds = {"x": rng.standard_normal((2, 5, 5, 3)).astype(np.float32)}
    want = Session(m).run(feeds)
    result = Pipeline("t", [layout], verify_each=True)(m, ctx)
    assert result.changed is True
    assert ops(m) == ["Conv", "Relu", "Transpose"]
    assert tuple(m.graph.inputs[0].shape) == (2, 3, 5, 5)
    got = Session(m).run({"x": feeds["x"].transpose(0, 3, 1, 2)})
    assert compare_outputs(want, got, atol=0, rtol=0).ok
    assert Pipeline("again", [layout], verify_each=True)(m, ctx).changed is False
    bad = PassContext()
    bad.inputs_as_nchw = ("nope",)  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match="no graph input 'nope'"):
        layout(m, bad)


def test_default_pipeline_reaches_a_fixed_point():
    m = build(
        [*conv("x", "w1", "a", "c1"),
         helper.make_node("Relu", ["a"], ["b"]),
         *conv("b", "w2", "c", "c2"),
         helper.make_node("Add", ["c", "a"], ["y"])],
        [vi("x", [2, 5, 5, 3])], [vi("y", [2, 5, 5, 4])], [init("w1", w(4, 3)), init("w2", w(4, 4))],
    )  # fmt: skip
    want = run(m)
    default_pipeline()(m, PassContext(verify_each=True))
    assert ops(m) == ["Transpose", "Conv", "Relu", "Conv", "Add", "Transpose"]
    assert default_pipeline()(m, PassContext(verify_each=True)).changed is False
    assert compare_outputs(want, run(m), atol=1e-6, rtol=1e-6).ok
