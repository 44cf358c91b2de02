"""A lifted IR graph (only ``tf``-domain nodes) -> a TF GraphDef.

Graph inputs become ``Placeholder`` nodes (dtype, shape with -1 for dynamic dims), constants
become ``Const`` nodes (or, through ``initializer_hook``, whatever the SavedModel writer makes
of a weight: a variable read), ``tf`` nodes become NodeDefs with their attributes encoded back
(attrs_out.py). TF node names must match ``[A-Za-z0-9.][A-Za-z0-9_.\\-/>]*`` and be unique:
IR names are kept where valid and made so otherwise. Tensor names are ``node:index``.

A GRAPH attribute on a ``tf`` node (a lifted control-flow body: lift/_subgraph.py) is written as
a FunctionDef in the GraphDef's ``library`` (its inputs the args, its outputs the results;
nested bodies land there too) and the attribute as a ``func`` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tensorbridge import ir
from tensorbridge.errors import ConversionError
from tensorbridge.protos import graph_pb2, node_def_pb2

from .attrs_out import attr_to_proto, tensor_to_proto, tf_dtype_code

TF_DOMAIN = "tf"
PRODUCER = 2474  # what TF 2.21 writes (FORMATS.md 5.3); a newer producer than the runtime loads
MIN_CONSUMER = 12
_BAD_FIRST = re.compile(r"^[^A-Za-z0-9.]")
_BAD_CHAR = re.compile(r"[^A-Za-z0-9_.\-/>]")
_FN_BAD = re.compile(r"[^A-Za-z0-9_]")

# (writer, value) -> the tensor name that holds the initializer's data, or None for a Const
InitializerHook = Callable[["GraphDefWriter", ir.Value], "str | None"]


def tf_node_name(name: str) -> str:
    """``name`` made a valid TF node name (invalid characters -> '_')."""
    name = _BAD_CHAR.sub("_", name) or "node"
    return "n" + name if _BAD_FIRST.match(name) else name


def claim(base: str, taken: set[str]) -> str:
    """``base``, or ``base_1``, ``base_2`` ... whichever ``taken`` lacks first; added to it."""
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


class GraphDefWriter:
    """Accumulates NodeDefs; maps IR Values to TF tensor names."""

    def __init__(self, initializer_hook: InitializerHook | None = None, *,
                 function_names: set[str] | None = None) -> None:
        self.graph_def = graph_pb2.GraphDef()
        self.graph_def.versions.producer = PRODUCER
        self.graph_def.versions.min_consumer = MIN_CONSUMER
        self.tensor: dict[ir.Value, str] = {}
        # "node:index" -> the IR value name it computes, for every lifted node's outputs: the
        # writer records it (assets.extra/) so a re-import names values as the source did
        self.sources: dict[str, str] = {}
        self._names: set[str] = set()
        self._hook = initializer_hook
        self._fn_names = set() if function_names is None else function_names  # shared by bodies

    def unique(self, base: str) -> str:
        return claim(tf_node_name(base), self._names)

    def add(self, op: str, name: str, inputs: list[str] = (), **attrs: ir.Attr) -> node_def_pb2.NodeDef:
        """Append a NodeDef named ``unique(name)``; attrs are typed ir.Attrs."""
        nd = self.graph_def.node.add(op=op, name=self.unique(name))
        nd.input.extend(inputs)
        for k, a in attrs.items():
            nd.attr[k].CopyFrom(attr_to_proto(a))
        return nd

    # ---- the graph ------------------------------------------------------------------------
    def write_graph(self, graph: ir.Graph, *, only_used: bool = False) -> graph_pb2.GraphDef:
        """Every input, initializer and node of ``graph`` (``only_used``: initializers that
        nothing reads are left out)."""
        for v in graph.inputs:
            self.placeholder(v)
        for v in graph.initializers.values():
            if not only_used or v.has_uses() or v.is_graph_output:
                self.initializer(v)
        outputs = set(graph.outputs)
        for n in graph:
            first = n.outputs[0] if n.outputs else None
            self.node(n, name=first.name if first in outputs else None)
        for v in graph.outputs:
            self.name_of(v, "graph output")
        return self.graph_def

    def placeholder(self, v: ir.Value) -> str:
        dtype = _dtype(v, "graph input")
        nd = self.add("Placeholder", v.name, dtype=ir.Attr(ir.AttrType.DTYPE, dtype),
                      shape=ir.Attr(ir.AttrType.SHAPE, v.shape))
        self.tensor[v] = f"{nd.name}:0"
        return self.tensor[v]

    def initializer(self, v: ir.Value) -> str:
        name = self._hook(self, v) if self._hook is not None else None
        if name is None:
            name = self.const(v)
        self.tensor[v] = name
        return name

    def const(self, v: ir.Value) -> str:
        """``v``'s data as a Const node (the data is read here)."""
        assert v.const is not None
        dtype = v.const.dtype
        nd = self.add("Const", v.name)
        nd.attr["dtype"].type = tf_dtype_code(dtype, f"constant {v.name!r}")
        nd.attr["value"].tensor.CopyFrom(tensor_to_proto(v.const))
        return f"{nd.name}:0"

    def node(self, n: ir.Node, name: str | None = None) -> node_def_pb2.NodeDef:
        """``n`` as a NodeDef, named ``name`` (a graph output's, so its tensor is ``name:0``)
        or else after the IR node."""
        if n.domain != TF_DOMAIN:
            raise ConversionError(f"{n.op_type} {n.name!r} (domain {n.domain or 'ai.onnx'!r}) was not "
                                  "lifted to a TF op; lift the model first")
        inputs = [self.name_of(v, f"{n.op_type} {n.name!r}") for v in n.inputs]
        attrs = {k: self._func_attr(a, f"{n.name}_{k}") if a.type is ir.AttrType.GRAPH else a
                 for k, a in n.attrs.items()}
        nd = self.add(n.op_type, name or n.name, inputs, **attrs)
        for i, out in enumerate(n.outputs):
            self.tensor[out] = f"{nd.name}:{i}"
            if out.name:
                self.sources[f"{nd.name}:{i}"] = out.name
        return nd

    def _func_attr(self, a: ir.Attr, hint: str) -> ir.Attr:
        return ir.Attr(ir.AttrType.FUNC, ir.FuncRef(self.function(a.value, hint), {}))

    def function(self, graph: ir.Graph, hint: str) -> str:
        """``graph`` (closed: it reads nothing from outside) as a FunctionDef of this GraphDef's
        library, with the functions it calls; returns the function's name."""
        from .objgraph_out import signature_function  # local: objgraph_out imports this module

        sub = GraphDefWriter(function_names=self._fn_names)
        gd = sub.write_graph(graph, only_used=True)
        name = claim(f"__tb_{_FN_BAD.sub('_', hint)}", self._fn_names)
        where = f"function {name!r}"
        fdef = signature_function(
            name, gd, [(v.name, sub.tensor[v].split(":")[0]) for v in graph.inputs], [],
            [(str(i), sub.name_of(v, where), _dtype(v, where)) for i, v in enumerate(graph.outputs)],
            stateful=False)
        self.graph_def.library.function.extend(gd.library.function)
        self.graph_def.library.function.append(fdef)
        return name

    def name_of(self, v: ir.Value | None, where: str) -> str:
        if v is None:
            raise ConversionError(f"{where}: an omitted input has no TensorFlow form")
        try:
            return self.tensor[v]
        except KeyError:
            raise ConversionError(f"{where}: reads {v.name!r}, which no earlier node defines") from None


def _dtype(v: ir.Value, where: str) -> ir.DType:
    if v.dtype is None:
        raise ConversionError(f"{where} {v.name!r} has no known element type")
    return v.dtype

