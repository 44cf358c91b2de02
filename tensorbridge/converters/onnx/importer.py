"""ONNX ModelProto -> ir.Model. Generic: every node of every domain maps one to one."""

from __future__ import annotations

import logging
from pathlib import Path

import onnx

from tensorbridge import ir
from tensorbridge.errors import IRInvariantError, ModelLoadError

from . import _load
from ._tensors import LAZY_INLINE_BYTES, SparseTensor, TensorReader, sparse_from_proto
from ._types import type_from_proto
from ._wire import raw_data_regions

logger = logging.getLogger(__name__)

A = onnx.AttributeProto
ATTR_KINDS = {
    A.FLOAT: ir.AttrType.FLOAT, A.INT: ir.AttrType.INT, A.STRING: ir.AttrType.STRING,
    A.TENSOR: ir.AttrType.TENSOR, A.GRAPH: ir.AttrType.GRAPH,
    A.SPARSE_TENSOR: ir.AttrType.SPARSE_TENSOR, A.TYPE_PROTO: ir.AttrType.TYPE_PROTO,
    A.FLOATS: ir.AttrType.FLOATS, A.INTS: ir.AttrType.INTS, A.STRINGS: ir.AttrType.STRINGS,
    A.TENSORS: ir.AttrType.TENSORS, A.GRAPHS: ir.AttrType.GRAPHS,
    A.SPARSE_TENSORS: ir.AttrType.SPARSE_TENSORS, A.TYPE_PROTOS: ir.AttrType.TYPE_PROTOS,
}  # fmt: skip
OMITTED = "onnx_omitted"  # Value.meta flag: an optional node output written as "" in ONNX
OVERRIDABLE = "onnx_initializer"  # Value.meta: default tensor of a graph input (old-style)
PROPS = "onnx_metadata_props"


def import_onnx(src: str | Path | onnx.ModelProto, *, base_dir: str | Path | None = None
                ) -> ir.Model:
    """Read an ONNX model (a path or a ModelProto) into an ir.Model at ir.CANONICAL_OPSET.

    External data stays on disk as lazy ir.ExternalTensor regions; ``base_dir`` locates it
    for a ModelProto (default: the file's folder).
    """
    proto, path, base = _load.read_model(src, base_dir)
    reader = TensorReader(path, base)
    if path is not None and _has_large_inline(proto):
        reader.inline_regions = raw_data_regions(path)
    source_opset = _load.default_opset(proto.opset_import)
    proto = _load.normalize_opset(proto, path)
    model = _Importer(reader, path).model(proto)
    model.meta["onnx"]["opset"] = source_opset  # type: ignore[index]
    try:
        ir.verify(model)
    except IRInvariantError as e:
        raise ModelLoadError(f"invalid graph: {e}", path=path) from e
    logger.info("imported %s: %d nodes", path or "<ModelProto>", len(model.graph))
    return model


class _Scope:
    """Name -> Value for one graph, chained to the enclosing graph's scope."""

    def __init__(self, parent: _Scope | None) -> None:
        self.parent = parent
        self.values: dict[str, ir.Value] = {}

    def lookup(self, name: str) -> ir.Value | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.values:
                return scope.values[name]
            scope = scope.parent
        return None


class _Importer:
    def __init__(self, reader: TensorReader, path: Path | None) -> None:
        self.reader = reader
        self.path = path
        self.taken: set[str] = set()

    def error(self, message: str) -> ModelLoadError:
        return ModelLoadError(message, path=self.path)

    # ---- model ---------------------------------------------------------------------------
    def model(self, proto: onnx.ModelProto) -> ir.Model:
        self.taken = _all_names(proto)
        graph = self.graph(proto.graph, None)
        opsets = {o.domain or "": o.version for o in proto.opset_import if o.domain != "ai.onnx"}
        opsets[""] = ir.CANONICAL_OPSET
        model = ir.single_graph_model(graph, opset_imports=opsets)
        sig = model.main.signature()
        sig.defaults.update({v.name: v.meta[OVERRIDABLE] for v in graph.inputs
                             if OVERRIDABLE in v.meta})
        for fp in proto.functions:
            fn = self.function(fp)
            model.main.functions[fn.key] = fn
        model.producer_name = proto.producer_name
        model.producer_version = proto.producer_version
        model.metadata = {p.key: p.value for p in proto.metadata_props}
        model.meta["onnx"] = {"ir_version": proto.ir_version, "domain": proto.domain,
                              "model_version": proto.model_version, "doc": proto.doc_string}
        if proto.training_info:
            logger.warning("dropping the model's training_info (not represented in the IR)")
        return model

    def function(self, fp: onnx.FunctionProto) -> ir.Function:
        scope = _Scope(None)
        graph = ir.Graph(name=fp.name)
        for name in fp.input:
            scope.values[name] = graph.add_input(ir.Value(name))
        self.nodes(graph, fp.node, scope)
        self.apply_value_info(fp.value_info, scope)
        for name in fp.output:
            graph.add_output(self.resolve(scope, name, f"function {fp.name!r} output"))
        defaults = {a.name: self.attr(a, None) for a in fp.attribute_proto}
        fn = ir.Function(
            fp.name, graph, fp.domain, (*fp.attribute, *defaults), defaults,
            {o.domain: o.version for o in fp.opset_import}, fp.overload, fp.doc_string,
        )
        if fp.metadata_props:
            fn.meta[PROPS] = _props(fp.metadata_props)
        return fn

    # ---- graphs --------------------------------------------------------------------------
    def graph(self, gp: onnx.GraphProto, parent: _Scope | None) -> ir.Graph:
        scope = _Scope(parent)
        graph = ir.Graph(name=gp.name, doc=gp.doc_string)
        input_names = {vi.name for vi in gp.input}
        defaults: dict[str, ir.Tensor] = {}
        for tp in gp.initializer:
            t = self.reader.read(tp, f"initializer {tp.name!r}", top=parent is None)
            if tp.name in input_names:
                defaults[tp.name] = t
            else:
                self.define(scope, graph.add_initializer(ir.Value(tp.name, const=t)))
        for sp in gp.sparse_initializer:
            dense = ir.ArrayTensor(sparse_from_proto(self.reader, sp).to_dense())
            logger.info("densified sparse initializer %r", sp.values.name)
            self.define(scope, graph.add_initializer(ir.Value(sp.values.name, const=dense)))
        for vi in gp.input:
            v = self.value(vi)
            if vi.name in defaults:
                v.meta[OVERRIDABLE] = defaults[vi.name]
            self.define(scope, graph.add_input(v))
        self.nodes(graph, gp.node, scope)
        self.apply_value_info(gp.value_info, scope)
        for vi in gp.output:
            v = self.resolve(scope, vi.name, f"graph {gp.name!r} output")
            self.apply_value_info([vi], scope, v)
            graph.add_output(v)
        if gp.metadata_props:
            graph.meta[PROPS] = _props(gp.metadata_props)
        return graph

    def define(self, scope: _Scope, v: ir.Value) -> None:
        if v.name in scope.values:
            raise self.error(f"value {v.name!r} is defined more than once")
        scope.values[v.name] = v

    def resolve(self, scope: _Scope, name: str, where: str) -> ir.Value:
        v = scope.lookup(name)
        if v is None:
            raise self.error(f"{where}: value {name!r} is never defined (dangling use)")
        return v

    def value(self, vi: onnx.ValueInfoProto) -> ir.Value:
        v = ir.Value(vi.name, type_from_proto(vi.type), doc=vi.doc_string)
        if vi.metadata_props:
            v.meta[PROPS] = _props(vi.metadata_props)
        return v

    def apply_value_info(self, infos, scope: _Scope, v: ir.Value | None = None) -> None:
        for vi in infos:
            target = v or scope.values.get(vi.name)
            if target is None:
                continue  # value_info for a name this scope does not define: harmless, dropped
            if vi.HasField("type"):
                target.type = type_from_proto(vi.type)
            target.doc = vi.doc_string or target.doc
            if vi.metadata_props:
                target.meta[PROPS] = _props(vi.metadata_props)

    # ---- nodes ---------------------------------------------------------------------------
    def nodes(self, graph: ir.Graph, protos, scope: _Scope) -> None:
        """Two passes: define every output first, so that a node used before its producer
        (a cycle or a misordered graph) is reported by ir.verify, not as a missing name."""
        outputs = [[self.output(scope, np_, i, name) for i, name in enumerate(np_.output)]
                   for np_ in protos]
        for np_, outs in zip(protos, outputs):
            graph.append(self.node(np_, scope, outs))

    def output(self, scope: _Scope, np_: onnx.NodeProto, i: int, name: str) -> ir.Value:
        if name:
            v = ir.Value(name)
            self.define(scope, v)
            return v
        base = f"{np_.name or np_.op_type}_unused{i}"
        unique, k = base, 0
        while unique in self.taken:
            k += 1
            unique = f"{base}_{k}"
        self.taken.add(unique)
        v = ir.Value(unique)
        v.meta[OMITTED] = True
        return v

    def node(self, np_: onnx.NodeProto, scope: _Scope, outs: list[ir.Value]) -> ir.Node:
        where = f"node {np_.name!r} ({np_.op_type})"
        inputs = [None if n == "" else self.resolve(scope, n, f"{where} input") for n in np_.input]
        attrs = {a.name: self.attr(a, scope) for a in np_.attribute}
        node = ir.Node(np_.op_type, inputs, attrs, domain=np_.domain, name=np_.name,
                       outputs=outs, doc=np_.doc_string)
        if np_.overload:
            node.meta["onnx_overload"] = np_.overload
        if np_.metadata_props:
            node.meta[PROPS] = _props(np_.metadata_props)
        return node

    def attr(self, a: onnx.AttributeProto, scope: _Scope | None) -> ir.Attr:
        kind = ATTR_KINDS.get(a.type)
        if kind is None:
            raise self.error(f"attribute {a.name!r} has no (or an unknown) type {a.type}")
        if a.ref_attr_name:
            return ir.Attr(kind, None, ref=a.ref_attr_name, doc=a.doc_string)
        return ir.Attr(kind, self.attr_value(a, kind, scope), doc=a.doc_string)

    def attr_value(self, a: onnx.AttributeProto, kind: ir.AttrType, scope: _Scope | None):
        K = ir.AttrType
        read = self.reader.read
        simple = {K.FLOAT: lambda: a.f, K.INT: lambda: a.i, K.STRING: lambda: a.s,
                  K.FLOATS: lambda: tuple(a.floats), K.INTS: lambda: tuple(a.ints),
                  K.STRINGS: lambda: tuple(a.strings),
                  K.TENSOR: lambda: read(a.t, f"attribute {a.name!r}"),
                  K.TENSORS: lambda: tuple(read(t, f"attribute {a.name!r}") for t in a.tensors),
                  K.SPARSE_TENSOR: lambda: sparse_from_proto(self.reader, a.sparse_tensor),
                  K.SPARSE_TENSORS: lambda: tuple(sparse_from_proto(self.reader, s)
                                                  for s in a.sparse_tensors),
                  K.TYPE_PROTO: lambda: type_from_proto(a.tp),
                  K.TYPE_PROTOS: lambda: tuple(type_from_proto(t) for t in a.type_protos),
                  K.GRAPH: lambda: self.graph(a.g, scope),
                  K.GRAPHS: lambda: tuple(self.graph(g, scope) for g in a.graphs)}  # fmt: skip
        return simple[kind]()


def _has_large_inline(proto: onnx.ModelProto) -> bool:
    return any(len(t.raw_data) >= LAZY_INLINE_BYTES for t in proto.graph.initializer)


def _props(props) -> dict[str, str]:
    return {p.key: p.value for p in props}


def _all_names(proto: onnx.ModelProto) -> set[str]:
    names: set[str] = set()

    def walk(nodes, *infos) -> None:
        for group in infos:
            names.update(i if isinstance(i, str) else i.name for i in group)
        for n in nodes:
            names.update(n.input)
            names.update(n.output)
            for a in n.attribute:
                for g in [a.g] if a.HasField("g") else a.graphs:
                    walk(g.node, g.input, g.output, g.initializer, g.value_info)

    g = proto.graph
    walk(g.node, g.input, g.output, g.initializer, g.value_info)
    for f in proto.functions:
        walk(f.node, f.input, f.output)
    return names


__all__ = ["OMITTED", "OVERRIDABLE", "SparseTensor", "import_onnx"]
