"""Static dims of a value, read off its producers, for rules that need a few dims of values the
IR has no shape for (the converted graphs carry shapes on inputs and constants only).

``known_dims(v)`` gives one entry per dim, the size or None, or None when even the rank is
unknown. Every rule is a fact of the op's ONNX semantics (a Reshape's constant target, a
reduction that keeps dims, a 1x1 stride-1 unpadded Conv, element-wise broadcasting, a
Transpose), and the walk is memoized and bounded.
"""

from __future__ import annotations

from .. import ir
from .simplify_common import ONNX_DOMAINS, const_array

Dims = list[int | None]
MAX_DEPTH = 24

_UNARY = frozenset({
    "Abs", "Cast", "Clip", "Erf", "Exp", "Gelu", "HardSigmoid", "HardSwish", "Identity",
    "LeakyRelu", "Log", "Neg", "Reciprocal", "Relu", "Sigmoid", "Softmax", "Sqrt", "Tanh",
    "BatchNormalization",
})  # fmt: skip
_BROADCAST = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"})


def known_dims(v: ir.Value | None) -> Dims | None:
    return _Walk().dims(v, MAX_DEPTH)


class _Walk:
    def __init__(self) -> None:
        self.memo: dict[int, Dims | None] = {}

    def dims(self, v: ir.Value | None, depth: int) -> Dims | None:
        if v is None:
            return None
        if v.const is not None:
            return [int(d) for d in v.const.shape]
        own = None if v.shape is None else [d if isinstance(d, int) and d >= 0 else None for d in v.shape]
        if (own is not None and None not in own) or depth <= 0:
            return own
        if id(v) not in self.memo:
            self.memo[id(v)] = None  # cycle guard
            self.memo[id(v)] = _merge(own, self._from_producer(v, depth - 1))
        return self.memo[id(v)]

    def _from_producer(self, v: ir.Value, depth: int) -> Dims | None:
        p = v.producer()
        if p is None or p.domain not in ONNX_DOMAINS or v.index() != 0:
            return None
        rule = _RULES.get(p.op_type)
        if rule is None and p.op_type.startswith("Reduce"):
            rule = _reduce
        return rule(self, p, depth) if rule is not None else None


def _merge(a: Dims | None, b: Dims | None) -> Dims | None:
    if a is None or b is None or len(a) != len(b):
        return a if a is not None else b
    return [x if x is not None else y for x, y in zip(a, b)]


def _unary(w: _Walk, p: ir.Node, depth: int) -> Dims | None:
    return w.dims(p.inputs[0], depth)


def _broadcast(w: _Walk, p: ir.Node, depth: int) -> Dims | None:
    """Numpy broadcasting per axis: a known dim other than 1 decides; all known 1 give 1."""
    all_dims = [w.dims(x, depth) for x in p.inputs]
    if not all_dims or any(d is None for d in all_dims):
        return None
    rank = max(len(d) for d in all_dims)  # type: ignore[arg-type]
    out: Dims = []
    for k in range(rank):
        col = [d[len(d) - rank + k] for d in all_dims if len(d) - rank + k >= 0]  # type: ignore[arg-type]
        big = [c for c in col if c is not None and c != 1]
        out.append(big[0] if big else (1 if None not in col else None))
    return out


def _reshape(w: _Walk, p: ir.Node, depth: int) -> Dims | None:
    target = const_array(p.inputs[1])
    if target is None or target.ndim != 1:
        return None
    src = w.dims(p.inputs[0], depth) if not p.attr("allowzero", 0) else None
    out: Dims = []
    for i, e in enumerate(int(e) for e in target):
        if e > 0 or (e == 0 and p.attr("allowzero", 0)):
            out.append(e)
        elif e == 0 and src is not None and i < len(src):
            out.append(src[i])
        else:
            out.append(None)
    return out


def _reduce(w: _Walk, p: ir.Node, depth: int) -> Dims | None:
    """Kept dims become 1 (keepdims=1 and constant axes only)."""
    src = w.dims(p.inputs[0], depth)
    axes = p.attr("axes")
    if axes is None and len(p.inputs) > 1 and p.inputs[1] is not None:
        arr = const_array(p.inputs[1])
        axes = None if arr is None else [int(a) for a in arr.reshape(-1)]
    if src is None or axes is None or not p.attr("keepdims", 1) or not axes:
        return None
    r = len(src)
    return [1 if i in {a % r for a in axes} else d for i, d in enumerate(src)]


def _conv(w: _Walk, p: ir.Node, depth: int) -> Dims | None:
    """Batch from the input, channels from the weight; spatial dims only for a 1x1 kernel with
    stride 1 and no padding (the SE and head convs of the Keras apps)."""
    src, weight = w.dims(p.inputs[0], depth), p.inputs[1]
    if weight is None or weight.const is None:
        return None
    kshape = weight.const.shape
    n = len(kshape) - 2
    src = src if src is not None and len(src) == n + 2 else [None] * (n + 2)
    same = (all(k == 1 for k in kshape[2:]) and all(s == 1 for s in p.attr("strides") or [1] * n)
            and not any(p.attr("pads") or [0]) and p.attr("auto_pad", "NOTSET") in ("NOTSET", "VALID"))
    return [src[0], int(kshape[0]), *(src[2:] if same else [None] * n)]


def _transpose(w: _Walk, p: ir.Node, depth: int) -> Dims | None:
    src, perm = w.dims(p.inputs[0], depth), p.attr("perm")
    if src is None or perm is None or len(perm) != len(src):
        return None
    return [src[int(i)] for i in perm]


_RULES = {
    **dict.fromkeys(_UNARY, _unary),
    **dict.fromkeys(_BROADCAST, _broadcast),
    "Reshape": _reshape,
    "Conv": _conv,
    "Transpose": _transpose,
}
