"""simplify, conv rules: a per-output-channel Mul or Add after a Conv goes into its weight or
bias; a zero Pad before it goes into its pads.

Keras 3 exports BatchNormalization as arithmetic, not FusedBatchNormV3, so after freezing and
the layout pass every Conv is followed by ``Mul(const [1, C, 1, 1])`` and ``Add(const
[1, C, 1, 1])`` (and a conv's own bias is another Add): twice tf2onnx's node count. With s and
t per output channel, ``Conv(x, W, B) * s = Conv(x, W * s, B * s)`` and ``Conv(x, W, B) + t =
Conv(x, W, B + t)``, exactly up to float rounding (each new weight or bias element is rounded
once to the weight's dtype).

Conditions, checked exactly: the constant broadcasts only along the channel axis (axis 1 of the
Conv's [N, C, spatial...] output: after right-aligning it to the output's rank every other dim
is 1, and its channel dim is C or 1, so it never grows the output); the Conv's output feeds
nothing but that Mul/Add; weight and bias are constants of the Conv's graph, of the constant's
dtype. The new weight is lazy: a memory-mapped weight is read when the model is written.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import ir
from ._edit import drop_if_dead
from .simplify_common import (
    ONNX_DOMAINS,
    const_array,
    drop_initializer_if_unused,
    fuse_into,
    new_initializer,
    only_user,
)

Rule = Callable[[ir.Model, ir.Node], bool]
_FLOATS = (ir.DType.FLOAT, ir.DType.DOUBLE, ir.DType.FLOAT16, ir.DType.BFLOAT16)


def rule_conv_mul(model: ir.Model, node: ir.Node) -> bool:
    """Conv -> Mul(per-channel s): the weight's output-channel slices and the bias times s."""
    found = _conv_and_channels(model, node)
    if found is None:
        return False
    conv, s, c = found
    w = conv.inputs[1]
    b = conv.inputs[2] if len(conv.inputs) > 2 else None
    if not fuse_into(model, node, conv.outputs[0]):
        return False
    drop_initializer_if_unused(model, c)
    _set_weight(model, conv, _scaled(conv.graph, w, s))
    if b is not None:
        _set_bias(model, conv, b.const.numpy().astype(np.float64) * s, b)
    return True


def rule_conv_add(model: ir.Model, node: ir.Node) -> bool:
    """Conv -> Add(per-channel t): t goes into the bias (created when the Conv has none)."""
    found = _conv_and_channels(model, node)
    if found is None:
        return False
    conv, t, c = found
    b = conv.inputs[2] if len(conv.inputs) > 2 else None
    if not fuse_into(model, node, conv.outputs[0]):
        return False
    drop_initializer_if_unused(model, c)
    old = b.const.numpy().astype(np.float64) if b is not None else 0.0
    _set_bias(model, conv, old + t, b)
    return True


def _conv_and_channels(model: ir.Model, node: ir.Node) -> tuple[ir.Node, np.ndarray, ir.Value] | None:
    """(the Conv, the constant as a float64 [C_out] vector, the constant) when ``node``
    qualifies."""
    if len(node.inputs) != 2 or any(v is None for v in node.inputs):
        return None
    for y, c in (node.inputs, node.inputs[::-1]):
        conv = y.producer()
        if conv is None or conv.op_type != "Conv" or conv.domain not in ONNX_DOMAINS:
            continue
        if c.const is None or not only_user(model, y, node) or y is c:
            continue
        w, b = conv.inputs[1], conv.inputs[2] if len(conv.inputs) > 2 else None
        if not _local_const(w, conv.graph) or (b is not None and not _local_const(b, conv.graph)):
            continue
        vec = _channel_vector(c, w)
        if vec is None or (b is not None and tuple(b.const.shape) != (w.const.shape[0],)):
            continue
        return conv, vec, c
    return None


def _local_const(v: ir.Value | None, g: ir.Graph | None) -> bool:
    """A floating constant initializer of ``g`` (no function-body or outer-scope value)."""
    return (v is not None and v.const is not None and v.is_initializer and v.graph() is g
            and v.const.dtype in _FLOATS)


def _channel_vector(c: ir.Value, w: ir.Value) -> np.ndarray | None:
    """``c`` as [C_out] float64 when it broadcasts only along axis 1 of the Conv output."""
    arr = const_array(c)
    rank, c_out = len(w.const.shape), int(w.const.shape[0])
    if arr is None or c.const.dtype is not w.const.dtype or arr.ndim > rank:
        return None
    shape = (1,) * (rank - arr.ndim) + arr.shape
    if any(d != 1 for i, d in enumerate(shape) if i != 1) or shape[1] not in (1, c_out):
        return None
    return np.broadcast_to(arr.reshape(-1).astype(np.float64), (c_out,)).copy()


def _scaled(g: ir.Graph, w: ir.Value, s: np.ndarray) -> ir.Value:
    """A lazy constant W * s (s along W's axis 0), rounded once to W's dtype: float32 and
    float64 multiply natively (a product of two float32 is exact in float64, so float32's own
    correctly rounded product is the same number, without the float64 copy of the weight);
    float16/bfloat16 go through float64."""
    src, dtype = w.const, w.const.dtype
    native = dtype in (ir.DType.FLOAT, ir.DType.DOUBLE)
    factor = s.reshape((-1,) + (1,) * (len(src.shape) - 1))
    factor = factor.astype(dtype.numpy) if native else factor
    name = g.unique_value_name(f"{w.name}_scaled")

    def compute() -> np.ndarray:
        if native:
            return src.numpy() * factor
        return (src.numpy().astype(np.float64) * factor).astype(dtype.numpy)

    return g.add_initializer(ir.Value(name, const=ir.LazyTensor(compute, dtype, tuple(src.shape), name)))


def _set_weight(model: ir.Model, conv: ir.Node, w: ir.Value) -> None:
    old = conv.inputs[1]
    conv.set_input(1, w)
    drop_initializer_if_unused(model, old)


def _set_bias(model: ir.Model, conv: ir.Node, b: np.ndarray, old: ir.Value | None) -> None:
    dtype = conv.inputs[1].const.dtype
    base = old.name if old is not None else f"{conv.name}_bias"
    new = new_initializer(conv.graph, f"{base}_folded", b.astype(dtype.numpy), dtype)
    if len(conv.inputs) < 3:
        conv.resize_inputs(3)
    conv.set_input(2, new)
    drop_initializer_if_unused(model, old)


# ---- Pad -> Conv ---------------------------------------------------------------------------
def rule_pad_into_conv(model: ir.Model, node: ir.Node) -> bool:
    """Conv(Pad(x, zeros on the spatial dims)) -> Conv(x) with those pads added to its own
    (Keras ZeroPadding2D before a strided conv). Exact: ONNX Conv pads with zeros too. Only a
    constant-mode Pad with value 0 (or none), no axes input, non-negative pads, nothing on
    the batch and channel dims, read by this Conv alone; the Conv has no auto_pad."""
    pad = node.inputs[0].producer() if node.inputs[0] is not None else None
    if pad is None or pad.op_type != "Pad" or pad.domain not in ONNX_DOMAINS or len(pad.inputs) > 3:
        return False
    modes = [m.decode() if isinstance(m, bytes) else m
             for m in (pad.attr("mode", "constant"), node.attr("auto_pad", "NOTSET"))]
    if modes != ["constant", "NOTSET"]:
        return False
    if not only_user(model, node.inputs[0], node):
        return False
    pads = const_array(pad.inputs[1]) if len(pad.inputs) > 1 else None
    value = const_array(pad.inputs[2]) if len(pad.inputs) > 2 and pad.inputs[2] is not None else np.zeros(())
    if pads is None or pads.ndim != 1 or value is None or value.size != 1 or float(value.reshape(-1)[0]) != 0:
        return False
    r = pads.size // 2
    begins, ends = [int(p) for p in pads[:r]], [int(p) for p in pads[r:]]
    if r < 3 or any(p < 0 for p in begins + ends) or begins[:2] != [0, 0] or ends[:2] != [0, 0]:
        return False
    own = [int(p) for p in node.attr("pads") or [0] * (2 * (r - 2))]
    n = r - 2
    new = [own[i] + begins[2 + i] for i in range(n)] + [own[n + i] + ends[2 + i] for i in range(n)]
    node.set_attr("pads", new)
    node.set_input(0, pad.inputs[0])
    drop_if_dead(model, pad)
    return True


CONV_RULES: dict[str, tuple[Rule, ...]] = {
    "Mul": (rule_conv_mul,),
    "Add": (rule_conv_add,),
    "Conv": (rule_pad_into_conv,),
}
