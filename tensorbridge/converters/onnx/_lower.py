"""Driver of our exact down-conversion rewrites: see _lower_base for the contract."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, defs, helper, numpy_helper

from tensorbridge.errors import ConversionError

from . import _lower_rules  # noqa: F401  (registers the rules)
from ._compat import _graphs, _type_str, node_fits
from ._lower_base import LOWERED, RULES, Ctx, Rule
from ._lower_rules import _allowed, _type_param


# ---- driver ---------------------------------------------------------------------------------
def _rules_for(op: str, target: int) -> list[Rule]:
    return [
        fn for (o, since), fn in sorted(RULES.items(), key=lambda kv: kv[0][1]) if o == op and target < since
    ]


def _lower_node(node: onnx.NodeProto, ctx: Ctx) -> list[onnx.NodeProto] | None:
    """The node's replacement at the target (rules composed in order of ``since``), or None."""
    current, changed = [node], False
    for fn in _rules_for(node.op_type, ctx.target):
        nxt = []
        for n in current:
            got = fn(n, ctx) if n.op_type == node.op_type and n.domain in ("", "ai.onnx") else None
            changed |= got is not None
            nxt.extend(got if got is not None else [n])
        current = nxt
    return current if changed else None


def _collect(proto: onnx.ModelProto) -> tuple[dict[str, onnx.TypeProto], dict[str, np.ndarray], set[str]]:
    types: dict[str, onnx.TypeProto] = {}
    consts: dict[str, np.ndarray] = {}
    used: set[str] = set()
    try:
        inferred = onnx.shape_inference.infer_shapes(proto)
    except onnx.shape_inference.InferenceError:
        inferred = proto

    def walk(g: onnx.GraphProto, record: bool) -> None:
        for vi in [*g.input, *g.output, *g.value_info]:
            if record and vi.type.WhichOneof("value"):
                types[vi.name] = vi.type
            used.add(vi.name)
        for t in g.initializer:
            used.add(t.name)
            if record:
                types[t.name] = helper.make_tensor_type_proto(t.data_type, list(t.dims))
                if t.data_location != TensorProto.EXTERNAL and t.data_type in (
                    TensorProto.INT64,
                    TensorProto.INT32,
                ):
                    consts[t.name] = numpy_helper.to_array(t)
        for n in g.node:
            used.update(n.output)
            used.add(n.name)
            if record and n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
                for a in n.attribute:
                    if a.name == "value":
                        consts[n.output[0]] = numpy_helper.to_array(a.t)
                    elif a.name == "value_ints":
                        consts[n.output[0]] = np.array(a.ints, np.int64)
                    elif a.name == "value_int":
                        consts[n.output[0]] = np.array(a.i, np.int64)
            for a in n.attribute:
                for sub in [a.g] if a.HasField("g") else a.graphs:
                    walk(sub, record)

    walk(inferred.graph, True)
    walk(proto.graph, False)
    return types, consts, used


def lower_nodes(proto: onnx.ModelProto, target: int) -> onnx.ModelProto:
    """A copy of ``proto`` (canonical opset) where every node a rule applies to is replaced by
    its exact form at ``target``, parked in the LOWERED domain; ``proto`` itself if none."""
    ops = {n.op_type for g in _graphs(proto.graph) for n in g.node}
    if not any(op in ops and target < since for op, since in RULES):
        return proto
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    types, consts, used = _collect(out)
    lowered = 0
    for g in list(_graphs(out.graph)):
        ctx = Ctx(target, g, types, consts, used)
        nodes = list(g.node)
        new_nodes: list[onnx.NodeProto] = []
        for node in nodes:
            if node.domain not in ("", "ai.onnx"):
                new_nodes.append(node)
                continue
            ctx.made = []
            got = _lower_node(node, ctx)
            if got is None:
                new_nodes.append(node)
                continue
            strs = {k: _type_str(v) for k, v in types.items()}
            for n in got:
                if not node_fits(n, target, strs):
                    raise ConversionError(
                        f"cannot lower {node.op_type} node {node.name!r} to opset {target}: "
                        f"its rewrite {n.op_type} {n.name!r} is not valid there "
                        f"({describe_misfit(n, target, strs)})"
                    )
                n.domain = LOWERED
            lowered += 1
            new_nodes.extend(got)
            _declare(g, [o for n in got for o in n.output], types)
        if len(new_nodes) != len(nodes) or any(a is not b for a, b in zip(new_nodes, nodes)):
            del g.node[:]
            g.node.extend(new_nodes)
            _drop_unread_initializers(g, {i for n in nodes for i in n.input} - {
                i for n in new_nodes for i in n.input})
    if not lowered:
        return proto
    out.opset_import.add(domain=LOWERED, version=1)
    return out


def _drop_unread_initializers(g: onnx.GraphProto, candidates: set[str]) -> None:
    """Remove initializers only the replaced nodes read (ReduceMean's axes once they became an
    attribute): nothing in ``g``, its subgraphs or its outputs reads them any more."""
    if not candidates:
        return
    read = {o.name for o in g.output}
    for sub in _graphs(g):
        read.update(i for n in sub.node for i in n.input)
    drop = [t for t in g.initializer if t.name in candidates and t.name not in read]
    for t in drop:
        g.initializer.remove(t)


def _declare(g: onnx.GraphProto, names: list[str], types: dict[str, onnx.TypeProto]) -> None:
    """value_info for outputs of LOWERED nodes, whose types later inference cannot see."""
    known = {vi.name for vi in [*g.value_info, *g.output, *g.input]}
    for name in names:
        if name and name not in known and name in types:
            g.value_info.append(helper.make_value_info(name, types[name]))
            known.add(name)


def unmark(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Moves LOWERED nodes back to the default domain (now at the target opset)."""
    found = False
    for g in _graphs(proto.graph):
        for n in g.node:
            if n.domain == LOWERED:
                n.domain = ""
                found = True
    keep = [o for o in proto.opset_import if o.domain != LOWERED]
    if found or len(keep) != len(proto.opset_import):
        del proto.opset_import[:]
        proto.opset_import.extend(keep)
    return proto


def describe_misfit(node: onnx.NodeProto, target: int, types: dict[str, str] | None) -> str:
    """Why ``node`` is not valid, unchanged, at opset ``target`` (for error messages)."""
    try:
        schema = defs.get_schema(node.op_type, target)
    except defs.SchemaError:
        return f"{node.op_type} does not exist at opset {target}"
    label = f"{node.op_type}-{schema.since_version}"
    extra = [a.name for a in node.attribute if a.name not in schema.attributes]
    if extra:
        return f"attribute(s) {', '.join(extra)} not in {label}"
    if not schema.min_input <= len(node.input) <= schema.max_input:
        return f"{len(node.input)} inputs, {label} takes {schema.min_input}..{schema.max_input}"
    if not schema.min_output <= len(node.output) <= schema.max_output:
        return f"{len(node.output)} outputs, {label} gives {schema.min_output}..{schema.max_output}"
    for kind, names, formals in (
        ("input", node.input, schema.inputs),
        ("output", node.output, schema.outputs),
    ):
        for i, name in enumerate(names):
            param = _type_param(schema, formals, i)
            t = (types or {}).get(name)
            if name and param and t and t not in _allowed(schema, param):
                return f"{kind} {i} of type {t} not allowed by {label}"
    return f"a change in {label}'s semantics or attribute values"


def misfits(proto: onnx.ModelProto, source: int, target: int) -> list[str]:
    """'op node: why' for each default-domain node whose schema changed and that does not fit
    ``target`` unchanged (for the error when the version converter fails)."""
    try:
        strs = {k: _type_str(v) for k, v in _collect(proto)[0].items()}
    except Exception:  # noqa: BLE001 - diagnostics only
        strs = {}
    out = []
    for g in _graphs(proto.graph):
        for n in g.node:
            if n.domain not in ("", "ai.onnx"):
                continue
            try:
                same = (
                    defs.get_schema(n.op_type, source).since_version
                    == defs.get_schema(n.op_type, target).since_version
                )
            except defs.SchemaError:
                same = False
            if not same and not node_fits(n, target, strs):
                out.append(f"{n.op_type} {n.name!r}: {describe_misfit(n, target, strs)}")
    return out
