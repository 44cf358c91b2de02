"""ir graphs, nodes, attributes and functions -> ONNX protos (no opset or file handling)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import onnx

from tensorbridge import ir
from tensorbridge.errors import ConversionError

from ._names import assign_names, is_omitted
from ._tensors import SparseTensor, sparse_to_proto, tensor_to_proto
from ._types import type_to_proto
from .importer import ATTR_KINDS, OVERRIDABLE, PROPS

logger = logging.getLogger(__name__)

ONNX_KIND = {kind: code for code, kind in ATTR_KINDS.items()}


class Placer(Protocol):
    """Decides how an initializer's data is written (e.g. to an external data file)."""

    def wants(self, t: ir.Tensor) -> bool:
        """Would ``__call__`` place this tensor (return a TensorProto for it)?"""

    def __call__(self, t: ir.Tensor, name: str) -> onnx.TensorProto | None:
        """A TensorProto standing for ``t`` (its data written elsewhere), or None: inline."""


def _props(target, meta: dict) -> None:
    for k, v in meta.get(PROPS, {}).items():
        target.metadata_props.add(key=k, value=v)


def initializer_tensor(v: ir.Value) -> ir.Tensor:
    if v.const is not None:
        return v.const
    if v.variable is not None:
        return v.variable.tensor
    raise ConversionError(f"initializer {v.name!r} has no data")


class GraphBuilder:
    """Writes one scope tree (a graph and its subgraphs, or a function body).

    ``defer`` picks top-level initializers to leave out: each becomes a graph input of the
    same name and type (a stand-in) and is kept in ``deferred``; ``initializer_order`` keeps
    the order of every top-level initializer, so they can be put back where they were.
    """

    def __init__(self, root: ir.Graph, place: Placer | None = None,
                 preferred: dict[ir.Value, str] | None = None,
                 defer: Callable[[ir.Tensor], bool] | None = None) -> None:
        self.names = assign_names(root, preferred)
        self.place = place
        self.defer = defer
        self.deferred: dict[str, ir.Tensor] = {}
        self.initializer_order: list[str] = []

    def name(self, v: ir.Value | None) -> str:
        if v is None or v not in self.names:
            if v is not None and not is_omitted(v):
                raise ConversionError(f"value {v.name!r} is used but never defined")
            return ""
        return self.names[v]

    def value_info(self, v: ir.Value) -> onnx.ValueInfoProto:
        vi = onnx.ValueInfoProto(name=self.name(v), doc_string=v.doc)
        type_to_proto(v.type, vi.type)
        _props(vi, v.meta)
        return vi

    def graph(self, g: ir.Graph, gp: onnx.GraphProto, top: bool = False) -> None:
        gp.name = g.name or "graph"
        gp.doc_string = g.doc
        for v in g.inputs:
            gp.input.append(self.value_info(v))
            if OVERRIDABLE in v.meta:
                gp.initializer.append(tensor_to_proto(v.meta[OVERRIDABLE], self.name(v)))
                if top:
                    self.initializer_order.append(self.name(v))
        for v in g.initializers.values():
            if top:
                self.initializer_order.append(self.name(v))
            t = initializer_tensor(v)
            if top and self.defer is not None and self.defer(t):
                self.deferred[self.name(v)] = t
                gp.input.append(self.stand_in(v, t))
            else:
                gp.initializer.append(self.initializer(v, top))
        for node in g:
            gp.node.append(self.node(node))
        for v in g.outputs:
            gp.output.append(self.value_info(v))
        io = {*g.inputs, *g.outputs, *g.initializers.values()}
        for node in g:
            for v in node.outputs:
                if v.type is not None and v not in io and v in self.names:
                    gp.value_info.append(self.value_info(v))
        _props(gp, g.meta)

    def stand_in(self, v: ir.Value, t: ir.Tensor) -> onnx.ValueInfoProto:
        vi = onnx.ValueInfoProto(name=self.name(v))
        type_to_proto(ir.TensorType(t.dtype, tuple(t.shape)), vi.type)
        return vi

    def initializer(self, v: ir.Value, top: bool) -> onnx.TensorProto:
        t = initializer_tensor(v)
        placed = self.place(t, self.name(v)) if top and self.place else None
        return placed if placed is not None else tensor_to_proto(t, self.name(v))

    def node(self, node: ir.Node) -> onnx.NodeProto:
        np_ = onnx.NodeProto(op_type=node.op_type, domain=node.domain, name=node.name,
                             doc_string=node.doc)
        np_.input.extend(self.name(v) for v in node.inputs)
        np_.output.extend(self.name(v) for v in node.outputs)
        # trailing omitted outputs are simply left off
        while np_.output and not np_.output[-1]:
            np_.output.pop()
        if "onnx_overload" in node.meta:
            np_.overload = str(node.meta["onnx_overload"])
        for name, a in node.attrs.items():
            np_.attribute.append(self.attr(name, a, f"{node.op_type} {node.name!r}"))
        _props(np_, node.meta)
        return np_

    def attr(self, name: str, a: ir.Attr, where: str) -> onnx.AttributeProto:
        if a.type not in ONNX_KIND:
            raise ConversionError(f"{where}: attribute {name!r} of kind {a.type.value} has no "
                                  "ONNX form")
        ap = onnx.AttributeProto(name=name, type=ONNX_KIND[a.type], doc_string=a.doc)
        if a.ref is not None:
            ap.ref_attr_name = a.ref
            return ap
        self.attr_value(ap, a.type, a.value)
        return ap

    def attr_value(self, ap: onnx.AttributeProto, kind: ir.AttrType, value) -> None:
        K = ir.AttrType
        if kind is K.FLOAT:
            ap.f = float(value)
        elif kind is K.INT:
            ap.i = int(value)
        elif kind is K.STRING:
            ap.s = _bytes(value)
        elif kind is K.FLOATS:
            ap.floats.extend(float(x) for x in value)
        elif kind is K.INTS:
            ap.ints.extend(int(x) for x in value)
        elif kind is K.STRINGS:
            ap.strings.extend(_bytes(x) for x in value)
        elif kind in (K.TENSOR, K.TENSORS):
            for t in [value] if kind is K.TENSOR else value:
                tp = tensor_to_proto(t, getattr(t, "name", ""))
                (ap.t.CopyFrom(tp) if kind is K.TENSOR else ap.tensors.append(tp))
        elif kind in (K.SPARSE_TENSOR, K.SPARSE_TENSORS):
            for s in [value] if kind is K.SPARSE_TENSOR else value:
                sp = sparse_to_proto(_sparse(s), getattr(s.values, "name", ""))
                (ap.sparse_tensor.CopyFrom(sp) if kind is K.SPARSE_TENSOR
                 else ap.sparse_tensors.append(sp))
        elif kind in (K.GRAPH, K.GRAPHS):
            for g in [value] if kind is K.GRAPH else value:
                self.graph(g, ap.g if kind is K.GRAPH else ap.graphs.add())
        elif kind is K.TYPE_PROTO:
            type_to_proto(value, ap.tp)
        elif kind is K.TYPE_PROTOS:
            for t in value:
                type_to_proto(t, ap.type_protos.add())


def _bytes(x: object) -> bytes:
    return x.encode("utf-8") if isinstance(x, str) else bytes(x)  # type: ignore[arg-type]


def _sparse(s: object) -> SparseTensor:
    if not isinstance(s, SparseTensor):
        raise ConversionError(f"sparse tensor attribute holds {type(s).__name__}")
    return s


def function_to_proto(fn: ir.Function) -> onnx.FunctionProto:
    b = GraphBuilder(fn.graph)
    fp = onnx.FunctionProto(name=fn.name, domain=fn.domain, overload=fn.overload,
                            doc_string=fn.doc)
    fp.input.extend(b.name(v) for v in fn.graph.inputs)
    fp.output.extend(b.name(v) for v in fn.graph.outputs)
    for node in fn.graph:
        fp.node.append(b.node(node))
    fp.attribute.extend(p for p in fn.attr_params if p not in fn.attr_defaults)
    for name, default in fn.attr_defaults.items():
        fp.attribute_proto.append(b.attr(name, ir.Attr.infer(default), f"function {fn.name!r}"))
    for domain, version in fn.opset_imports.items():
        fp.opset_import.add(domain=domain, version=version)
    for node in fn.graph:
        for v in node.outputs:
            if v.type is not None and v in b.names and not v.is_graph_output:
                fp.value_info.append(b.value_info(v))
    _props(fp, fn.meta)
    return fp


def signature_names(mg: ir.MetaGraph) -> dict[ir.Value, str]:
    """Graph inputs/outputs named after the default signature's keys (SavedModel sources)."""
    if not mg.signatures:
        return {}
    sig = mg.signature()
    io = {*mg.graph.inputs, *mg.graph.outputs}
    out: dict[ir.Value, str] = {}
    for key, v in [*sig.inputs.items(), *sig.outputs.items()]:
        if v in io and v not in out and not v.is_initializer:
            out[v] = key
    return out
