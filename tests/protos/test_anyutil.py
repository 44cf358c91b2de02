"""tensorbridge.protos.anyutil: TF-style Any packing, unknown-field walk, renamed pool."""

from __future__ import annotations

import pytest
from google.protobuf import any_pb2, descriptor_pool, text_format
from google.protobuf.text_format import ParseError

from tensorbridge.protos import anyutil, meta_graph_pb2, saved_model_pb2, tensor_shape_pb2

UNKNOWN_VARINT_99 = b"\x98\x06\x01"  # field 99, varint 1


def asset(filename: str = "vocab.txt") -> meta_graph_pb2.AssetFileDef:
    out = meta_graph_pb2.AssetFileDef(filename=filename)
    out.tensor_info.name = "vocab_path:0"
    return out


def test_pack_uses_tf_type_url() -> None:
    packed = anyutil.pack_any(asset())
    assert packed.type_url == "type.googleapis.com/tensorflow.AssetFileDef"
    assert anyutil.unpack_any(packed, meta_graph_pb2.AssetFileDef) == asset()


def test_nested_type_url() -> None:
    dim = tensor_shape_pb2.TensorShapeProto.Dim(size=3)
    assert anyutil.type_url(dim) == "type.googleapis.com/tensorflow.TensorShapeProto.Dim"


def test_unpack_rejects_other_type() -> None:
    packed = anyutil.pack_any(asset())
    with pytest.raises(ValueError, match="expected"):
        anyutil.unpack_any(packed, meta_graph_pb2.SignatureDef)
    with pytest.raises(ValueError, match="not a tensorbridge.tf"):
        anyutil.type_url(any_pb2.Any())


def test_find_unknown_fields_clean() -> None:
    model = saved_model_pb2.SavedModel(saved_model_schema_version=1)
    model.meta_graphs.add().signature_def["serving_default"].inputs["x"].name = "x:0"
    parsed = saved_model_pb2.SavedModel.FromString(model.SerializeToString())
    assert anyutil.find_unknown_fields(parsed) == []


def test_find_unknown_fields_in_root_repeated_and_map_values() -> None:
    info = meta_graph_pb2.TensorInfo.FromString(
        meta_graph_pb2.TensorInfo(name="x:0").SerializeToString() + UNKNOWN_VARINT_99)
    model = saved_model_pb2.SavedModel.FromString(UNKNOWN_VARINT_99)
    meta = model.meta_graphs.add()
    meta.MergeFromString(UNKNOWN_VARINT_99)
    meta.signature_def["sig"].inputs["x"].CopyFrom(info)
    assert anyutil.find_unknown_fields(model) == [
        "", ".meta_graphs[0]", ".meta_graphs[0].signature_def['sig'].inputs['x']"]


def test_any_payloads_are_not_expanded() -> None:
    collection = meta_graph_pb2.CollectionDef()
    collection.any_list.value.add(type_url="type.googleapis.com/tensorflow.AssetFileDef",
                                  value=asset().SerializeToString() + UNKNOWN_VARINT_99)
    assert anyutil.find_unknown_fields(collection) == []


def test_text_format_any_expansion_needs_tf_named_pool() -> None:
    collection = meta_graph_pb2.CollectionDef()
    collection.any_list.value.append(anyutil.pack_any(asset()))
    pool = anyutil.tf_named_pool()
    text = text_format.MessageToString(collection, descriptor_pool=pool)
    assert "[type.googleapis.com/tensorflow.AssetFileDef] {" in text
    assert text_format.Parse(text, meta_graph_pb2.CollectionDef(),
                             descriptor_pool=pool) == collection
    with pytest.raises(ParseError, match="not found"):
        text_format.Parse(text, meta_graph_pb2.CollectionDef(),
                          descriptor_pool=descriptor_pool.DescriptorPool())
