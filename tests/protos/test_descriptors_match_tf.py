"""Our .proto declarations against the descriptors compiled into real TensorFlow.

Compares every message and enum (field names, numbers, types, labels, oneofs, maps, packed
and deprecated markers, reserved ranges and names, nested types, enum values) after
removing what legitimately differs: package and file names, imports, file options.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, text_format

PROTO_DIR = Path(__file__).resolve().parents[2] / "tensorbridge" / "protos"
OURS = sorted(p.stem for p in PROTO_DIR.glob("*.proto"))
TF_ROOTS = [
    "tensorflow.core.protobuf.saved_model_pb2",
    "tensorflow.core.protobuf.fingerprint_pb2",
    "tensorflow.core.protobuf.tensor_bundle_pb2",
    "tensorflow.core.framework.variable_pb2",
]
PACKAGES = (".tensorflow.", ".tensorbridge.tf.")


@pytest.fixture(scope="module")
def tf_pool():
    pytest.importorskip("tensorflow")
    for name in TF_ROOTS:
        importlib.import_module(name)
    return descriptor_pool.Default()


def tf_file_name(pool, stem: str) -> str:
    for folder in ("framework", "protobuf"):
        name = f"tensorflow/core/{folder}/{stem}.proto"
        try:
            pool.FindFileByName(name)
            return name
        except KeyError:
            continue
    raise KeyError(stem)


def _normalize_messages(messages) -> None:
    for msg in messages:
        fields = sorted(msg.field, key=lambda f: f.number)
        del msg.field[:]
        msg.field.extend(fields)
        for field in msg.field:
            field.ClearField("json_name")
            for prefix in PACKAGES:
                if field.type_name.startswith(prefix):
                    field.type_name = "." + field.type_name[len(prefix):]
        _sort_by_name(msg.nested_type)
        _sort_by_name(msg.enum_type)
        _normalize_messages(msg.nested_type)


def _sort_by_name(items) -> None:
    copies = []
    for item in sorted(items, key=lambda item: item.name):
        copies.append(type(item)())
        copies[-1].CopyFrom(item)
    del items[:]
    items.extend(copies)


def normalized(file_descriptor) -> str:
    proto = descriptor_pb2.FileDescriptorProto()
    file_descriptor.CopyToProto(proto)
    for name in ("name", "package", "dependency", "options", "source_code_info"):
        proto.ClearField(name)
    _sort_by_name(proto.message_type)
    _sort_by_name(proto.enum_type)
    _normalize_messages(proto.message_type)
    if proto.syntax == "proto2":
        proto.ClearField("syntax")
    return text_format.MessageToString(proto)


@pytest.mark.tf
@pytest.mark.parametrize("stem", OURS)
def test_file_matches_tf(tf_pool, stem: str) -> None:
    ours = importlib.import_module(f"tensorbridge.protos.{stem}_pb2").DESCRIPTOR
    assert ours.package == "tensorbridge.tf"
    theirs = tf_pool.FindFileByName(tf_file_name(tf_pool, stem))
    want, have = normalized(theirs), normalized(ours)
    diff = "\n".join(difflib.unified_diff(want.splitlines(), have.splitlines(), "tf", "ours"))
    assert want == have, diff


@pytest.mark.tf
def test_every_tf_file_is_declared(tf_pool) -> None:
    """All TF files that SavedModel, FingerprintDef, tensor bundle and VariableDef pull in."""
    seen: set[str] = set()
    todo = [importlib.import_module(name).DESCRIPTOR for name in TF_ROOTS]
    while todo:
        fd = todo.pop()
        if fd.name not in seen:
            seen.add(fd.name)
            todo.extend(fd.dependencies)
    tf_stems = {Path(name).stem for name in seen if name.startswith("tensorflow/")}
    assert tf_stems == set(OURS)
