"""Lift an IR model (ONNX op semantics) to ``tf``-domain nodes (TF op semantics), in place.

Every default-domain node goes through its handler in TF_LIFT (lift/_context.py); ``tf``-domain
nodes (ops the SavedModel importer kept opaque) are already TF and stay as they are. Ops with no
handler, and nodes a handler refuses, are collected over the whole model and raised together as
one UnsupportedOpError, so the user sees every gap at once. Graph outputs and signature values
keep their names: the TF node that takes over an output is renamed to it.

Callers that must keep their model work on ``ir.clone_model(model)``.
"""

from __future__ import annotations

from tensorbridge import ir
from tensorbridge.errors import ConversionError, UnsupportedOpError

from ._context import TF_DOMAIN, TF_LIFT, Infer, LiftContext
from .optional import BOUNDARY_REASON, boundary_gaps

ONNX_DOMAINS = ("", "ai.onnx")


def lift_model(model: ir.Model, opset: int = ir.CANONICAL_OPSET, *, infer: Infer | None = None) -> ir.Model:
    """Replace every ONNX-semantics node of every meta graph by TF nodes; returns ``model``.

    ``infer`` types a model's values in place (the shape-inference pass, given by the caller: a
    converter imports no pass); control flow needs it to type its bodies, and is refused without."""
    table = TF_LIFT.resolve(opset)
    missing: dict[tuple[str, str], list[str]] = {}
    hints: list[str] = []
    blocked: list[str] = []  # refused only because an unlifted node left their input untyped
    for mg in model.meta_graphs:
        if mg.functions:
            names = sorted(f.name for f in mg.functions.values())
            raise UnsupportedOpError("ir->savedmodel", {("", f"function {n}"): [] for n in names},
                                     hint="inline the model-local functions first")
        boundary = boundary_gaps(mg.graph)
        if boundary:
            missing.update(boundary)
            hints.append(BOUNDARY_REASON)
        for node in list(mg.graph):
            _lift_node(model, node, table, opset, infer, missing, hints, blocked)
    if missing:
        raise _gaps(missing, hints, blocked)
    return model


def lift_graph(model: ir.Model, graph: ir.Graph, opset: int = ir.CANONICAL_OPSET,
               infer: Infer | None = None) -> None:
    """Lift every node of ``graph`` (a control-flow body of ``model``) in place; one
    UnsupportedOpError lists what could not be lifted."""
    table = TF_LIFT.resolve(opset)
    missing: dict[tuple[str, str], list[str]] = {}
    hints: list[str] = []
    blocked: list[str] = []
    for node in list(graph):
        _lift_node(model, node, table, opset, infer, missing, hints, blocked)
    if missing:
        raise _gaps(missing, hints, blocked)


def _gaps(missing: dict[tuple[str, str], list[str]], hints: list[str],
          blocked: list[str]) -> UnsupportedOpError:
    hint = "; ".join(dict.fromkeys(hints)) or "these ops have no TensorFlow lifting yet"
    if blocked:
        hint += (f"; {len(blocked)} node(s) reading their outputs were not lifted either "
                 f"(e.g. {blocked[0]!r}), for want of an element type")
    return UnsupportedOpError("ir->savedmodel", missing, hint=hint)


def _lift_node(model: ir.Model, node: ir.Node, table, opset: int, infer: Infer | None,
               missing: dict[tuple[str, str], list[str]], hints: list[str], blocked: list[str]) -> None:
    if node.domain == TF_DOMAIN:
        return
    key = ("" if node.domain in ONNX_DOMAINS else node.domain, node.op_type)
    handler = table.get(key)
    if handler is None:
        missing.setdefault(key, []).append(node.name)
        return
    ctx = LiftContext(model, node, opset, infer)
    try:
        outs = list(handler.fn(ctx, node))
    except UnsupportedOpError as e:
        undo(ctx)
        if _reads_untyped_unlifted(node):
            blocked.append(node.name)
            return
        missing.setdefault(key, []).append(node.name)
        for inner, names in e.missing.items():  # gaps inside a control-flow body
            if inner != key:
                missing.setdefault(inner, []).extend(names)
        if e.hint:
            hints.append(f"{node.op_type} {node.name!r}: {e.hint}")
        return
    except Exception as e:  # noqa: BLE001 - the handler boundary: name the node and handler
        raise ConversionError(f"{node.op_type} {node.name!r} via {handler.where}: {e}") from e
    if len(outs) != len(node.outputs):
        raise ConversionError(f"{node.op_type} {node.name!r} via {handler.where}: returned "
                              f"{len(outs)} values for {len(node.outputs)} outputs")
    for old, new in zip(node.outputs, outs):
        take_over(model, ctx, old, new, handler.where)
    node.graph.remove(node)


def _reads_untyped_unlifted(node: ir.Node) -> bool:
    """An input without an element type comes from a node that was not lifted: the refusal is
    a consequence of that node's, which is reported instead (nodes go in topological order)."""
    for v in node.inputs:
        p = v.producer() if v is not None else None
        if v is not None and v.dtype is None and p is not None and p.domain != TF_DOMAIN:
            return True
    return False


def undo(ctx: LiftContext) -> None:
    """Remove what a handler built before it refused (nothing reads it yet)."""
    g = ctx.node.graph
    for n in reversed(ctx.b.created):
        if n.graph is g:
            g.remove(n)
    for v in ctx.consts:
        if not v.has_uses():
            g.remove_initializer(v)


def _less_known(new: ir.Value, old: ir.Value) -> bool:
    """``new`` has no type, or the same element type with an unknown rank where ``old``'s is known."""
    if new.type is None:
        return True
    return new.dtype == old.dtype and new.shape is None and old.shape is not None


def take_over(model: ir.Model, ctx: LiftContext, old: ir.Value, new: ir.Value | None, where: str) -> None:
    if new is None:
        if old.has_uses() or _is_contract(model, old):
            raise ConversionError(f"{ctx.node.op_type} {ctx.node.name!r} via {where}: output "
                                  f"{old.name!r} is read but the handler gave no value for it")
        return
    if old.type is not None and _less_known(new, old) and new.producer() in ctx.b.created:
        new.type = old.type  # the ONNX output's declared type: later handlers may need the rank
    if not _is_contract(model, old):
        old.replace_all_uses_with(new)
        _inherit_name(model, ctx, old, new)
        return
    if new.producer() not in ctx.b.created or _is_contract(model, new):
        # a graph input, a constant or another output: give the output its own TF node
        new = ctx.tf("Identity", [new], T=ctx.dtype(new), types=[old.type])
    old.name, new.name = new.name, old.name
    old.replace_all_uses_with(new, include_graph_outputs=True)
    for mg in model.meta_graphs:
        for sig in mg.signatures.values():
            for d in (sig.inputs, sig.outputs):
                for k, v in d.items():
                    if v is old:
                        d[k] = new


def _inherit_name(model: ir.Model, ctx: LiftContext, old: ir.Value, new: ir.Value) -> None:
    """The TF value that replaces an ONNX value takes its name, so the SavedModel records
    which TF tensor computes which source value (check --bisect pairs them up)."""
    g = ctx.node.graph
    if new.producer() not in ctx.b.created or new in ctx.renamed or _is_contract(model, new):
        return
    name = old.name
    if g.rename_value(old, g.unique_value_name(f"{name}.replaced")) and g.rename_value(new, name):
        ctx.renamed.add(new)


def _is_contract(model: ir.Model, v: ir.Value) -> bool:
    if v.is_graph_output:
        return True
    return any(v is s for mg in model.meta_graphs for sig in mg.signatures.values()
               for s in (*sig.inputs.values(), *sig.outputs.values()))
