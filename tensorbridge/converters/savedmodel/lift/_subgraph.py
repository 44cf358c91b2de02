"""Control-flow bodies as TF functions (used by control.py).

An ONNX body (an ``ir.Graph`` in a GRAPH attribute) is typed from what the outer node feeds it,
shape-inferred, lifted in place with the same TF_LIFT handlers (nested control flow recurses
through them) and then *closed*: every outer-scope value it reads becomes an extra trailing
input, since a TF function captures nothing. Wrapper functions (a While's cond and body) are
built from scratch with :class:`FnGraph`.

Representation: a lifted control-flow node keeps each function body as a GRAPH attribute
(``then_branch``, ``cond``, ``f``, ...) holding a closed, fully lifted ``ir.Graph``: its inputs
are the function's arguments and its outputs its results, in order. The GraphDef writer turns
each one into a FunctionDef of the GraphDef's library and the attribute into a ``func``
reference to it (graphdef.py), so the IR stays self-contained and clonable.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from tensorbridge import ir

from ..op_outputs import known
from ._context import TF_DOMAIN, LiftContext, tf_attr

K = ir.AttrType


def dtypes_attr(types: Sequence[ir.DType]) -> ir.Attr:
    """A list(type) attribute (also when empty)."""
    return ir.Attr(K.DTYPES, tuple(types))


def graph_attr(g: ir.Graph) -> ir.Attr:
    return ir.Attr(K.GRAPH, g)


def tensor_type(ctx: LiftContext, v: ir.Value) -> ir.TensorType:
    return ir.TensorType(ctx.dtype(v), ctx.shape(v))


def reinfer(ctx: LiftContext) -> None:
    """Re-run shape inference over the model, bodies included (after typing a body's inputs or
    a node's outputs that the first run could not type: it has no rules for control flow)."""
    if ctx.infer is None:
        raise ctx.unsupported("typing a control-flow body needs type inference: lift_model(..., "
                              "infer=...) (the API passes its shape-inference pass)")
    try:
        ctx.infer(ctx.model)
    except ValueError as e:  # a conflict between inferred and declared types
        raise ctx.unsupported(f"shape inference inside the body: {e}") from e


def type_inputs(ctx: LiftContext, body: ir.Graph, types: Sequence[ir.TensorType]) -> None:
    """Give each body input its outer type where the body declares no element type, then
    re-infer so the body's values get theirs. (Nothing else needs re-inferring: the first run
    covered the bodies, and each later one, here or in control.finish, covers them all.)"""
    if len(types) != len(body.inputs):
        raise ctx.unsupported(f"the body takes {len(body.inputs)} inputs, {len(types)} are fed")
    untyped = [(v, t) for v, t in zip(body.inputs, types) if v.dtype is None]
    for v, t in untyped:
        v.type = t
    if untyped:
        reinfer(ctx)


def lift_body(ctx: LiftContext, body: ir.Graph) -> None:
    """Lift ``body`` in place; refuses when it stays unwritable as a TF function."""
    from .driver import lift_graph  # local: the driver imports the handler modules' registry

    lift_graph(ctx.model, body, ctx.opset, ctx.infer)
    for v in body.outputs:
        if not isinstance(v.type, ir.TensorType) or v.dtype is None:
            raise ctx.unsupported(f"body output {v.name!r} is not a tensor of known element type")
    unknown = sorted({n.op_type for n in body.all_nodes() if not known(n.op_type)})
    if unknown:
        raise ctx.unsupported(f"{', '.join(unknown)} inside a body: output argument names "
                              "unknown (op_outputs.py), so no FunctionDef can be written")


def captures(bodies: Sequence[ir.Graph]) -> list[ir.Value]:
    """Outer-scope values the bodies read (nodes' inputs and outputs), in first-use order."""
    seen: dict[ir.Value, None] = {}
    for g in bodies:
        for n in g:
            for v in n.inputs:
                if v is not None and v.graph() is not g:
                    seen[v] = None
        for v in g.outputs:
            if v.graph() is not g:
                seen[v] = None
    return list(seen)


def close_over(ctx: LiftContext, body: ir.Graph, outer: Sequence[ir.Value]) -> None:
    """Append one input per outer value to ``body`` and point the body's reads at it."""
    for o in outer:
        arg = body.add_input(ir.Value(o.name, type=tensor_type(ctx, o)))
        for use in o.uses():
            if use.node.graph is body:
                use.node.set_input(use.index, arg)
        body.replace_output(o, arg)


class FnGraph:
    """A function body built from scratch: typed arguments, ``tf`` nodes, results."""

    def __init__(self, name: str, types: Sequence[ir.TensorType]) -> None:
        self.graph = ir.Graph(name)
        self.args = [self.graph.add_input(ir.Value(f"arg{i}", type=t)) for i, t in enumerate(types)]
        self.b = ir.Builder(self.graph)

    def tf(self, op: str, inputs: Sequence[ir.Value], types: Sequence[ir.TypeSpec],
           **attrs: Any) -> tuple[ir.Value, ...]:
        return self.b.node(op, list(inputs), domain=TF_DOMAIN, num_outputs=len(types), types=types,
                           attrs={k: tf_attr(a) for k, a in attrs.items()}).outputs

    def tf1(self, op: str, inputs: Sequence[ir.Value], dtype: ir.DType, **attrs: Any) -> ir.Value:
        return self.tf(op, inputs, [ir.TensorType(dtype, None)], **attrs)[0]

    def const(self, value: Any, name: str = "const") -> ir.Value:
        return self.b.const(np.asarray(value), name)

    def call(self, body: ir.Graph, inputs: Sequence[ir.Value]) -> tuple[ir.Value, ...]:
        """A PartitionedCall of the closed ``body``."""
        outs = [ir.TensorType(v.dtype, v.shape) for v in body.outputs]
        return self.tf("PartitionedCall", inputs, outs, Tin=dtypes_attr([v.dtype for v in inputs]),
                       Tout=dtypes_attr([t.dtype for t in outs]), f=graph_attr(body))

    def lift_context(self, ctx: LiftContext) -> LiftContext:
        """A copy of ``ctx`` building its ``tf``/``const``/... nodes into this function instead
        (to reuse lift helpers in a body written from scratch, e.g. recurrent cells)."""
        inner = copy.copy(ctx)
        inner.b, inner.consts = self.b, []
        return inner

    def finish(self, outputs: Sequence[ir.Value]) -> ir.Graph:
        for v in outputs:
            self.graph.add_output(v)
        return self.graph


def element_shape(shape: ir.Shape | None) -> np.ndarray:
    """A TensorList element_shape tensor: -1 for an unknown rank or dim."""
    if shape is None:
        return np.asarray(-1, np.int32)
    return np.asarray([d if isinstance(d, int) else -1 for d in shape], np.int32)
