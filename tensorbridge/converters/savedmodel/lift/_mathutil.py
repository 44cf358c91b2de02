"""Helpers shared by the math-family lift modules (math, elementwise, activations, matmul, reduce).

TF CPU kernels cover fewer element types than ONNX ops allow (``Abs`` has no unsigned kernel,
``TruncateMod`` only int32/int64/float/double, ...). ``via`` runs a computation in a wider type
that holds every value exactly and casts back, so the result is the one the narrow type gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from tensorbridge import ir

from ._context import LiftContext
from .array import op  # noqa: F401 - the math families take it from here

D = ir.DType
FLOATS = frozenset({D.FLOAT, D.DOUBLE, D.FLOAT16, D.BFLOAT16})
SIGNED = frozenset({D.INT8, D.INT16, D.INT32, D.INT64})
UNSIGNED = frozenset({D.UINT8, D.UINT16, D.UINT32, D.UINT64})
INTS = SIGNED | UNSIGNED
# the exact wider type for an integer (or half-precision float) a kernel lacks
_WIDER = {D.INT8: D.INT32, D.INT16: D.INT32, D.UINT8: D.INT32, D.UINT16: D.INT32,
          D.UINT32: D.INT64, D.FLOAT16: D.FLOAT, D.BFLOAT16: D.FLOAT}


def dtype(ctx: LiftContext, v: ir.Value) -> ir.DType:
    """The element type of tensor ``v``; refuses non-tensors and types TF does not have."""
    if not ctx.dtype(v).tf_code:
        raise ctx.unsupported(f"TensorFlow has no {v.dtype} type")
    return v.dtype


def via(ctx: LiftContext, inputs: list[ir.Value], allowed: Iterable[ir.DType],
        compute: Callable[[list[ir.Value], ir.DType], ir.Value], out: ir.DType | None = None,
        wider: dict[ir.DType, ir.DType] | None = None) -> ir.Value:
    """``compute(inputs, t)`` with ``t`` the inputs' type, or its exact wider type when a kernel
    lacks it (the result cast back to ``out``, default the input type)."""
    t = dtype(ctx, inputs[0])
    allowed = frozenset(allowed)
    if t in allowed:
        return compute(inputs, t)
    w = (wider or _WIDER).get(t)
    if w is None or w not in allowed:
        raise ctx.unsupported(f"no TensorFlow kernel for {ctx.node.op_type} on {t}")
    y = compute([ctx.cast(x, w) for x in inputs], w)
    return ctx.cast(y, out or t) if y.dtype is w else y


def scalar(ctx: LiftContext, value: float | int, t: ir.DType, name: str = "c") -> ir.Value:
    return ctx.const(np.asarray(value, dtype=t.numpy), name, t)


def typed_op(ctx: LiftContext, name: str, inputs: list[ir.Value], t: ir.DType, shape=None,
             **attrs) -> ir.Value:
    """A TF op with ``T`` = ``t`` and one output of type ``t`` (of ``shape`` when known)."""
    return ctx.tf(name, inputs, T=t, types=[ir.TensorType(t, shape)], **attrs)


def t1(ctx: LiftContext, name: str, x: ir.Value, **attrs) -> ir.Value:
    """A unary TF op on ``x`` with ``T`` = its type."""
    t = dtype(ctx, x)
    return ctx.tf(name, [x], T=t, types=[ir.TensorType(t, x.shape)], **attrs)


def t2(ctx: LiftContext, name: str, a: ir.Value, b: ir.Value, **attrs) -> ir.Value:
    """A binary TF op with ``T`` = the type of ``a``."""
    t = dtype(ctx, a)
    return ctx.tf(name, [a, b], T=t, types=[ir.TensorType(t)], **attrs)


def int_attr(ctx: LiftContext, node: ir.Node, name: str, default: int) -> int:
    return int(ctx.attr(node, name, default))


def str_attr(ctx: LiftContext, node: ir.Node, name: str, default: str) -> str:
    v = ctx.attr(node, name, default)
    return v.decode() if isinstance(v, bytes) else str(v)


def norm_axis(ctx: LiftContext, x: ir.Value, axis: int) -> int:
    """``axis`` made non-negative (needs the rank when it is negative)."""
    if axis >= 0:
        return axis
    r = ctx.rank(x)
    if r is None:
        raise ctx.unsupported(f"negative axis {axis} on an input of unknown rank")
    return axis + r
