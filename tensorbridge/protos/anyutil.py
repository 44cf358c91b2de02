"""Helpers for our `tensorbridge.tf` messages where TF's `tensorflow.` full names show through.

* `pack_any` / `unpack_any`: `google.protobuf.Any` with TF's type URL
  `type.googleapis.com/tensorflow.<MessageName>` (Any.Pack would write `tensorbridge.tf.X`).
* `tf_named_pool`: a private descriptor pool holding our files renamed to package `tensorflow`,
  for text format's `[type.googleapis.com/tensorflow.X] { ... }` Any expansions (pass it as
  `descriptor_pool=` to text_format.Parse / MessageToString).
* `find_unknown_fields`: paths of every message in a tree that carries unknown fields.
"""

from __future__ import annotations

import functools
import logging

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool
from google.protobuf.message import Message

log = logging.getLogger(__name__)

TF_TYPE_URL_PREFIX = "type.googleapis.com/tensorflow."
OUR_PACKAGE = "tensorbridge.tf"


def type_url(msg: Message) -> str:
    """TF's type URL for one of our messages (nested names keep their dots)."""
    full = msg.DESCRIPTOR.full_name
    if not full.startswith(OUR_PACKAGE + "."):
        raise ValueError(f"{full} is not a {OUR_PACKAGE} message")
    return TF_TYPE_URL_PREFIX + full[len(OUR_PACKAGE) + 1:]


def pack_any(msg: Message, *, deterministic: bool = True) -> any_pb2.Any:
    return any_pb2.Any(type_url=type_url(msg),
                       value=msg.SerializeToString(deterministic=deterministic))


def unpack_any(packed: any_pb2.Any, msg_type: type[Message]) -> Message:
    """Parse `packed` into a new `msg_type`; the type URL must name the same TF message."""
    want = type_url(msg_type())
    if packed.type_url != want:
        raise ValueError(f"Any holds {packed.type_url!r}, expected {want!r}")
    out = msg_type()
    out.ParseFromString(packed.value)
    return out


@functools.cache
def _unknown_field_set():
    """`msg -> sized unknown-field set`, probed once.

    Older runtimes have `Message.UnknownFields()`; protobuf 7 (upb) keeps the name but
    raises NotImplementedError, and offers `google.protobuf.unknown_fields.UnknownFieldSet`.
    """
    try:
        any_pb2.Any().UnknownFields()
        return lambda msg: msg.UnknownFields()
    except (AttributeError, NotImplementedError):
        from google.protobuf.unknown_fields import UnknownFieldSet

        log.debug("using google.protobuf.unknown_fields.UnknownFieldSet")
        return UnknownFieldSet


def _unknown_count(msg: Message) -> int:
    return len(_unknown_field_set()(msg))


def _children(msg: Message):
    """(path suffix, sub-message) for every set message-typed field, map values included."""
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
            for key in sorted(value):
                yield f".{field.name}[{key!r}]", value[key]
        elif field.is_repeated:
            for i, item in enumerate(value):
                yield f".{field.name}[{i}]", item
        else:
            yield f".{field.name}", value


def find_unknown_fields(msg: Message, path: str = "") -> list[str]:
    """Paths (like `.meta_graphs[0].graph_def`) of messages with unknown fields; "" = root.

    Any payloads are not expanded (their bytes are opaque here).
    """
    found = [path] if _unknown_count(msg) else []
    stack = [(path, msg)]
    while stack:
        base, node = stack.pop()
        for suffix, child in _children(node):
            if _unknown_count(child):
                found.append(base + suffix)
            stack.append((base + suffix, child))
    return sorted(found)


@functools.cache
def tf_named_pool() -> descriptor_pool.DescriptorPool:
    """A private pool with all our files re-packaged as `tensorflow` (never the default pool)."""
    from tensorbridge.protos import (  # noqa: F401  (imports register every file)
        fingerprint_pb2,
        saved_model_pb2,
        tensor_bundle_pb2,
    )

    pool = descriptor_pool.DescriptorPool()
    for name in _sorted_files(descriptor_pool.Default()):
        pool.Add(_renamed(descriptor_pool.Default().FindFileByName(name)))
    return pool


def _sorted_files(pool: descriptor_pool.DescriptorPool) -> list[str]:
    """Our file names in dependency order (dependencies first), well-known types included."""
    order: list[str] = []

    def visit(fd) -> None:
        if fd.name in order:
            return
        for dep in fd.dependencies:
            visit(dep)
        order.append(fd.name)

    for root in ("saved_model", "fingerprint", "tensor_bundle", "variable", "types"):
        visit(pool.FindFileByName(f"tensorbridge/protos/{root}.proto"))
    return order


def _renamed(fd) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    fd.CopyToProto(proto)
    if proto.package != OUR_PACKAGE:
        return proto
    proto.package = "tensorflow"
    for msg in _all_messages(proto.message_type):
        for field in msg.field:
            if field.type_name.startswith(f".{OUR_PACKAGE}."):
                field.type_name = ".tensorflow." + field.type_name[len(OUR_PACKAGE) + 2:]
    return proto


def _all_messages(messages):
    for msg in messages:
        yield msg
        yield from _all_messages(msg.nested_type)
