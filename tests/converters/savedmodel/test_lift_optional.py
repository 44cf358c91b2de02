"""Optionals inside a graph lift to the tensor they hold; a sequence or optional at the graph's
inputs or outputs has no SavedModel signature form and is refused as such (the whole list)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import run_onnx_in_tf  # noqa: E402

from tensorbridge import ir  # noqa: E402
from tensorbridge.converters.onnx import import_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.lift import lift_model  # noqa: E402
from tensorbridge.errors import UnsupportedOpError  # noqa: E402

F32 = TensorProto.FLOAT


def _optional_model():
    nodes = [helper.make_node("Optional", ["x"], ["o"]),
             helper.make_node("OptionalGetElement", ["o"], ["y"]),
             helper.make_node("OptionalHasElement", ["o"], ["has"]),
             helper.make_node("OptionalHasElement", [""], ["none"])]
    g = helper.make_graph(nodes, "opt", [helper.make_tensor_value_info("x", F32, [2, 3])],
                          [helper.make_tensor_value_info("y", F32, [2, 3]),
                           helper.make_tensor_value_info("has", TensorProto.BOOL, []),
                           helper.make_tensor_value_info("none", TensorProto.BOOL, [])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)


@pytest.mark.tf
def test_optional_of_a_tensor_reads_through():
    pytest.importorskip("tensorflow")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y, has, none = run_onnx_in_tf(_optional_model(), [x])
    np.testing.assert_array_equal(y, x)
    assert bool(has) is True and bool(none) is False


def test_sequence_at_the_signature_is_refused_with_the_reason():
    seq = helper.make_tensor_sequence_value_info
    nodes = [helper.make_node("SequenceInsert", ["s", "t"], ["out"])]
    g = helper.make_graph(nodes, "seq", [seq("s", F32, [2]), helper.make_tensor_value_info("t", F32, [2])],
                          [seq("out", F32, [2])])
    model = import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9))
    with pytest.raises(UnsupportedOpError) as e:
        lift_model(ir.clone_model(model))
    text = str(e.value)
    assert "sequence-typed graph input" in text and "sequence-typed graph output" in text
    assert "TensorFlow has no sequence-, optional- or map-typed signature tensors" in text
    assert "SequenceInsert" in text  # the op gap is listed too
