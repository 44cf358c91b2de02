"""Round trips: control flow with outer-scope references, functions, metadata, external data,
determinism, and the exporter's refusals."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnx_models
import onnx_ort_helpers as _ort
import pytest

from tensorbridge import ir
from tensorbridge.converters.onnx import (
    export_onnx,
    import_onnx,
    max_runtime_ir_version,
    max_runtime_opset,
    to_model_proto,
)
from tensorbridge.errors import UnsupportedOpError, UsageError


def _same_outputs(a, b, inputs):
    for x, y in zip(_ort.run(a, inputs), _ort.run(b, inputs)):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)


def test_runtime_probes():
    assert max_runtime_opset() >= ir.CANONICAL_OPSET
    assert 7 <= max_runtime_ir_version() <= onnx.IR_VERSION


def test_control_flow_function_metadata(tmp_path):
    src = onnx_models.control_flow_model()
    model = import_onnx(src)
    g = model.graph
    if_node = next(n for n in g if n.op_type == "If")
    x = g.inputs[0]
    then_add = next(iter(if_node.attrs["then_branch"].value))
    assert then_add.inputs[0] is x  # outer-scope reference resolved to the outer Value
    assert then_add.inputs[1] is g.initializers["W"]
    assert ("custom", "AddTwice", "") in model.main.functions
    assert model.metadata == {"author": "tb", "purpose": "round trip"}
    assert model.main.opset_imports["custom"] == 1
    out = export_onnx(model, tmp_path / "cf.onnx")
    back = onnx.load(out)
    assert {p.key: p.value for p in back.metadata_props} == model.metadata
    assert back.producer_name == "unit" and len(back.functions) == 1
    assert back.ir_version == max_runtime_ir_version()
    _same_outputs(src, back, onnx_models.control_flow_inputs())
    again = to_model_proto(import_onnx(back))
    _same_outputs(src, again, onnx_models.control_flow_inputs())


def test_names_made_unique_across_scopes():
    src = onnx_models.control_flow_model()
    model = import_onnx(src)
    if_node = next(n for n in model.graph if n.op_type == "If")
    inner = next(iter(if_node.attrs["then_branch"].value)).outputs[0]
    inner.name = "Y"  # clashes with the main graph's output
    proto = to_model_proto(model)
    assert proto.graph.output[0].name == "Y"  # the contract keeps its name
    then = next(a for a in proto.graph.node[0].attribute if a.name == "then_branch")
    assert then.g.node[0].output[0] == "Y_1"


def test_determinism(tmp_path):
    src = onnx_models.control_flow_model()
    a = export_onnx(import_onnx(src), tmp_path / "a.onnx").read_bytes()
    b = export_onnx(import_onnx(src), tmp_path / "b.onnx").read_bytes()
    assert a == b
    assert to_model_proto(import_onnx(src)).SerializeToString(deterministic=True) == \
        to_model_proto(import_onnx(src)).SerializeToString(deterministic=True)


def test_external_data_is_lazy(tmp_path, monkeypatch):
    src = onnx_models.weights_model()
    path = tmp_path / "in" / "w.onnx"
    path.parent.mkdir()
    onnx.save(src, path, save_as_external_data=True, location="w.bin", size_threshold=1024)

    def refuse(*_a, **_k):
        raise AssertionError("the importer read external data")

    monkeypatch.setattr(ir.ExternalTensor, "raw_bytes", refuse)
    monkeypatch.setattr(ir.ExternalTensor, "numpy", refuse)
    model = import_onnx(path)
    w1 = model.graph.initializers["W1"].const
    assert isinstance(w1, ir.ExternalTensor) and w1.path.name == "w.bin"
    monkeypatch.undo()
    out = export_onnx(model, tmp_path / "out" / "m.onnx", external_data=True, size_threshold=1024)
    assert (out.parent / "m.data").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.data", "m.onnx"]
    x = [np.ones((2, 8), np.float32)]
    _same_outputs(str(path), str(out), x)
    first = (out.parent / "m.data").read_bytes()
    export_onnx(import_onnx(out), out, external_data=True, size_threshold=1024)
    assert (out.parent / "m.data").read_bytes() == first


def test_old_opset_upgraded_and_lowered(tmp_path):
    src = onnx_models.weights_model(16, opset=13)
    model = import_onnx(src)
    assert model.main.opset_imports[""] == ir.CANONICAL_OPSET
    low = to_model_proto(model, opset=13)
    assert [o.version for o in low.opset_import if o.domain == ""] == [13]
    _same_outputs(src, low, [np.ones((2, 8), np.float32)])


@pytest.mark.parametrize("opset", [12, 27, 99])
def test_bad_opset(opset):
    with pytest.raises(UsageError, match="opset"):
        to_model_proto(import_onnx(onnx_models.tiny_model()), opset=opset)


def test_tf_ops_refused_in_one_error(tmp_path):
    model = import_onnx(onnx_models.tiny_model())
    g = model.graph
    relu = next(iter(g))
    for i in range(3):
        g.append(ir.Node("StringSplitV2", [relu.outputs[0]], domain="tf", name=f"split{i}"))
    g.append(ir.Node("TensorListReserve", [relu.outputs[0]], domain="tf", name="tl"))
    model.main.opset_imports["tf"] = 1
    with pytest.raises(UnsupportedOpError) as err:
        export_onnx(model, tmp_path / "x.onnx")
    msg = str(err.value)
    assert "tf::StringSplitV2 x3" in msg and "tf::TensorListReserve x1" in msg and "'split0'" in msg
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    from tensorbridge.converters.onnx import _write

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(_write.ModelStream, "write", boom)  # after the data file is written
    with pytest.raises(Exception, match="disk full"):
        export_onnx(import_onnx(onnx_models.weights_model()), tmp_path / "m.onnx",
                    external_data=True, size_threshold=16)
    assert list(tmp_path.iterdir()) == []


def test_overridable_initializer_round_trips():
    src = onnx_models.tiny_model()
    src.graph.input.append(onnx.helper.make_tensor_value_info("bias", onnx.TensorProto.FLOAT, [2]))
    src.graph.initializer.append(onnx.numpy_helper.from_array(np.ones(2, np.float32), "bias"))
    src.graph.node.append(onnx.helper.make_node("Add", ["Y", "bias"], ["Z"]))
    src.graph.output.append(onnx.helper.make_tensor_value_info("Z", onnx.TensorProto.FLOAT, [2]))
    model = import_onnx(src)
    bias = model.graph.inputs[1]
    assert bias.is_graph_input and "bias" in model.main.signature().defaults
    back = to_model_proto(model)
    assert [i.name for i in back.graph.input] == ["X", "bias"]
    assert [i.name for i in back.graph.initializer] == ["bias"]


def test_large_inline_initializer_is_lazy(tmp_path):
    src = onnx_models.weights_model(64 * 1024)  # W1 is 2 MiB inline
    path = tmp_path / "inline.onnx"
    path.write_bytes(src.SerializeToString())
    model = import_onnx(path)
    w1 = model.graph.initializers["W1"].const
    assert isinstance(w1, ir.ExternalTensor) and w1.path == path
    assert isinstance(model.graph.initializers["B"].const, ir.ArrayTensor)
    np.testing.assert_array_equal(w1.numpy(), onnx.numpy_helper.to_array(src.graph.initializer[0]))
    out = export_onnx(model, tmp_path / "out.onnx")
    assert onnx.load(out).graph.initializer[0].raw_data == src.graph.initializer[0].raw_data


def test_auto_external_past_protobuf_limit(tmp_path, monkeypatch):
    from tensorbridge.converters.onnx import _write

    monkeypatch.setattr(_write, "PROTOBUF_LIMIT", (64 << 20) + 4096)
    out = export_onnx(import_onnx(onnx_models.weights_model()), tmp_path / "big.onnx",
                      size_threshold=1024)
    assert (tmp_path / "big.data").is_file()
    _same_outputs(onnx_models.weights_model(), str(out), [np.ones((2, 8), np.float32)])


def test_control_flow_and_function_at_opset_13(tmp_path):
    src = onnx_models.control_flow_model()
    out = export_onnx(import_onnx(src), tmp_path / "cf13.onnx", opset=13)
    back = onnx.load(out)
    assert [(o.domain, o.version) for o in back.opset_import] == [("", 13), ("custom", 1)]
    assert [(o.domain, o.version) for o in back.functions[0].opset_import] == [("", 13)]
    _same_outputs(src, back, onnx_models.control_flow_inputs())


def test_ir_built_model_uses_signature_names(tmp_path):
    x = ir.Value("x:0", ir.TensorType(ir.DType.FLOAT, ("batch", 3)))
    w = ir.Value("w", const=ir.ArrayTensor(np.full((3,), 2.0, np.float32)))
    mul = ir.Node("Mul", [x, w], name="mul")
    relu = ir.Node("Relu", [mul.outputs[0]], name="relu")
    relu.outputs[0].name = "Relu:0"
    graph = ir.Graph("g", [x], [relu.outputs[0]], [mul, relu], [w])
    sig = ir.Signature("serving_default", {"input": x}, {"output": relu.outputs[0]})
    model = ir.single_graph_model(graph, sig)
    relu.outputs[0].type = ir.TensorType(ir.DType.FLOAT, ("batch", 3))
    proto = to_model_proto(model)
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["output"]
    got = _ort.run(proto, [np.array([[-1, 0, 1]], np.float32)])[0]
    np.testing.assert_array_equal(got, [[0, 0, 2]])


def test_untyped_graph_output_is_inferred_or_named(tmp_path):
    from tensorbridge import ir
    from tensorbridge.converters.onnx import to_model_proto
    from tensorbridge.errors import ConversionError

    g = ir.Graph("g")
    x = g.add_input(ir.Value("x", ir.TensorType(ir.DType.FLOAT, (2, 3))))
    y = ir.Builder(g).op("Relu", [x])
    y.type = None
    g.add_output(y)
    proto = to_model_proto(ir.single_graph_model(g))
    assert proto.graph.output[0].type.tensor_type.elem_type == 1
    g2 = ir.Graph("g2")
    x2 = g2.add_input(ir.Value("x", ir.TensorType(ir.DType.FLOAT, (2,))))
    z = ir.Builder(g2).op("Foo", [x2], domain="com.acme")
    g2.add_output(z)
    m = ir.single_graph_model(g2, opset_imports={"com.acme": 1})
    with pytest.raises(ConversionError, match="graph output .* has no known type"):
        to_model_proto(m)


def test_runtime_probes_are_cached_per_installed_runtime(tmp_path, monkeypatch):
    """The probe answers go to a cache file named after onnx and the installed onnxruntime, and
    are read back from it without probing (so a conversion need not import onnxruntime)."""
    from tensorbridge.converters.onnx import _runtime

    monkeypatch.setenv("TENSORBRIDGE_CACHE", str(tmp_path / "cache"))
    path = _runtime._cache_file()
    assert path is not None and path.parent == tmp_path / "cache" and "onnxruntime" in path.name
    assert _runtime._cached("opset", lambda: 21) == 21  # probed, then written
    assert json.loads(path.read_text()) == {"opset": 21}
    assert _runtime._cached("opset", lambda: pytest.fail("probed again")) == 21
    path.write_text("not json")  # a damaged cache only means probing again
    assert _runtime._cached("ir_version", lambda: 10) == 10
    monkeypatch.setenv("TENSORBRIDGE_CACHE", "/proc/no/such/dir")  # unwritable: still answers
    assert _runtime._cached("opset", lambda: 22) == 22
