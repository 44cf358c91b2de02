"""layout: the push-through table, one small function per op class (STYLE 4.3, "layout" row).

A rule looks at a node ``n`` that reads the output of ``Transpose(perm)`` and answers with a
:class:`Push` (or None: the Transpose cannot pass). A Push says how ``n`` reads its inputs in
the layout *before* the Transpose (new inputs, new constants, new attributes) and which
Transpose each output then needs to give the consumers the layout they saw before. Rules never
edit the graph: the driver (passes/layout.py) applies the Push.

Axis arithmetic: ``Transpose(perm)`` makes dim ``i`` of its output from dim ``perm[i]`` of its
input, so an axis ``a`` of the transposed tensor is axis ``perm[a]`` before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import ir
from .simplify import _perm, const_array


@dataclass
class Push:
    inputs: dict[int, ir.Value | None] = field(default_factory=dict)  # input index -> new value
    consts: dict[int, np.ndarray] = field(default_factory=dict)  # input index -> new constant
    attrs: dict[str, Any] = field(default_factory=dict)
    out_perms: list[list[int] | None] = field(default_factory=list)  # per output; None: none


Rule = Callable[[ir.Node, list[int], int], "Push | None"]  # (node, perm, const byte limit)


def inverse(perm: list[int]) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def _is_transpose(v: ir.Value | None, perm: list[int]) -> ir.Node | None:
    p = v.producer() if v is not None else None
    if p is None or p.op_type != "Transpose" or p.domain not in ("", "ai.onnx"):
        return None
    return p if _perm(p) == perm else None


def _data_inputs(node: ir.Node, idxs, perm: list[int], limit: int, *, broadcast: bool) -> Push | None:
    """Inputs ``idxs`` in the pre-Transpose layout: a same-perm Transpose's input, a permuted
    constant (rank-expanded first when ``broadcast``), or a scalar; otherwise None."""
    r, inv = len(perm), inverse(perm)
    push = Push()
    for i in idxs:
        v = node.inputs[i]
        if v is None:
            continue
        t = _is_transpose(v, perm)
        if t is not None:
            push.inputs[i] = t.inputs[0]
            continue
        arr = const_array(v, limit)
        if arr is not None and (arr.ndim == r or (broadcast and arr.ndim < r)):
            arr = arr.reshape((1,) * (r - arr.ndim) + arr.shape)
            push.consts[i] = np.ascontiguousarray(np.transpose(arr, inv))
        elif not (broadcast and v.shape is not None and len(v.shape) == 0):
            return None
    return push


def _axes(node: ir.Node, input_index: int, limit: int) -> list[int] | None:
    """Axes from the attribute or from a constant input (None when neither is known)."""
    if node.attr("axes") is not None:
        return [int(a) for a in node.attr("axes")]
    if len(node.inputs) > input_index and node.inputs[input_index] is not None:
        arr = const_array(node.inputs[input_index], limit)
        return None if arr is None else [int(a) for a in arr.reshape(-1)]
    return []


def _set_axes(node: ir.Node, push: Push, input_index: int, axes: list[int]) -> None:
    if node.attr("axes") is not None:
        push.attrs["axes"] = axes
    else:
        push.consts[input_index] = np.asarray(axes, np.int64)


def _kept_perm(perm: list[int], axes: set[int]) -> list[int]:
    """The Transpose after dropping ``axes`` (of the transposed tensor) from both layouts."""
    kept = [perm[i] for i in range(len(perm)) if i not in axes]
    order = sorted(kept)
    return [order.index(k) for k in kept]


def _out(q: list[int] | None) -> list[int] | None:
    return None if q is None or q == list(range(len(q))) else q


# ---- rules --------------------------------------------------------------------------------
def push_unary(node: ir.Node, perm: list[int], limit: int) -> Push | None:
    push = _data_inputs(node, [0], perm, limit, broadcast=False)
    if push is None:
        return None
    push.out_perms = [perm]
    return push


def push_broadcast(node: ir.Node, perm: list[int], limit: int) -> Push | None:
    """Element-wise n-ary ops: every input a same-perm Transpose, a constant or a scalar."""
    push = _data_inputs(node, range(len(node.inputs)), perm, limit, broadcast=True)
    if push is None or not push.inputs:
        return None
    push.out_perms = [perm]
    return push


def push_concat(node: ir.Node, perm: list[int], limit: int) -> Push | None:
    push = _data_inputs(node, range(len(node.inputs)), perm, limit, broadcast=False)
    if push is None:
        return None
    push.attrs["axis"] = perm[int(node.attr("axis")) % len(perm)]
    push.out_perms = [perm]
    return push


def push_split(node: ir.Node, perm: list[int], limit: int) -> Push | None:
    push = _data_inputs(node, [0], perm, limit, broadcast=False)
    if push is None:
        return None
    push.attrs["axis"] = perm[int(node.attr("axis", 0)) % len(perm)]
    push.out_perms = [perm] * len(node.outputs)
    return push


def push_reduce(node: ir.Node, perm: list[int], limit: int) -> Push | None:
    """Reduce* (axes attribute or input 1) and ArgMax/ArgMin (axis), keepdims either way."""
    r = len(perm)
    push = _data_inputs(node, [0], perm, limit, broadcast=False)
    arg = node.op_type in ("ArgMax", "ArgMin")
    axes = [int(node.attr("axis", 0))] if arg else _axes(node, 1, limit)
    if push is None or axes is None:
        return None
    if not axes:
        if node.attr("noop_with_empty_axes", 0):
            return push_unary(node, perm, limit)
        axes = list(range(r))
    axes = sorted({a % r for a in axes})
    new_axes = [perm[a] for a in axes]
    if arg:
        push.attrs["axis"] = new_axes[0]
    else:
        _set_axes(node, push, 1, new_axes)
    push.out_perms = [_out(perm if node.attr("keepdims", 1) else _kept_perm(perm, set(axes)))]
    return push


def push_squeeze(node: ir.Node, perm: list[int], limit: int) -> Push | None:
    push = _data_inputs(node, [0], perm, limit, broadcast=False)
    axes = _axes(node, 1, limit)
    if push is None or not axes:  # no axes: "every 1-dim", which needs known shapes
        return None
    axes = sorted({a % len(perm) for a in axes})
    _set_axes(node, push, 1, [perm[a] for a in axes])
    push.out_perms = [_out(_kept_perm(perm, set(axes)))]
    return push


def push_unsqueeze(node: ir.Node, perm: list[int], limit: int) -> Push | None:
    push = _data_inputs(node, [0], perm, limit, broadcast=False)
    axes = _axes(node, 1, limit)
    if push is None or not axes:
        return None
    rank = len(perm) + len(axes)
    inserted = {a % rank for a in axes}
    others = [k for k in range(rank) if k not in inserted]  # where the old dims land, in order
    q = list(range(rank))
    for i, k in enumerate(others):
        q[k] = others[perm[i]]
    push.out_perms = [_out(q)]
    return push


def push_axis(node: ir.Node, perm: list[int], limit: int) -> Push | None:
    """Softmax/LogSoftmax/Hardmax (opset >= 13: one axis) and similar single-axis ops."""
    push = push_unary(node, perm, limit)
    if push is not None:
        push.attrs["axis"] = perm[int(node.attr("axis", -1)) % len(perm)]
    return push


def _remap_pairs(values: np.ndarray, perm: list[int]) -> np.ndarray:
    """[b_0..b_{r-1}, e_0..e_{r-1}] of the transposed tensor -> of the tensor before it."""
    r = len(perm)
    out = values.copy()
    for i in range(r):
        out[perm[i]], out[r + perm[i]] = values[i], values[r + i]
    return out


def push_pad(node: ir.Node, perm: list[int], limit: int) -> Push | None:
    push = _data_inputs(node, [0], perm, limit, broadcast=False)
    if push is None or node.attr("pads") is not None:  # opset < 11 attribute form: not ours
        return None
    axes_in = node.inputs[3] if len(node.inputs) > 3 else None
    if axes_in is not None:
        axes = const_array(axes_in, limit)
        if axes is None:
            return None
        push.consts[3] = np.asarray([perm[int(a) % len(perm)] for a in axes.reshape(-1)], np.int64)
    else:
        pads = const_array(node.inputs[1], limit)
        if pads is None or pads.shape != (2 * len(perm),):
            return None
        push.consts[1] = _remap_pairs(pads, perm)
    push.out_perms = [perm]
    return push


def push_slice(node: ir.Node, perm: list[int], limit: int) -> Push | None:
    push = _data_inputs(node, [0], perm, limit, broadcast=False)
    starts = const_array(node.inputs[1], limit) if len(node.inputs) > 1 else None
    if push is None or starts is None:
        return None
    axes_in = node.inputs[3] if len(node.inputs) > 3 else None
    if axes_in is None:
        axes = np.arange(starts.size)
    else:
        axes = const_array(axes_in, limit)
        if axes is None:
            return None
    push.consts[3] = np.asarray([perm[int(a) % len(perm)] for a in axes.reshape(-1)], np.int64)
    push.out_perms = [perm]
    return push


def push_resize(node: ir.Node, perm: list[int], limit: int) -> Push | None:
    push = _data_inputs(node, [0], perm, limit, broadcast=False)
    if push is None:
        return None
    if node.attr("axes") is not None:
        push.attrs["axes"] = [perm[int(a) % len(perm)] for a in node.attr("axes")]
        push.out_perms = [perm]
        return push
    for i in (1, 2, 3):  # roi (begins/ends), scales, sizes: all per-dim
        v = node.inputs[i] if len(node.inputs) > i else None
        arr = const_array(v, limit) if v is not None else None
        if v is None or (arr is not None and arr.size == 0):
            continue
        if arr is None:
            return None
        push.consts[i] = _remap_pairs(arr, perm) if i == 1 else arr[inverse(perm)]
    push.out_perms = [perm]
    return push


def push_channel_first(node: ir.Node, perm: list[int], limit: int) -> Push | None:
    """BatchNormalization / GlobalPool: only if the batch and channel axes stay where they are;
    InstanceNormalization the same (its mean runs over all the other axes)."""
    if len(perm) < 2 or perm[:2] != [0, 1]:
        return None
    push = _data_inputs(node, [0], perm, limit, broadcast=False)
    if push is None or len(node.outputs) != 1:
        return None
    push.out_perms = [perm]
    return push


UNARY = (
    "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cast", "CastLike", "Ceil", "Celu",
    "Clip", "Cos", "Cosh", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish",
    "Identity", "IsInf", "IsNaN", "LeakyRelu", "Log", "Mish", "Neg", "Not", "Reciprocal", "Relu",
    "Round", "Selu", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Softplus", "Softsign", "Sqrt",
    "Tan", "Tanh", "ThresholdedRelu",
)  # fmt: skip
BROADCAST = (
    "Add", "And", "BitShift", "Div", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual",
    "Max", "Mean", "Min", "Mod", "Mul", "Or", "Pow", "PRelu", "Sub", "Sum", "Where", "Xor",
)  # fmt: skip
REDUCE = (
    "ArgMax", "ArgMin", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare",
)  # fmt: skip

RULES: dict[str, Rule] = {
    **{op: push_unary for op in UNARY},
    **{op: push_broadcast for op in BROADCAST},
    **{op: push_reduce for op in REDUCE},
    "Concat": push_concat,
    "Split": push_split,
    "Squeeze": push_squeeze,
    "Unsqueeze": push_unsqueeze,
    "Softmax": push_axis,
    "LogSoftmax": push_axis,
    "Hardmax": push_axis,
    "Pad": push_pad,
    "Slice": push_slice,
    "Resize": push_resize,
    "BatchNormalization": push_channel_first,
    "InstanceNormalization": push_channel_first,
    "GlobalAveragePool": push_channel_first,
    "GlobalMaxPool": push_channel_first,
}
