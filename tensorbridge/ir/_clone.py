"""clone_model(): a structural deep copy of an _m.Model (functional passes, exporters that rewrite).

Graphs, nodes, values, signatures, variables, functions and assets are copied; tensor data is
shared, never copied (tensors are read-only, and lazy ones stay lazy: an ExternalTensor keeps
pointing at its file region). Iterative, so deep graphs do not hit Python's recursion limit
(copy.deepcopy would recurse along the node list).
"""

from __future__ import annotations

import dataclasses

from ..errors import IRInvariantError
from . import _model as _m
from ._graph import Graph
from ._node import Attr, AttrType, Node
from ._value import Value


class _Cloner:
    def __init__(self, variables: dict[int, _m.Variable]) -> None:
        self.values: dict[Value, Value] = {}
        self.variables = variables  # id(original) -> copy

    def variable(self, var: _m.Variable | None) -> _m.Variable | None:
        if var is None:
            return None
        if id(var) not in self.variables:
            self.variables[id(var)] = _copy_variable(var)
        return self.variables[id(var)]

    def new_value(self, v: Value) -> Value:
        nv = Value(v.name, v.type, const=v.const, variable=self.variable(v.variable), doc=v.doc)
        nv.type = v.type
        nv.meta = dict(v.meta)
        self.values[v] = nv
        return nv

    def get(self, v: Value | None, where: str) -> Value | None:
        if v is None:
            return None
        try:
            return self.values[v]
        except KeyError:
            msg = f"clone: {where} refers to {v.name!r}, defined nowhere in scope"
            raise IRInvariantError(msg) from None

    def graph(self, g: Graph) -> Graph:
        ng = Graph(g.name, doc=g.doc)
        ng.meta = dict(g.meta)
        for v in g.initializers.values():
            ng.add_initializer(self.new_value(v))
        for v in g.inputs:
            ng.add_input(self.new_value(v))
        for n in g:
            ng.append(self.node(n))
        for v in g.outputs:
            ng.add_output(self.get(v, f"graph {g.name!r} output"))
        return ng

    def node(self, n: Node) -> Node:
        where = f"{n.op_type} {n.name!r}"
        inputs = [self.get(v, where) for v in n.inputs]
        attrs = {k: self.attr(a) for k, a in n.attrs.items()}
        outputs = [self.new_value(v) for v in n.outputs]
        nn = Node(n.op_type, inputs, attrs, domain=n.domain, name=n.name, outputs=outputs,
                     doc=n.doc)  # fmt: skip
        nn.meta = dict(n.meta)
        return nn

    def attr(self, a: Attr) -> Attr:
        if a.type is AttrType.GRAPH:
            return dataclasses.replace(a, value=self.graph(a.value))
        if a.type is AttrType.GRAPHS:
            return dataclasses.replace(a, value=tuple(self.graph(g) for g in a.value))
        return a  # frozen; tensors inside are shared on purpose


def _copy_variable(var: _m.Variable) -> _m.Variable:
    return dataclasses.replace(var, meta=dict(var.meta))


def clone_graph(graph: Graph) -> Graph:
    """A copy of a graph that captures nothing from an enclosing scope."""
    return _Cloner({}).graph(graph)


def clone_model(model: _m.Model) -> _m.Model:
    """A copy of ``model`` sharing only tensor data (and asset files) with it."""
    variables = {id(v): _copy_variable(v) for v in model.variables.values()}
    meta_graphs = []
    for mg in model.meta_graphs:
        c = _Cloner(variables)
        graph = c.graph(mg.graph)
        sigs = {k: _signature(s, c) for k, s in mg.signatures.items()}
        functions = {k: _function(f, variables) for k, f in mg.functions.items()}
        meta_graphs.append(dataclasses.replace(
            mg, graph=graph, signatures=sigs, functions=functions,
            opset_imports=dict(mg.opset_imports), meta=dict(mg.meta),
        ))  # fmt: skip
    return dataclasses.replace(
        model,
        meta_graphs=meta_graphs,
        variables={k: variables[id(v)] for k, v in model.variables.items()},
        assets={k: dataclasses.replace(a) for k, a in model.assets.items()},
        metadata=dict(model.metadata),
        meta=dict(model.meta),
    )


def _signature(s: _m.Signature, c: _Cloner) -> _m.Signature:
    where = f"signature {s.key!r}"
    return dataclasses.replace(
        s,
        inputs={k: c.get(v, where) for k, v in s.inputs.items()},
        outputs={k: c.get(v, where) for k, v in s.outputs.items()},
        defaults=dict(s.defaults),
    )


def _function(f: _m.Function, variables: dict[int, _m.Variable]) -> _m.Function:
    return dataclasses.replace(
        f,
        graph=_Cloner(variables).graph(f.graph),
        attr_defaults=dict(f.attr_defaults),
        opset_imports=dict(f.opset_imports),
        meta=dict(f.meta),
    )
