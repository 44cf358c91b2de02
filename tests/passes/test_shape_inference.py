"""shape-inference: every rule family against ONNX's own shape inference (the oracle), symbolic
dims kept by name, shape-vector tracking through Shape/Gather/Concat into Reshape, the merge
rules (never less precise; a contradiction names the node), unknown ops left alone, the
changed flag, registration, and value_info in the exported ONNX file."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from passes_helpers import I64, F, build, init, vi

from tensorbridge import ir
from tensorbridge.converters.onnx import to_model_proto
from tensorbridge.converters.onnx._types import type_from_proto
from tensorbridge.errors import PassError
from tensorbridge.passes import (
    PassContext,
    default_pipeline,
    describe_passes,
    functional,
    run_passes,
    shape_inference,
)

B = "batch"
OPSET = ir.CANONICAL_OPSET  # no opset conversion on import (it would fill in output types)
N = helper.make_node
W33 = np.ones((4, 3, 3, 3), np.float32)

# (id, nodes, inputs, initializers); the output is always "Y"
CASES = [
    ("unary", [N("Relu", ["X"], ["a"]), N("Softmax", ["a"], ["Y"], axis=-1)],
     [vi("X", [B, 3, 5])], []),
    ("broadcast", [N("Add", ["X", "b"], ["a"]), N("Mul", ["a", "X2"], ["Y"])],
     [vi("X", [B, 1, 5]), vi("X2", [4, 1])], [init("b", np.ones((3, 1, 1), np.float32))]),
    ("compare_where", [N("Greater", ["X", "z"], ["m"]), N("Where", ["m", "X", "z"], ["Y"])],
     [vi("X", [B, 6])], [init("z", np.zeros((6,), np.float32))]),
    ("cast", [N("Cast", ["X"], ["Y"], to=TensorProto.INT32)], [vi("X", [B, 2])], []),
    ("matmul", [N("MatMul", ["X", "w"], ["Y"])], [vi("X", [B, 7, 3])],
     [init("w", np.ones((3, 5), np.float32))]),
    ("matmul_vec", [N("MatMul", ["X", "w"], ["Y"])], [vi("X", [B, 3])],
     [init("w", np.ones((3,), np.float32))]),
    ("gemm", [N("Gemm", ["X", "w", "c"], ["Y"], transB=1)], [vi("X", [B, 3])],
     [init("w", np.ones((5, 3), np.float32)), init("c", np.ones((5,), np.float32))]),
    ("conv_pads", [N("Conv", ["X", "w"], ["Y"], pads=[1, 1, 1, 1], strides=[2, 2])],
     [vi("X", [B, 3, 15, 16])], [init("w", W33)]),
    ("conv_same", [N("Conv", ["X", "w"], ["Y"], auto_pad="SAME_UPPER", strides=[2, 2],
                     dilations=[2, 2])], [vi("X", [B, 3, 15, 16])], [init("w", W33)]),
    ("conv_valid_group", [N("Conv", ["X", "w"], ["Y"], group=3, auto_pad="VALID")],
     [vi("X", [B, 3, 9, 9])], [init("w", np.ones((6, 1, 3, 3), np.float32))]),
    ("maxpool", [N("MaxPool", ["X"], ["Y"], kernel_shape=[3, 3], strides=[2, 2],
                   pads=[0, 0, 1, 1])], [vi("X", [B, 8, 11, 12])], []),
    ("avgpool_global", [N("AveragePool", ["X"], ["a"], kernel_shape=[2, 2]),
                        N("GlobalAveragePool", ["a"], ["Y"])], [vi("X", [B, 8, 6, 6])], []),
    ("reduce_keep", [N("ReduceMean", ["X", "ax"], ["Y"])], [vi("X", [B, 4, 5])],
     [init("ax", np.array([-1, 1], np.int64))]),
    ("reduce_drop", [N("ReduceSum", ["X", "ax"], ["Y"], keepdims=0)], [vi("X", [B, 4, 5])],
     [init("ax", np.array([1], np.int64))]),
    ("argmax", [N("ArgMax", ["X"], ["Y"], axis=1, keepdims=0)], [vi("X", [B, 4, 5])], []),
    ("flatten", [N("Flatten", ["X"], ["Y"], axis=1)], [vi("X", [B, 4, 5])], []),
    ("transpose", [N("Transpose", ["X"], ["Y"], perm=[0, 2, 3, 1])], [vi("X", [B, 3, 4, 5])], []),
    ("concat", [N("Concat", ["X", "X2"], ["Y"], axis=1)], [vi("X", [B, 3]), vi("X2", [B, 4])], []),
    ("split", [N("Split", ["X", "s"], ["Y", "y2"], axis=1)], [vi("X", [B, 7])],
     [init("s", np.array([3, 4], np.int64))]),
    ("split_even", [N("Split", ["X"], ["Y", "y2"], axis=1, num_outputs=2)], [vi("X", [B, 7])], []),
    ("slice", [N("Slice", ["X", "s", "e", "a", "st"], ["Y"])], [vi("X", [B, 10, 8])],
     [init("s", np.array([1, -1], np.int64)), init("e", np.array([9, 0], np.int64)),
      init("a", np.array([1, 2], np.int64)), init("st", np.array([2, -2], np.int64))]),
    ("gather", [N("Gather", ["X", "i"], ["Y"], axis=1)], [vi("X", [B, 10, 8])],
     [init("i", np.array([[0, 1, 2]], np.int64))]),
    ("squeeze_unsqueeze", [N("Unsqueeze", ["X", "a"], ["u"]), N("Squeeze", ["u", "a2"], ["Y"])],
     [vi("X", [B, 4])], [init("a", np.array([0, -1], np.int64)),
                         init("a2", np.array([0], np.int64))]),
    ("reshape_0_-1", [N("Reshape", ["X", "s"], ["Y"])], [vi("X", [B, 4, 6])],
     [init("s", np.array([0, -1, 3], np.int64))]),
    ("expand_tile", [N("Expand", ["X", "s"], ["e"]), N("Tile", ["e", "r"], ["Y"])],
     [vi("X", [B, 1, 3])], [init("s", np.array([1, 4, 1], np.int64)),
                            init("r", np.array([1, 2, 1], np.int64))]),
    ("pad", [N("Pad", ["X", "p"], ["Y"])], [vi("X", [B, 3, 4])],
     [init("p", np.array([0, 1, 2, 0, 3, 0], np.int64))]),
    ("resize_scales", [N("Resize", ["X", "", "sc"], ["Y"], mode="nearest")],
     [vi("X", [B, 3, 5, 6])], [init("sc", np.array([1, 1, 2, 1.5], np.float32))]),
    ("resize_sizes", [N("Resize", ["X", "", "", "sz"], ["Y"])], [vi("X", [B, 3, 5, 6])],
     [init("sz", np.array([2, 3, 10, 12], np.int64))]),
    ("gather_elements_trilu", [N("GatherElements", ["X", "i"], ["g"], axis=1),
                               N("Trilu", ["g"], ["Y"])], [vi("X", [B, 5])],
     [init("i", np.zeros((3, 2), np.int64))]),
    ("shape_size", [N("Shape", ["X"], ["s"], start=1), N("Size", ["X"], ["n"]),
                    N("ConstantOfShape", ["s"], ["Y"])], [vi("X", [B, 3, 5])], []),
    ("dynamic_reshape", [N("Shape", ["X"], ["s"]), N("Gather", ["s", "i0"], ["b"]),
                         N("Unsqueeze", ["b", "a0"], ["b1"]),
                         N("Concat", ["b1", "tail"], ["t"], axis=0),
                         N("Reshape", ["X", "t"], ["Y"])], [vi("X", [B, 4, 6])],
     [init("i0", np.array(0, np.int64)), init("a0", np.array([0], np.int64)),
      init("tail", np.array([-1, 2], np.int64))]),
]


def _model(nodes, inputs, inits) -> tuple[ir.Model, onnx.ModelProto]:
    outs = {o for n in nodes for o in n.output} - {i for n in nodes for i in n.input}
    outputs = [helper.make_empty_tensor_value_info(o) for o in sorted(outs)]
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = 10
    return build(nodes, inputs, outputs, inits, opset=OPSET), proto


def _norm(t: ir.TypeSpec | None) -> ir.TypeSpec | None:
    """ONNX invents names (unk__0) for dims it cannot name; we leave those unknown."""
    if not isinstance(t, ir.TensorType) or t.shape is None:
        return t
    dims = tuple(None if isinstance(d, str) and d.startswith("unk__") else d for d in t.shape)
    return ir.TensorType(t.dtype, dims)


def _as_precise(got: ir.TypeSpec | None, want: ir.TypeSpec | None) -> bool:
    if want is None or got == want:
        return True
    if got is None or got.dtype != want.dtype or want.shape is None:
        return got is not None and got.dtype == want.dtype
    if got.shape is None or len(got.shape) != len(want.shape):
        return False
    return all(w is None or g == w for g, w in zip(got.shape, want.shape, strict=True))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_onnx_shape_inference(case):
    _, nodes, inputs, inits = case
    model, proto = _model(nodes, inputs, inits)
    result = run_passes(model, ["shape-inference"], PassContext(verify_each=True))
    assert result.changed
    oracle = onnx.shape_inference.infer_shapes(proto, strict_mode=True, data_prop=True)
    want = {v.name: _norm(type_from_proto(v.type))
            for v in [*oracle.graph.value_info, *oracle.graph.output]}
    got = {v.name: v.type for n in model.graph for v in n.outputs}
    for name, t in got.items():  # ONNX's dims, or more: "batch" where ONNX lost the name
        assert _as_precise(t, want[name]), (name, t, want[name])
    assert run_passes(model, ["shape-inference"]).changed is False  # idempotent


def test_symbolic_dims_keep_their_names():
    _, nodes, inputs, inits = next(c for c in CASES if c[0] == "dynamic_reshape")
    model, _ = _model(nodes, inputs, inits)
    run_passes(model, ["shape-inference"])
    assert model.graph.outputs[0].shape == (B, 12, 2)


def test_declared_types_are_never_made_less_precise():
    model, _ = _model([N("Relu", ["X"], ["Y"])], [vi("X", [None, 3])], [])
    model.graph.outputs[0].type = ir.TensorType(ir.DType.FLOAT, ("n", 3))
    assert shape_inference(model, PassContext()).changed is False
    assert model.graph.outputs[0].shape == ("n", 3)
    model.graph.inputs[0].type = ir.TensorType(ir.DType.FLOAT, (2, 3))
    assert shape_inference(model, PassContext()).changed  # a symbol becomes static
    assert model.graph.outputs[0].shape == (2, 3)


def test_a_contradiction_is_an_error_naming_the_node():
    model, _ = _model([N("Relu", ["X"], ["Y"], name="the_relu")], [vi("X", [B, 3])], [])
    model.graph.outputs[0].type = ir.TensorType(ir.DType.FLOAT, (B, 4))
    with pytest.raises(PassError, match=r"the_relu.*dim 1 inferred 3, declared 4"):
        run_passes(model, ["shape-inference"])


def test_unknown_ops_are_left_unknown():
    nodes = [N("Relu", ["X"], ["a"]), N("Mystery", ["a"], ["b"], domain="custom"),
             N("Relu", ["b"], ["Y"])]
    graph = helper.make_graph(nodes, "g", [vi("X", [B, 3])], [helper.make_empty_tensor_value_info("Y")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("custom", 1)])
    proto.ir_version = 10
    from tensorbridge.converters.onnx import import_onnx

    model = import_onnx(proto)
    result = shape_inference(model, PassContext())
    types = [n.outputs[0].type for n in model.graph]
    assert types[0] == ir.TensorType(ir.DType.FLOAT, (B, 3))
    assert types[1] is None and types[2] is None
    assert result.stats["unknown_op"] == 1


def test_functional_form_leaves_the_input_alone():
    model, _ = _model([N("Relu", ["X"], ["Y"])], [vi("X", [B, 3])], [])
    functional(shape_inference)(model, PassContext())
    assert model.graph.outputs[0].type is None


def test_registered_and_in_the_default_pipeline():
    assert "shape-inference" in dict(describe_passes())
    names = [p.name for p in default_pipeline().passes[1].passes]
    assert names[:2] == ["fold-constants", "shape-inference"]


def test_exported_value_info_has_every_intermediate():
    _, nodes, inputs, inits = next(c for c in CASES if c[0] == "conv_pads")
    nodes = [*nodes[:-1], N("Conv", ["X", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             N("Relu", ["c"], ["Y"])]
    model, _ = _model(nodes, inputs, inits)
    run_passes(model, ["shape-inference"])
    proto = to_model_proto(model)
    info = {v.name: type_from_proto(v.type) for v in proto.graph.value_info}
    assert info == {"c": ir.TensorType(ir.DType.FLOAT, (B, 4, 8, 8))}
    onnx.checker.check_model(proto, full_check=True)


def test_int64_outputs_of_shape_ops():
    model, _ = _model([N("Shape", ["X"], ["Y"])], [vi("X", [B, 3], I64)], [])
    run_passes(model, ["shape-inference"])
    assert model.graph.outputs[0].type == ir.TensorType(ir.DType.INT64, (2,))


def test_unused_float_constant():
    model, _ = _model([N("Add", ["X", "c"], ["Y"])], [vi("X", [2, 3], F)],
                      [init("c", np.ones((3,), np.float32))])
    run_passes(model, ["shape-inference"])
    assert model.graph.outputs[0].shape == (2, 3)
