"""SavedModel import without TensorFlow: AttrValue/TensorProto decoding, directory and
tag/signature selection errors, function-body references, and a hand-built TF2-style graph
(nested call inlining, IdentityN, control edges and NoOps, stripped defaults,
PlaceholderWithDefault)."""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import text_format

from tensorbridge import ir
from tensorbridge.converters.savedmodel import attrs as A
from tensorbridge.converters.savedmodel.functions import FunctionBody, OpDefs, parse_graph_ref
from tensorbridge.converters.savedmodel.importer import import_savedmodel
from tensorbridge.converters.savedmodel.ops import TF_IMPORT
from tensorbridge.converters.savedmodel.reader import (
    read_saved_model,
    select_meta_graph,
    select_signature,
)
from tensorbridge.errors import ModelLoadError, UsageError
from tensorbridge.protos import (
    attr_value_pb2,
    function_pb2,
    op_def_pb2,
    saved_model_pb2,
    tensor_pb2,
)

AV = attr_value_pb2.AttrValue
K = ir.AttrType


def _tp(dtype: int, shape: list[int], **fields) -> tensor_pb2.TensorProto:
    tp = tensor_pb2.TensorProto(dtype=dtype, **fields)
    for d in shape:
        tp.tensor_shape.dim.add(size=d)
    return tp


# ---- TensorProto ------------------------------------------------------------------------


def test_tensor_content_little_endian():
    arr = np.arange(6, dtype="<f4").reshape(2, 3)
    out = A.tensor_to_numpy(_tp(1, [2, 3], tensor_content=arr.tobytes()))
    np.testing.assert_array_equal(out, arr)
    assert out.dtype == np.float32


def test_typed_field_splat_repeats_last_value():
    out = A.tensor_to_numpy(_tp(1, [3], float_val=[1.0, 2.0]))
    np.testing.assert_array_equal(out, [1.0, 2.0, 2.0])
    out = A.tensor_to_numpy(_tp(9, [2, 2], int64_val=[7]))
    np.testing.assert_array_equal(out, np.full((2, 2), 7, np.int64))


def test_empty_typed_field_is_zeros_and_scalar_shape():
    np.testing.assert_array_equal(A.tensor_to_numpy(_tp(3, [4])), np.zeros(4, np.int32))
    assert A.tensor_to_numpy(_tp(1, [], float_val=[2.5])).shape == ()


def test_half_val_holds_bit_patterns():
    fp16 = A.tensor_to_numpy(_tp(19, [1], half_val=[15872]))
    assert fp16.dtype == np.float16 and fp16[0] == 1.5
    bf16 = A.tensor_to_numpy(_tp(14, [2], half_val=[16320]))
    assert str(bf16.dtype) == "bfloat16" and float(bf16[1]) == 1.5


def test_small_ints_use_int_val_and_unsigned_fields():
    np.testing.assert_array_equal(A.tensor_to_numpy(_tp(6, [2], int_val=[-3, 4])), [-3, 4])
    assert A.tensor_to_numpy(_tp(4, [1], int_val=[255])).dtype == np.uint8
    assert A.tensor_to_numpy(_tp(22, [1], uint32_val=[2**32 - 1]))[0] == 2**32 - 1
    assert A.tensor_to_numpy(_tp(23, [1], uint64_val=[2**64 - 1]))[0] == 2**64 - 1


def test_bool_string_complex():
    np.testing.assert_array_equal(A.tensor_to_numpy(_tp(10, [3], bool_val=[True, False])),
                                  [True, False, False])
    s = A.tensor_to_numpy(_tp(7, [2], string_val=[b"a", b"bc"]))
    assert s.dtype == object and list(s) == [b"a", b"bc"]
    c = A.tensor_to_numpy(_tp(8, [2], scomplex_val=[1, 2, 3, 4]))
    np.testing.assert_array_equal(c, np.array([1 + 2j, 3 + 4j], np.complex64))
    z = A.tensor_to_numpy(_tp(18, [1], dcomplex_val=[0.5, -1]))
    assert z.dtype == np.complex128 and z[0] == 0.5 - 1j


def test_ref_dtype_is_base_type():
    out = A.tensor_to_numpy(_tp(101, [1], float_val=[3.0]))
    assert out.dtype == np.float32


def test_too_many_values_is_an_error():
    with pytest.raises(ValueError, match="values for shape"):
        A.tensor_to_numpy(_tp(1, [1], float_val=[1.0, 2.0]))


# ---- AttrValue ---------------------------------------------------------------------------


@pytest.mark.parametrize(("av", "kind", "value"), [
    (AV(i=3), K.INT, 3),
    (AV(f=0.5), K.FLOAT, 0.5),
    (AV(s=b"NHWC"), K.STRING, b"NHWC"),
    (AV(b=True), K.BOOL, True),
    (AV(type=1), K.DTYPE, ir.DType.FLOAT),
    (AV(placeholder="T"), K.PLACEHOLDER, "T"),
    (AV(list=AV.ListValue(i=[1, 2])), K.INTS, (1, 2)),
    (AV(list=AV.ListValue(f=[1.0])), K.FLOATS, (1.0,)),
    (AV(list=AV.ListValue(s=[b"a"])), K.STRINGS, (b"a",)),
    (AV(list=AV.ListValue(b=[True])), K.BOOLS, (True,)),
    (AV(list=AV.ListValue(type=[1, 3])), K.DTYPES, (ir.DType.FLOAT, ir.DType.INT32)),
    (AV(list=AV.ListValue()), K.INTS, ()),
])  # fmt: skip
def test_attr_kinds(av, kind, value):
    a = A.attr_to_ir(av)
    assert a.type is kind and a.value == value


def test_attr_shape_tensor_func():
    sh = AV()
    sh.shape.dim.add(size=-1)
    sh.shape.dim.add(size=3)
    assert A.attr_to_ir(sh).value == (None, 3)
    unknown = AV()
    unknown.shape.unknown_rank = True
    assert A.attr_to_ir(unknown).value is None
    t = AV(tensor=_tp(3, [2], int_val=[1, 2]))
    a = A.attr_to_ir(t)
    assert a.type is K.TENSOR
    np.testing.assert_array_equal(a.value.numpy(), [1, 2])
    f = AV()
    f.func.name = "fn"
    f.func.attr["T"].type = 1
    a = A.attr_to_ir(f)
    assert a.type is K.FUNC and a.value.name == "fn"
    assert a.value.attrs["T"].value is ir.DType.FLOAT
    shapes = AV(list=AV.ListValue(shape=[sh.shape]))
    assert A.attr_to_ir(shapes).value == ((None, 3),)


# ---- directory, tags, signatures ---------------------------------------------------------


def _write_model(path, tag_sets, sigs=("serving_default",)):
    sm = saved_model_pb2.SavedModel(saved_model_schema_version=1)
    for tags in tag_sets:
        mg = sm.meta_graphs.add()
        mg.meta_info_def.tags.extend(tags)
        for key in [*sigs, "__saved_model_init_op"]:
            s = mg.signature_def[key]
            s.inputs["x"].name = "x:0"
            s.inputs["x"].dtype = 1
            s.outputs["y"].name = "y:0"
            s.outputs["y"].dtype = 1
    path.mkdir(parents=True, exist_ok=True)
    (path / "saved_model.pb").write_bytes(sm.SerializeToString())
    return sm


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ModelLoadError, match=r"no saved_model.pb or saved_model.pbtxt"):
        read_saved_model(tmp_path)
    with pytest.raises(ModelLoadError, match="no such directory"):
        read_saved_model(tmp_path / "nope")


def test_not_a_protobuf_names_the_file(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"\xff\xff\xff garbage \x00\x01")
    with pytest.raises(ModelLoadError, match=r"saved_model\.pb.*not a SavedModel protobuf"):
        read_saved_model(tmp_path)


def test_truncated_protobuf(tmp_path):
    _write_model(tmp_path, [["serve"]])
    data = (tmp_path / "saved_model.pb").read_bytes()
    (tmp_path / "saved_model.pb").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="saved_model.pb"):
        read_saved_model(tmp_path)


def test_no_meta_graphs(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(
        saved_model_pb2.SavedModel(saved_model_schema_version=1).SerializeToString())
    with pytest.raises(ModelLoadError, match="no meta graphs"):
        read_saved_model(tmp_path)


def test_pbtxt_is_read_when_no_pb(tmp_path):
    sm = _write_model(tmp_path, [["serve"]])
    (tmp_path / "saved_model.pb").unlink()
    (tmp_path / "saved_model.pbtxt").write_text(text_format.MessageToString(sm))
    assert list(read_saved_model(tmp_path).meta_graphs[0].meta_info_def.tags) == ["serve"]
    (tmp_path / "saved_model.pbtxt").write_text("meta_graphs { bogus: 1 }")
    with pytest.raises(ModelLoadError, match="saved_model.pbtxt"):
        read_saved_model(tmp_path)


def test_tag_selection_exact_match(tmp_path):
    sm = _write_model(tmp_path, [["serve"], ["serve", "gpu"], ["train"]])
    assert list(select_meta_graph(sm).meta_info_def.tags) == ["serve"]
    assert set(select_meta_graph(sm, {"gpu", "serve"}).meta_info_def.tags) == {"serve", "gpu"}
    assert set(select_meta_graph(sm, "serve,gpu").meta_info_def.tags) == {"serve", "gpu"}
    with pytest.raises(UsageError) as e:
        select_meta_graph(sm, {"gpu"})
    assert "{gpu}" in str(e.value)
    assert "{serve}, {gpu,serve}, {train}" in str(e.value)


def test_only_meta_graph_is_default_whatever_its_tags(tmp_path):
    sm = _write_model(tmp_path, [["train"]])
    assert list(select_meta_graph(sm).meta_info_def.tags) == ["train"]
    sm = _write_model(tmp_path, [["train"], ["eval"]])
    with pytest.raises(UsageError, match=r"no meta graph tagged \{serve\}"):
        select_meta_graph(sm)


def test_signature_selection(tmp_path):
    sm = _write_model(tmp_path, [["serve"]], sigs=("a", "b"))
    mg = sm.meta_graphs[0]
    assert select_signature(mg, "b")[0] == "b"
    with pytest.raises(UsageError) as e:
        select_signature(mg)
    msg = str(e.value)
    assert "a(x: float32[]) -> (y: float32[])" in msg and "b(" in msg
    assert "__saved_model_init_op" not in msg
    sm = _write_model(tmp_path, [["serve"]], sigs=("only",))
    assert select_signature(sm.meta_graphs[0])[0] == "only"  # the init op does not count
    with pytest.raises(UsageError, match="no signature 'zzz'"):
        select_signature(sm.meta_graphs[0], "zzz")


# ---- function bodies ---------------------------------------------------------------------

OPS_TXT = """
op { name: "IdentityN" input_arg { name: "input" type_list_attr: "T" }
     output_arg { name: "output" type_list_attr: "T" } attr { name: "T" type: "list(type)" } }
op { name: "Split" input_arg { name: "split_dim" type: DT_INT32 }
     input_arg { name: "value" type_attr: "T" }
     output_arg { name: "output" type_attr: "T" number_attr: "num_split" }
     attr { name: "num_split" type: "int" } attr { name: "T" type: "type" } }
op { name: "MatMul" input_arg { name: "a" type_attr: "T" } input_arg { name: "b" type_attr: "T" }
     output_arg { name: "product" type_attr: "T" }
     attr { name: "transpose_a" type: "bool" default_value { b: false } }
     attr { name: "transpose_b" type: "bool" default_value { b: false } }
     attr { name: "T" type: "type" } }
op { name: "Unique" input_arg { name: "x" type_attr: "T" }
     output_arg { name: "y" type_attr: "T" } output_arg { name: "idx" type_attr: "out_idx" }
     attr { name: "T" type: "type" }
     attr { name: "out_idx" type: "type" default_value { type: DT_INT32 } } }
"""

FN_TXT = """
signature { name: "f" input_arg { name: "x" type: DT_FLOAT } output_arg { name: "y" type: DT_FLOAT } }
node_def { name: "n" op: "IdentityN" input: "x" input: "x" input: "x"
           attr { key: "T" value { list { type: [DT_FLOAT, DT_FLOAT, DT_FLOAT] } } } }
node_def { name: "s" op: "Split" input: "x" input: "x"
           attr { key: "num_split" value { i: 4 } } attr { key: "T" value { type: DT_FLOAT } } }
node_def { name: "u" op: "Unique" input: "x" attr { key: "T" value { type: DT_FLOAT } } }
node_def { name: "m" op: "MatMul" input: "x" input: "x" attr { key: "T" value { type: DT_FLOAT } } }
ret { key: "y" value: "m:product:0" }
"""


def _opdefs() -> OpDefs:
    return OpDefs(text_format.Parse(OPS_TXT, op_def_pb2.OpList()))


def test_body_references_flatten_through_opdefs():
    fdef = text_format.Parse(FN_TXT, function_pb2.FunctionDef())
    body = FunctionBody(fdef, _opdefs(), {})
    assert body.parse("n:output:2").index == 2
    assert body.parse("s:output:3").index == 3
    assert body.parse("u:idx:0").index == 1
    assert body.parse("x").arg and body.parse("^m").control
    with pytest.raises(ModelLoadError, match="has no output 'nope'"):
        body.parse("m:nope:0")
    with pytest.raises(ModelLoadError, match="index out of range"):
        body.parse("s:output:4")


def test_stripped_defaults_are_restored():
    fdef = text_format.Parse(FN_TXT, function_pb2.FunctionDef())
    attrs = _opdefs().with_defaults(fdef.node_def[3])
    assert attrs["transpose_a"].b is False and "transpose_b" in attrs
    assert _opdefs().with_defaults(fdef.node_def[2])["out_idx"].type == 3


def test_graph_references():
    assert parse_graph_ref("a/b:3").index == 3 and parse_graph_ref("a/b:3").node == "a/b"
    assert parse_graph_ref("a").index == 0
    assert parse_graph_ref("^a").control


def test_registry_has_the_first_families():
    ops = set(TF_IMPORT.op_types(ir.CANONICAL_OPSET))
    for op in ["MatMul", "BatchMatMulV2", "BiasAdd", "LeakyRelu", "Softmax", "FloorMod",
               "Reshape", "Mean", "ReadVariableOp", "ResourceGather", "VariableV2", "Const",
               "SelectV2", "Select", "ClipByValue", "GatherV2", "ConcatV2", "Pack", "Fill",
               "Conv2D", "MaxPool", "AvgPool", "StridedSlice"]:
        assert op in ops, op


# ---- a hand-built TF2-style graph: nested calls, control edges, defaults, no variables -------

HAND_TXT = """
saved_model_schema_version: 1
meta_graphs {
  meta_info_def { tags: "serve" stripped_default_attrs: true }
  graph_def {
    node { name: "serving_default_x" op: "Placeholder"
           attr { key: "dtype" value { type: DT_FLOAT } } }
    node { name: "rate" op: "PlaceholderWithDefault" input: "k"
           attr { key: "dtype" value { type: DT_FLOAT } } attr { key: "shape" value { shape {} } } }
    node { name: "k" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
           attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 2 } } } }
    node { name: "NoOp" op: "NoOp" }
    node { name: "call" op: "StatefulPartitionedCall" input: "serving_default_x" input: "rate"
           input: "^NoOp"
           attr { key: "f" value { func { name: "outer" } } }
           attr { key: "Tin" value { list { type: [DT_FLOAT, DT_FLOAT] } } }
           attr { key: "Tout" value { list { type: [DT_FLOAT, DT_FLOAT] } } } }
    library {
      function {
        signature { name: "outer" input_arg { name: "x" type: DT_FLOAT }
                    input_arg { name: "s" type: DT_FLOAT }
                    output_arg { name: "a" type: DT_FLOAT } output_arg { name: "b" type: DT_FLOAT } }
        node_def { name: "side" op: "NoOp" }
        node_def { name: "inner" op: "PartitionedCall" input: "x" input: "^side"
                   attr { key: "f" value { func { name: "inner" } } }
                   attr { key: "Tin" value { list { type: DT_FLOAT } } }
                   attr { key: "Tout" value { list { type: [DT_FLOAT, DT_FLOAT] } } } }
        node_def { name: "ids" op: "IdentityN" input: "inner:output:1" input: "s"
                   attr { key: "T" value { list { type: [DT_FLOAT, DT_FLOAT] } } } }
        node_def { name: "m" op: "Mul" input: "ids:output:0" input: "ids:output:1"
                   attr { key: "T" value { type: DT_FLOAT } } }
        ret { key: "a" value: "inner:output:0" } ret { key: "b" value: "m:z:0" }
      }
      function {
        signature { name: "inner" input_arg { name: "x" type: DT_FLOAT }
                    output_arg { name: "p" type: DT_FLOAT } output_arg { name: "q" type: DT_FLOAT } }
        node_def { name: "mm" op: "MatMul" input: "x" input: "x"
                   attr { key: "T" value { type: DT_FLOAT } } }
        node_def { name: "lr" op: "LeakyRelu" input: "x" attr { key: "T" value { type: DT_FLOAT } } }
        ret { key: "p" value: "mm:product:0" } ret { key: "q" value: "lr:activations:0" }
      }
    }
  }
  signature_def { key: "serving_default" value {
    inputs { key: "x" value { name: "serving_default_x:0" dtype: DT_FLOAT
                              tensor_shape { dim { size: 2 } dim { size: 2 } } } }
    outputs { key: "prod" value { name: "call:0" dtype: DT_FLOAT
                                  tensor_shape { dim { size: 2 } dim { size: 2 } } } }
    outputs { key: "scaled" value { name: "call:1" dtype: DT_FLOAT
                                    tensor_shape { dim { size: -1 } dim { size: 2 } } } }
    method_name: "tensorflow/serving/predict" } }
}
"""

HAND_OPS = OPS_TXT + """
op { name: "Mul" input_arg { name: "x" type_attr: "T" } input_arg { name: "y" type_attr: "T" }
     output_arg { name: "z" type_attr: "T" } attr { name: "T" type: "type" } }
op { name: "LeakyRelu" input_arg { name: "features" type_attr: "T" }
     output_arg { name: "activations" type_attr: "T" }
     attr { name: "alpha" type: "float" default_value { f: 0.2 } }
     attr { name: "T" type: "type" default_value { type: DT_FLOAT } } }
"""


def test_hand_built_nested_calls_without_tf(tmp_path):
    from tensorbridge.runtime import Session

    sm = text_format.Parse(HAND_TXT, saved_model_pb2.SavedModel())
    text_format.Parse(HAND_OPS, sm.meta_graphs[0].meta_info_def.stripped_op_list)
    (tmp_path / "saved_model.pb").write_bytes(sm.SerializeToString())
    model = import_savedmodel(tmp_path)
    ir.verify(model)
    ops = sorted(n.op_type for n in model.graph)
    assert ops == ["LeakyRelu", "MatMul", "Mul"]  # calls inlined; NoOps and controls dropped
    leaky = next(n for n in model.graph if n.op_type == "LeakyRelu")
    assert leaky.attrs["alpha"].value == pytest.approx(0.2)  # the stripped default restored
    x = np.array([[1.0, -2.0], [3.0, -4.0]], np.float32)
    out = Session(model, "cpu").run({"x": x})
    np.testing.assert_allclose(out["prod"], x @ x)
    np.testing.assert_allclose(out["scaled"], np.where(x > 0, x, 0.2 * x) * 2.0, rtol=1e-6)


BAD_PERM_TXT = """
saved_model_schema_version: 1
meta_graphs {
  meta_info_def { tags: "serve" }
  graph_def {
    node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } }
    node { name: "p" op: "Placeholder" attr { key: "dtype" value { type: DT_INT32 } } }
    node { name: "t" op: "Transpose" input: "x" input: "p"
           attr { key: "T" value { type: DT_FLOAT } } attr { key: "Tperm" value { type: DT_INT32 } } }
  }
  signature_def { key: "serving_default" value {
    inputs { key: "x" value { name: "x:0" dtype: DT_FLOAT tensor_shape { dim { size: 2 } } } }
    inputs { key: "p" value { name: "p:0" dtype: DT_INT32 tensor_shape { dim { size: 1 } } } }
    outputs { key: "y" value { name: "t:0" dtype: DT_FLOAT tensor_shape { dim { size: 2 } } } } } }
}
"""


def test_handler_errors_name_op_node_handler_and_opset(tmp_path):
    from tensorbridge.errors import ConversionError

    sm = text_format.Parse(BAD_PERM_TXT, saved_model_pb2.SavedModel())
    (tmp_path / "saved_model.pb").write_bytes(sm.SerializeToString())
    with pytest.raises(ConversionError) as e:
        import_savedmodel(tmp_path)
    msg = str(e.value)
    assert msg.startswith("Transpose 't' via tensorbridge.converters.savedmodel.ops.array:"
                          "import_transpose at opset 26")
    assert "non-constant perm" in msg
