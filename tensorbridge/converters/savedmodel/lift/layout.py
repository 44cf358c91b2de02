"""prepare_layout: give the layout pass NCHW CNNs to cancel Transposes in, before lifting.

TF's CPU kernels run convolutions and pools only channels-last (FORMATS.md 8). This rewrites,
in place, every ONNX Conv/ConvTranspose/MaxPool/AveragePool/LpPool/LRN/DepthToSpace/
SpaceToDepth into what its lift handler makes, with *ONNX* Transposes around the TF op:

    Transpose(NCHW->NHWC) -> tf Conv2D (HWIO constant filter) [-> tf BiasAdd] -> Transpose(NHWC->NCHW)

The layout pass (passes/layout.py, run next in the default pipeline) then pushes each
NHWC->NCHW Transpose down through the element-wise ops that follow until it meets the next
layer's NCHW->NHWC Transpose, and the pair cancels: a CNN keeps one Transpose at its input and
one where the NCHW layout is observed again (a Flatten/Reshape before the classifier, or an
NCHW graph output).

Two rewrites help the pass further:
- BatchNormalization with constant parameters becomes ``Mul(x, s) + b`` with [C, 1, ...]
  constants, which the pass pushes through (it cannot push through a BatchNormalization with
  a non-identity channel permutation);
- a global pool that reads NHWC data (through element-wise ops) reduces the NHWC Transpose
  and reshapes [N, C] to [N, C, 1, ...], which needs no Transpose after (same memory order);
- Instance/GroupNormalization that read NHWC data normalize it in NHWC, between Transposes.

Nodes a handler refuses stay as they are (lifting reports them later).
"""

from __future__ import annotations

from tensorbridge import ir
from tensorbridge.errors import UnsupportedOpError

from ._context import TF_DOMAIN, TF_LIFT, LiftContext
from .driver import take_over, undo
from .norm import batch_norm_consts

NHWC_OPS = (
    "Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "LRN", "DepthToSpace", "SpaceToDepth",
)  # fmt: skip
# rewritten only when they read NHWC data (else they are fine, or better, in NCHW)
WHEN_NHWC = (
    "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "InstanceNormalization", "GroupNormalization",
)  # fmt: skip
# element-wise ops a Transpose passes (a subset of passes/layout_rules.py's table)
TRANSPARENT = (
    "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Clip", "Elu", "Selu",
    "Gelu", "Mish", "Softplus", "Identity", "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean",
)  # fmt: skip
_ONNX = ("", "ai.onnx")


class LayoutContext(LiftContext):
    """A LiftContext whose handlers build ONNX Transposes (see conv.transpose)."""

    onnx_layout = True


def prepare_layout(model: ir.Model, opset: int = ir.CANONICAL_OPSET) -> ir.Model:
    """Rewrite NCHW conv/pool-like nodes of every meta graph's main graph (see the module doc)."""
    table = TF_LIFT.resolve(opset)
    for mg in model.meta_graphs:
        made: set[int] = set()
        for node in list(mg.graph):
            if node.graph is None or node.domain not in _ONNX:
                continue
            if node.op_type in NHWC_OPS or (node.op_type in WHEN_NHWC and _reads_nhwc(node, made)):
                _rewrite(model, node, table.get(("", node.op_type)), opset, made)
            elif node.op_type == "BatchNormalization":
                _batch_norm(model, node, opset)
        if made:
            mg.opset_imports.setdefault(TF_DOMAIN, 1)  # as the SavedModel importer marks tf nodes
    return model


def _rewrite(model: ir.Model, node: ir.Node, handler, opset: int, made: set[int]) -> None:
    if handler is None:
        return
    ctx = LayoutContext(model, node, opset)
    try:
        outs = list(handler.fn(ctx, node))
    except UnsupportedOpError:
        undo(ctx)
        return
    for old, new in zip(node.outputs, outs):
        take_over(model, ctx, old, new, handler.where)
    node.graph.remove(node)
    made.update(id(n) for n in ctx.b.created)


def _reads_nhwc(node: ir.Node, made: set[int]) -> bool:
    """True when ``node``'s data input comes, through element-wise ops, from rewritten nodes."""
    memo: dict[int, bool] = {}

    def nhwc(v: ir.Value | None, depth: int) -> bool:
        p = v.producer() if v is not None else None
        if p is None or depth > 64:
            return False
        if id(p) in made:
            return True
        if id(p) not in memo:
            data = [i for i in p.inputs if i is not None and not _is_constant(i)]
            memo[id(p)] = (p.domain in _ONNX and p.op_type in TRANSPARENT and bool(data)
                           and all(nhwc(i, depth + 1) for i in data))
        return memo[id(p)]

    return nhwc(node.inputs[0], 0)


def _is_constant(v: ir.Value) -> bool:
    """A constant, or the output of an ONNX Constant node (fold-constants has not run yet)."""
    p = v.producer()
    return v.const is not None or (p is not None and p.op_type == "Constant" and p.domain in _ONNX)


def _batch_norm(model: ir.Model, node: ir.Node, opset: int) -> None:
    """Inference BatchNormalization with constant parameters -> Mul + Add (ONNX ops)."""
    x = node.inputs[0]
    rank = None if x.shape is None else len(x.shape)
    if node.attr("training_mode", 0) or len(node.outputs) > 1 or rank is None or rank < 3:
        return
    if x.dtype is None or not x.dtype.is_floating:
        return
    ctx = LiftContext(model, node, opset)
    folded = batch_norm_consts(ctx, node)
    if folded is None:
        return
    shape, dt = [-1] + [1] * (rank - 2), x.dtype.numpy
    s = ctx.const(folded[0].reshape(shape).astype(dt), "scale")
    b = ctx.const(folded[1].reshape(shape).astype(dt), "offset")
    y = ctx.b.node("Mul", [x, s], types=[x.type]).outputs[0]
    y = ctx.b.node("Add", [y, b], types=[node.outputs[0].type]).outputs[0]
    take_over(model, ctx, node.outputs[0], y, "prepare_layout")
    node.graph.remove(node)


__all__ = ["LayoutContext", "prepare_layout"]
