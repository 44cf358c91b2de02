"""Optional values, and what a SavedModel signature can carry.

A SignatureDef's inputs and outputs are dense tensors (or TF composite tensors, none of which is
an ONNX sequence, optional or map of tensors): a graph input or output of such a type has no
TensorFlow form at the signature, whatever the nodes around it do (``boundary_gaps``).

Inside a graph an optional of a tensor that is always present is the tensor itself: Optional(x)
feeding OptionalGetElement/OptionalHasElement folds to x / true, and OptionalHasElement of an
omitted input is false.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext

BOUNDARY_REASON = ("TensorFlow has no sequence-, optional- or map-typed signature tensors "
                   "(a SavedModel signature carries dense tensors)")


def boundary_gaps(graph: ir.Graph) -> dict[tuple[str, str], list[str]]:
    """{("", "<kind> graph input/output"): [names]} for every signature value that is not a
    tensor (its type known); empty when every input and output can be a signature tensor."""
    gaps: dict[tuple[str, str], list[str]] = {}
    for role, values in (("input", graph.inputs), ("output", graph.outputs)):
        for v in values:
            kind = _kind(v.type)
            if kind is not None:
                gaps.setdefault(("", f"{kind}-typed graph {role}"), []).append(v.name)
    return gaps


def _kind(t: ir.TypeSpec | None) -> str | None:
    if isinstance(t, ir.SequenceType):
        return "sequence"
    if isinstance(t, ir.OptionalType):
        return "optional"
    if isinstance(t, ir.MapType):
        return "map"
    return None


def _present(ctx: LiftContext, node: ir.Node) -> ir.Value | None:
    """The tensor an optional input holds when it is a tensor or Optional(tensor); None when
    the input is omitted; refuses an optional whose presence is decided at run time. (Optional
    lifts first, to an Identity typed as its tensor.)"""
    v = ctx.input(node, 0)
    if v is None:
        return None
    producer = v.producer()
    if isinstance(v.type, ir.OptionalType):
        if producer is None or producer.op_type != "Optional" or producer.domain not in ("", "ai.onnx"):
            raise ctx.unsupported(f"{v.name!r} is an optional whose presence is known only at run time")
        inner = ctx.input(producer, 0)
        if inner is None:
            return None
        v = inner
    ctx.dtype(v)  # a tensor of known element type (refuses sequences)
    return v


@TF_LIFT.register("Optional")
def lift_optional(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """Optional(x) is read through by the handlers below; a reader of another kind refuses."""
    for use in node.outputs[0].uses():
        if use.node.op_type not in ("OptionalGetElement", "OptionalHasElement"):
            raise ctx.unsupported(f"an optional read by {use.node.op_type} {use.node.name!r}")
    x = ctx.input(node, 0)
    if x is None:
        raise ctx.unsupported("an empty Optional value (an Optional node without input)")
    return [ctx.tf("Identity", [x], T=ctx.dtype(x), types=[x.type])]


@TF_LIFT.register("OptionalHasElement")
def lift_optional_has_element(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    return [ctx.const(np.array(_present(ctx, node) is not None), "has_element")]


@TF_LIFT.register("OptionalGetElement")
def lift_optional_get_element(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = _present(ctx, node)
    if x is None:
        raise ctx.unsupported("OptionalGetElement of an empty optional (an error at run time)")
    return [ctx.tf("Identity", [x], T=ctx.dtype(x))]
