"""The pass fixes the Keras applications needed (tests/e2e/test_keras_applications.py), as
small graphs: simplify folds Transpose(constant) at any size, lazily (the HWIO->OIHW filter
Transpose of every conv filter over fold-constants' 1 MB limit used to stay in the graph)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from onnx import helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "passes"))
from passes_helpers import build, check_pass, init, vi  # noqa: E402

from tensorbridge import ir  # noqa: E402
from tensorbridge.passes import simplify  # noqa: E402


def test_transpose_of_large_constant_becomes_a_lazy_constant():
    w = np.random.default_rng(0).standard_normal((3, 3, 256, 300)).astype(np.float32)  # 2.7 MB
    m = build(
        [helper.make_node("Transpose", ["w"], ["wt"], perm=[3, 2, 0, 1]),
         helper.make_node("Conv", ["x", "wt"], ["y"], pads=[1, 1, 1, 1])],
        [vi("x", [1, 256, 4, 4])], [vi("y", [1, 300, 4, 4])], [init("w", w)],
    )  # fmt: skip
    out = check_pass(simplify, m, ["Transpose", "Conv"], ["Conv"])
    conv = list(out.graph)[0]
    c = conv.inputs[1].const
    assert isinstance(c, ir.LazyTensor) and c.shape == (300, 256, 3, 3)
    np.testing.assert_array_equal(c.numpy(), w.transpose(3, 2, 0, 1))
    assert [v.name for v in out.graph.initializers.values()] == [conv.inputs[1].name]  # w dropped


def test_transpose_of_constant_as_graph_output_is_kept():
    m = build(
        [helper.make_node("Transpose", ["w"], ["y"], perm=[1, 0])],
        [], [vi("y", [3, 2])], [init("w", np.arange(6, dtype=np.float32).reshape(2, 3))],
    )  # fmt: skip
    from tensorbridge.passes import PassContext

    assert simplify(m, PassContext()).changed is False


def test_import_constant_value_sees_through_concat_of_constants():
    """tf.tensordot's Transpose perm is ConcatV2(free, axes) of two Consts (ConvNeXt)."""
    from tensorbridge.converters.savedmodel.ops._context import ImportContext

    g = ir.Graph(name="g")
    a = g.add_initializer(ir.Value("a", const=ir.as_tensor(np.array([0, 1, 2], np.int32))))
    b = g.add_initializer(ir.Value("b", const=ir.as_tensor(np.array([3], np.int32))))
    cat = ir.Node("Concat", [a, b], {"axis": 0}, name="cat")
    g.append(cat)
    np.testing.assert_array_equal(ImportContext.constant_value(cat.outputs[0]), [0, 1, 2, 3])
    x = ir.Value("x", type=ir.TensorType(ir.DType.INT32, (1,)))
    g.add_input(x)
    dyn = ir.Node("Concat", [a, x], {"axis": 0}, name="dyn")
    g.append(dyn)
    assert ImportContext.constant_value(dyn.outputs[0]) is None
