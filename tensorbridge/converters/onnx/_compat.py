"""Opset relabelling without rewriting: a node whose op changed between two opsets may still
be valid, unchanged, at the other one (new types or attributes it does not use). The onnx
version converter lacks many such down adapters (e.g. Sub 14 -> 13); this fills the gap."""

from __future__ import annotations

import logging

import onnx
from onnx import defs

logger = logging.getLogger(__name__)


def _types(proto: onnx.ModelProto) -> dict[str, str]:
    inferred = onnx.shape_inference.infer_shapes(proto)
    out: dict[str, str] = {}

    def walk(g: onnx.GraphProto) -> None:
        for vi in [*g.input, *g.output, *g.value_info]:
            if vi.type.WhichOneof("value"):
                out[vi.name] = _type_str(vi.type)
        for t in g.initializer:
            out[t.name] = f"tensor({_elem_name(t.data_type)})"
        for n in g.node:
            for a in n.attribute:
                for sub in [a.g] if a.HasField("g") else a.graphs:
                    walk(sub)

    walk(inferred.graph)
    return out


def _elem_name(code: int) -> str:
    name = onnx.helper.tensor_dtype_to_string(code).split(".")[-1].lower()
    return {"float": "float", "double": "double"}.get(name, name)


def _type_str(tp: onnx.TypeProto) -> str:
    kind = tp.WhichOneof("value")
    if kind == "tensor_type":
        return f"tensor({_elem_name(tp.tensor_type.elem_type)})"
    if kind == "sequence_type":
        return f"seq({_type_str(tp.sequence_type.elem_type)})"
    if kind == "optional_type":
        return f"optional({_type_str(tp.optional_type.elem_type)})"
    return "?"


def _formal_ok(formals, i: int, name: str, schema, types: dict[str, str] | None) -> bool:
    if not name:
        return True
    if not formals:
        return False
    if i >= len(formals) and formals[-1].option != defs.OpSchema.FormalParameterOption.Variadic:
        return False
    formal = formals[min(i, len(formals) - 1)]
    allowed = {formal.type_str}
    for c in schema.type_constraints:
        if c.type_param_str == formal.type_str:
            allowed = set(c.allowed_type_strs)
    return types is None or types.get(name) in allowed


def node_fits(node: onnx.NodeProto, target: int, types: dict[str, str] | None) -> bool:
    """True when ``node`` is valid, as is, under its op's schema at opset ``target``
    (``types=None``: element types unknown and not checked, as in function bodies)."""
    try:
        schema = defs.get_schema(node.op_type, target)
    except defs.SchemaError:
        return False
    if any(a.name not in schema.attributes for a in node.attribute):
        return False
    if not schema.min_input <= len(node.input) <= schema.max_input:
        return False
    if not schema.min_output <= len(node.output) <= schema.max_output:
        return False
    if types is not None:
        types = _unify(node, schema, types)
    ins = all(_formal_ok(schema.inputs, i, n, schema, types) for i, n in enumerate(node.input))
    return ins and all(_formal_ok(schema.outputs, i, n, schema, types)
                       for i, n in enumerate(node.output))


def _unify(node: onnx.NodeProto, schema, types: dict[str, str]) -> dict[str, str]:
    """``types`` plus the types of this node's untyped values that share a type parameter
    with a typed one (Sub(x, mean): x is float when mean is, both being T). Shape inference
    leaves values untyped after ops it cannot type (e.g. some ai.onnx.ml ops)."""
    bound: dict[str, str] = {}
    names: list[tuple[str, str]] = []
    for formals, values in ((schema.inputs, node.input), (schema.outputs, node.output)):
        for i, name in enumerate(values):
            if not name or not formals:
                continue
            param = formals[min(i, len(formals) - 1)].type_str
            names.append((name, param))
            if name in types:
                bound.setdefault(param, types[name])
    missing = {n: bound[p] for n, p in names if n not in types and p in bound}
    return {**types, **missing} if missing else types


def relabel_fits(proto: onnx.ModelProto, source: int, target: int) -> bool:
    """True when every default-domain node whose schema differs between ``source`` and
    ``target`` is still valid unchanged at ``target``."""
    types: dict[str, str] | None = None

    def walk(g: onnx.GraphProto) -> bool:
        nonlocal types
        for n in g.node:
            for a in n.attribute:
                if not all(walk(sub) for sub in ([a.g] if a.HasField("g") else a.graphs)):
                    return False
            if n.domain not in ("", "ai.onnx") or _same(n.op_type, source, target):
                continue
            if types is None:
                types = _types(proto)
            if not node_fits(n, target, types):
                logger.debug("%s %r does not fit opset %d unchanged", n.op_type, n.name, target)
                return False
        return True

    try:
        return walk(proto.graph)
    except (onnx.shape_inference.InferenceError, defs.SchemaError):
        return False


def _same(op: str, a: int, b: int) -> bool:
    try:
        return defs.get_schema(op, a).since_version == defs.get_schema(op, b).since_version
    except defs.SchemaError:
        return False


HIDDEN = "tensorbridge.hidden"


def _graphs(g: onnx.GraphProto):
    yield g
    for n in g.node:
        for a in n.attribute:
            for sub in [a.g] if a.HasField("g") else a.graphs:
                yield from _graphs(sub)


def hide_fitting(proto: onnx.ModelProto, source: int, target: int) -> onnx.ModelProto | None:
    """A copy where each changed node that fits ``target`` unchanged is moved to a private
    domain, so the version converter only sees (and adapts) the nodes that need it."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    try:
        types = _types(out)
    except onnx.shape_inference.InferenceError:
        return None
    hidden = 0
    for g in _graphs(out.graph):
        for n in g.node:
            if n.domain in ("", "ai.onnx") and not _same(n.op_type, source, target) \
                    and node_fits(n, target, types):
                n.domain = HIDDEN
                hidden += 1
    if not hidden:
        return None
    out.opset_import.add(domain=HIDDEN, version=1)
    return out


def unhide(proto: onnx.ModelProto) -> onnx.ModelProto:
    for g in _graphs(proto.graph):
        for n in g.node:
            if n.domain == HIDDEN:
                n.domain = ""
    keep = [o for o in proto.opset_import if o.domain != HIDDEN]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)
    return proto


def lower_functions(proto: onnx.ModelProto, target: int) -> list[str]:
    """Relabel each function's default-domain opset down to ``target`` where its nodes fit
    unchanged (types are checked later by the checker at the call sites). Returns the
    names of functions that do not fit."""
    bad = []
    for fn in proto.functions:
        for o in fn.opset_import:
            if o.domain in ("", "ai.onnx") and o.version > target:
                if all(n.domain not in ("", "ai.onnx") or _same(n.op_type, o.version, target)
                       or node_fits(n, target, None) for n in fn.node):
                    o.version = target
                else:
                    bad.append(fn.name)
    return bad
