"""Static dims of imported values, propagated back through their producers.

The importer gives shapes only to graph inputs and variables, yet a handler sometimes needs
one dim of an intermediate value: Keras ``Conv2D(groups=g)`` is a TF Conv2D whose filter has
``C_in / g`` input channels, and ONNX Conv needs ``group`` as an attribute, so the input's
channel count must be known when the Conv is built.

``dim_from_end(v, k)`` answers the size of axis ``-k`` of ``v`` (None when unknown). Counting
from the end needs no rank for broadcasting ops (inputs align on the right), which is how a
channels-last layer is told its width: ``Add(x, bias[96])`` has 96 last-axis channels whatever
``x`` is. The walk is exact (every rule is a fact of the op's ONNX semantics) and bounded.
"""

from __future__ import annotations

from tensorbridge import ir

MAX_DEPTH = 48  # producers visited along one path; enough for a Keras layer's own ops
RANK_DEPTH = 8  # rank_of branches at every broadcasting op: kept shallow (2**8 visits at most)

_UNARY = frozenset({
    "Abs", "Cast", "Ceil", "Clip", "Cos", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid",
    "HardSwish", "Identity", "LeakyRelu", "Log", "Neg", "Reciprocal", "Relu", "Round", "Selu",
    "Sigmoid", "Sign", "Sin", "Softplus", "Softsign", "Sqrt", "Tanh", "Softmax", "LogSoftmax",
    "Dropout",
})  # fmt: skip
_BROADCAST = frozenset({"Add", "Sub", "Mul", "Div", "Mod", "Pow", "Max", "Min", "PRelu", "Where"})


def dim_from_end(v: ir.Value | None, k: int) -> int | None:
    """The size of axis ``-k`` (k >= 1) of ``v`` when it can be known statically, else None."""
    return _Walk().dim(v, k, MAX_DEPTH)


class _Walk:
    """One question's walk: memoized per (value, k), so diamonds (residual Adds) cost once."""

    def __init__(self) -> None:
        self.memo: dict[tuple[int, int], int | None] = {}

    def dim(self, v: ir.Value | None, k: int, depth: int) -> int | None:
        if v is None or depth <= 0:
            return None
        own = _own_dim(v, k)
        if own is not None or (_shape(v) is not None and len(_shape(v)) >= k):
            return own  # a known rank with an unknown dim: its producer knows no more
        p = v.producer()
        if p is None or p.domain not in ("", "ai.onnx") or v.index() != 0:
            return None
        key = (id(v), k)
        if key not in self.memo:
            rule = _RULES.get(p.op_type)
            self.memo[key] = rule(self, p, k, depth - 1) if rule is not None else None
        return self.memo[key]


def _shape(v: ir.Value) -> tuple | None:
    return tuple(v.const.shape) if v.const is not None else v.shape


def _own_dim(v: ir.Value, k: int) -> int | None:
    shape = _shape(v)
    if shape is None or len(shape) < k:
        return None
    d = shape[len(shape) - k]
    return d if isinstance(d, int) else None


def rank_of(v: ir.Value | None, depth: int = RANK_DEPTH) -> int | None:
    """The rank when known: own shape, or through unary ops, broadcasting ops (the largest
    input rank), a Transpose (its perm's length) or a Reshape to a constant shape (HWIO -> OIHW
    filters are Transposes of variables)."""
    if v is None or depth <= 0:
        return None
    shape = _shape(v)
    if shape is not None:
        return len(shape)
    p = v.producer()
    if p is None or p.domain not in ("", "ai.onnx") or v.index() != 0:
        return None
    if p.op_type == "Transpose" and p.attr("perm") is not None:
        return len(p.attr("perm"))
    if p.op_type == "Reshape" and p.inputs[1] is not None and p.inputs[1].const is not None:
        return int(p.inputs[1].const.shape[0]) if len(p.inputs[1].const.shape) == 1 else None
    if p.op_type in _UNARY:
        return rank_of(p.inputs[0], depth - 1)
    if p.op_type in _BROADCAST:
        ranks = [rank_of(x, depth - 1) for x in p.inputs]
        return None if None in ranks or not ranks else max(ranks)  # type: ignore[type-var]
    return None


def _unary(w: _Walk, p: ir.Node, k: int, depth: int) -> int | None:
    return w.dim(p.inputs[0], k, depth)


def _broadcast(w: _Walk, p: ir.Node, k: int, depth: int) -> int | None:
    """Numpy broadcasting: a known dim other than 1 decides; all inputs known as 1 give 1
    (an input of known rank below k contributes 1 too)."""
    ones = True
    for x in p.inputs:
        r = rank_of(x)
        if r is not None and r < k:
            continue
        d = w.dim(x, k, depth)
        if d is not None and d != 1:
            return d
        ones = ones and d == 1
    return 1 if ones else None


def _transpose(w: _Walk, p: ir.Node, k: int, depth: int) -> int | None:
    perm = p.attr("perm")
    if perm is None or k > len(perm):
        return None
    return w.dim(p.inputs[0], len(perm) - int(perm[len(perm) - k]), depth)


def _conv(w: _Walk, p: ir.Node, k: int, depth: int) -> int | None:
    """Conv/ConvTranspose output [N, C_out, ...]: C_out from the weight (axis 1 = from end r-1)."""
    weight = p.inputs[1] if len(p.inputs) > 1 else None
    r = rank_of(weight)
    if r is None or k != r - 1:
        return None
    if p.op_type == "Conv":
        return w.dim(weight, r, depth)
    per_group = w.dim(weight, r - 1, depth)
    return None if per_group is None else per_group * int(p.attr("group", 1))


def _matmul(w: _Walk, p: ir.Node, k: int, depth: int) -> int | None:
    """The last axis comes from B (when B is at least 2-D), the one before from A."""
    if k == 1 and (rank_of(p.inputs[1]) or 0) >= 2:
        return w.dim(p.inputs[1], 1, depth)
    if k == 2 and (rank_of(p.inputs[0]) or 0) >= 2:
        return w.dim(p.inputs[0], 2, depth)
    return None


def _reshape(w: _Walk, p: ir.Node, k: int, depth: int) -> int | None:
    """A constant target whose axis -k is a literal size (not -1, and not a copied 0)."""
    target = p.inputs[1]
    if target is None or target.const is None or target.variable is not None:
        return None
    dims = [int(d) for d in target.const.numpy().reshape(-1)]
    if len(dims) < k:
        return None
    d = dims[len(dims) - k]
    return d if d > 0 or (d == 0 and p.attr("allowzero", 0)) else None


def _concat(w: _Walk, p: ir.Node, k: int, depth: int) -> int | None:
    """Off the concat axis every input has the output's size there."""
    rank = next((r for r in map(rank_of, p.inputs) if r is not None), None)
    if rank is None or k > rank or int(p.attr("axis", 0)) % rank == rank - k:
        return None
    for x in p.inputs:
        d = w.dim(x, k, depth)
        if d is not None:
            return d
    return None


def _pad(w: _Walk, p: ir.Node, k: int, depth: int) -> int | None:
    """Constant pads [b_0..b_{r-1}, e_0..e_{r-1}] on every axis (no axes input)."""
    pads = p.inputs[1] if len(p.inputs) > 1 else None
    if pads is None or pads.const is None or len(p.inputs) > 3 and p.inputs[3] is not None:
        return None
    flat = [int(a) for a in pads.const.numpy().reshape(-1)]
    r = len(flat) // 2
    d = w.dim(p.inputs[0], k, depth) if k <= r else None
    return None if d is None else d + flat[r - k] + flat[2 * r - k]


def _pool(w: _Walk, p: ir.Node, k: int, depth: int) -> int | None:
    """Pools keep axis 1 (the channels) of their [N, C, spatial...] input."""
    kernel = p.attr("kernel_shape")
    rank = len(kernel) + 2 if kernel is not None else rank_of(p.inputs[0])
    return w.dim(p.inputs[0], k, depth) if rank is not None and k == rank - 1 else None


_RULES = {
    **dict.fromkeys(_UNARY, _unary),
    **dict.fromkeys(_BROADCAST, _broadcast),
    "Transpose": _transpose,
    "Conv": _conv,
    "ConvTranspose": _conv,
    "MatMul": _matmul,
    "Reshape": _reshape,
    "Concat": _concat,
    "Pad": _pad,
    "BatchNormalization": _unary,
    **dict.fromkeys(("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"), _pool),
}
