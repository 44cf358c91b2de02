"""shape-inference: element types and shapes, static and symbolic, through every graph.

Each covered op has one small rule (``shape_inference_rules`` for elementwise, NN and
reduction ops; ``shape_inference_shapes`` for the ops that move dims around); a rule sees the
node and an :class:`InferContext` and returns one type per output (``None``: not known).
Symbolic dims keep their names ("batch" stays "batch" through Relu, Conv's batch axis,
Reshape's 0, Concat of Shape slices, ...); a dim derived from symbols (batch * 2) becomes
unknown rather than a new invented name.

Besides types the pass tracks the *values* of small 1-D integer tensors whose elements are
known or symbolic: constants, Shape outputs and what Gather/Slice/Concat/Squeeze/Unsqueeze/
Cast make of them. That is what lets ``Reshape(x, Concat(Shape(x)[0:1], [-1]))`` come out as
``[batch, 12]``: dynamic shape arithmetic is how Keras and TF exports spell static reshapes.

Rules for the results: a type is never made less precise than it was (a known dim stays, a
symbolic dim is replaced only by a static one, a declared rank is kept); an inferred static
dim or element type that contradicts the declared one is a :class:`ShapeConflict` naming the
node. Unknown ops (no rule, non-default domains, control flow) leave their outputs as they
are: no guessing. ``changed`` is True when any Value's type became more precise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from .. import ir
from . import shape_inference_shapes  # noqa: F401 - registers the shape-moving rules
from .base import PassContext, PassResult, pass_
from .shape_inference_rules import RULES, Dim, Dims, InferContext, ShapeConflict

DEFAULT_DOMAINS = ("", "ai.onnx")
MAX_TRACKED = 64  # longest integer tensor whose values are tracked


@pass_("shape-inference")
def shape_inference(model: ir.Model, ctx: PassContext) -> PassResult:
    """Infer static and symbolic shapes and element types (kept in Value.type)."""
    stats: Counter[str] = Counter()
    for mg in model.meta_graphs:
        known: dict[ir.Value, Dims] = {}
        for g in list(mg.graph.subgraph_tree()):
            for node in g:
                ctx.working_on(node)
                _infer_node(node, known, stats)
    ctx.working_on(None)
    return PassResult(model, changed=stats["refined"] > 0, stats=dict(stats))


def _infer_node(node: ir.Node, known: dict[ir.Value, Dims], stats: Counter[str]) -> None:
    rule = RULES.get(node.op_type) if node.domain in DEFAULT_DOMAINS else None
    if rule is None:
        stats["unknown_op"] += 1
        return
    ictx = InferContext(node, known)
    for v in node.inputs:
        if v is not None and v.const is not None and v not in known:
            _track_const(v, known)
    inferred = rule(node, ictx)
    for v, t in zip(node.outputs, inferred, strict=False):
        if t is None:
            continue
        merged = merge_types(v.type, t, node, v)
        if merged != v.type:
            v.type = merged
            stats["refined"] += 1
    for v, dims in ictx.values_out.items():
        known[v] = dims


def _track_const(v: ir.Value, known: dict[ir.Value, Dims]) -> None:
    dt = v.dtype
    if dt is None or not dt.is_integer or dt.bits > 64 or len(v.const.shape) > 1:
        return
    n = int(np.prod(v.const.shape)) if v.const.shape else 1
    if n <= MAX_TRACKED:
        known[v] = tuple(int(x) for x in np.asarray(v.const.numpy()).reshape(-1))


# ---- merging ---------------------------------------------------------------------------------
def merge_types(old: ir.TypeSpec | None, new: ir.TypeSpec, node: ir.Node,
                v: ir.Value) -> ir.TypeSpec:
    """``old`` refined by ``new``; never less precise; a contradiction raises ShapeConflict."""
    if old is None:
        return new
    if not isinstance(old, ir.TensorType) or not isinstance(new, ir.TensorType):
        return old
    if old.dtype != new.dtype:
        raise ShapeConflict(_where(node, v) + f": element type {new.dtype} inferred, "
                            f"{old.dtype} declared")
    return ir.TensorType(old.dtype, merge_shapes(old.shape, new.shape, node, v))


def merge_shapes(old: ir.Shape | None, new: ir.Shape | None, node: ir.Node,
                 v: ir.Value) -> ir.Shape | None:
    if old is None:
        return new
    if new is None:
        return old
    if len(old) != len(new):
        raise ShapeConflict(_where(node, v) + f": rank {len(new)} inferred "
                            f"{ir.format_shape(new)}, rank {len(old)} declared "
                            f"{ir.format_shape(old)}")
    return tuple(_merge_dim(a, b, i, node, v, old, new) for i, (a, b) in enumerate(zip(old, new)))


def _merge_dim(a: Dim, b: Dim, i: int, node: ir.Node, v: ir.Value,
               old: Sequence[Dim], new: Sequence[Dim]) -> Dim:
    if isinstance(a, int) and isinstance(b, int) and a != b:
        raise ShapeConflict(_where(node, v) + f": dim {i} inferred {b}, declared {a} "
                            f"({ir.format_shape(tuple(new))} vs {ir.format_shape(tuple(old))})")
    if isinstance(a, int):
        return a
    if isinstance(b, int):
        return b
    return a if a is not None else b


def _where(node: ir.Node, v: ir.Value) -> str:
    return f"{node.op_type} {node.name!r} output {v.name!r}"


__all__ = ["ShapeConflict", "merge_shapes", "merge_types", "shape_inference"]
