"""Lift: MatMul (numpy matmul, rank-1 operands included), Gemm, MatMulInteger, Einsum, Det.

TF's matmul kernels lack unsigned and 8-bit types. Unsigned products and sums wrap modulo 2^n,
so they are computed in int64 (same bits modulo 2^64) and cast back: exact.
"""

from __future__ import annotations

import re

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import FLOATS, dtype, int_attr, op, scalar, str_attr, t2, via

D = ir.DType
_MM_TYPES = FLOATS | {D.INT32, D.INT64}
_WIDE = {D.UINT32: D.INT64, D.UINT64: D.INT64, D.INT8: D.INT32, D.INT16: D.INT32, D.UINT8: D.INT32,
         D.UINT16: D.INT32}


def _matmul(ctx: LiftContext, a: ir.Value, b: ir.Value, t: ir.DType, ra: int, rb: int) -> ir.Value:
    """numpy matmul of ``a`` (rank ra) and ``b`` (rank rb), both of type ``t``."""
    if ra == 1:
        a = op(ctx, "ExpandDims", [a, ctx.i32(0, "row")], t, T=t, Tdim=D.INT32)
    if rb == 1:
        b = op(ctx, "ExpandDims", [b, ctx.i32(-1, "col")], t, T=t, Tdim=D.INT32)
    if max(ra, rb, 2) == 2:
        y = op(ctx, "MatMul", [a, b], t, T=t, transpose_a=False, transpose_b=False)
    else:
        y = op(ctx, "BatchMatMulV2", [a, b], t, T=t, adj_x=False, adj_y=False)
    dims = ([-2] if ra == 1 else []) + ([-1] if rb == 1 else [])
    return op(ctx, "Squeeze", [y], t, T=t, squeeze_dims=dims) if dims else y


@TF_LIFT.register("MatMul")
def lift_matmul(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """Batch dims broadcast like numpy in BatchMatMulV2; a rank-1 operand is promoted to a
    matrix and its dim removed from the result, as numpy does (at run time for unknown ranks)."""
    a, b = node.inputs[0], node.inputs[1]
    ra, rb = ctx.rank(a), ctx.rank(b)
    if ra is None or rb is None:
        return [via(ctx, [a, b], _MM_TYPES, lambda xs, t: _matmul_dynamic(ctx, xs[0], xs[1], t), wider=_WIDE)]
    return [via(ctx, [a, b], _MM_TYPES, lambda xs, t: _matmul(ctx, xs[0], xs[1], t, ra, rb), wider=_WIDE)]


def _i32(ctx: LiftContext, name: str, inputs: list[ir.Value], **attrs) -> ir.Value:
    return op(ctx, name, inputs, D.INT32, **attrs)


def _vec(ctx: LiftContext, x: ir.Value) -> ir.Value:
    return _i32(ctx, "Reshape", [x, ctx.i32([1], "one")], T=D.INT32, Tshape=D.INT32)


def _promote(ctx: LiftContext, x: ir.Value, t: ir.DType, front: bool) -> tuple[ir.Value, ir.Value]:
    """(x with a 1 put in front of (or after) its dims when it is rank 1, 0 or 1: whether that
    dim stays in the result)."""
    shape = _i32(ctx, "Shape", [x], T=t, out_type=D.INT32)
    rank = _i32(ctx, "Rank", [x], T=t)
    keep = _i32(ctx, "Minimum", [t2(ctx, "Sub", rank, ctx.i32(1, "one")), ctx.i32(1, "one")], T=D.INT32)
    pad = _i32(ctx, "Sub", [ctx.i32(1, "one"), keep], T=D.INT32)
    ones = _i32(ctx, "Fill", [_vec(ctx, pad), ctx.i32(1, "one")], T=D.INT32, index_type=D.INT32)
    parts = [ones, shape] if front else [shape, ones]
    new = _i32(ctx, "ConcatV2", [*parts, ctx.i32(0, "axis")], T=D.INT32, N=2, Tidx=D.INT32)
    return op(ctx, "Reshape", [x, new], t, T=t, Tshape=D.INT32), keep


def _matmul_dynamic(ctx: LiftContext, a: ir.Value, b: ir.Value, t: ir.DType) -> ir.Value:
    (a2, keep_a), (b2, keep_b) = _promote(ctx, a, t, True), _promote(ctx, b, t, False)
    y = op(ctx, "BatchMatMulV2", [a2, b2], t, T=t, adj_x=False, adj_y=False)
    ys = _i32(ctx, "Shape", [y], T=t, out_type=D.INT32)
    n = _i32(ctx, "Size", [ys], T=D.INT32, out_type=D.INT32)
    n2, n1 = (_vec(ctx, t2(ctx, "Sub", n, ctx.i32(k, f"c{k}"))) for k in (2, 1))
    zero = ctx.i32([0], "zero")
    parts = [_i32(ctx, "Slice", [ys, zero, n2], T=D.INT32, Index=D.INT32),
             _i32(ctx, "Slice", [ys, n2, _vec(ctx, keep_a)], T=D.INT32, Index=D.INT32),
             _i32(ctx, "Slice", [ys, n1, _vec(ctx, keep_b)], T=D.INT32, Index=D.INT32)]
    shape = _i32(ctx, "ConcatV2", [*parts, ctx.i32(0, "axis")], T=D.INT32, N=3, Tidx=D.INT32)
    return op(ctx, "Reshape", [y, shape], t, T=t, Tshape=D.INT32)


@TF_LIFT.register("Gemm")
def lift_gemm(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """alpha * A' B' + beta * C with A', B' optionally transposed and C broadcast."""
    a, b, c = (ctx.input(node, i) for i in range(3))
    alpha, beta = float(ctx.attr(node, "alpha", 1.0)), float(ctx.attr(node, "beta", 1.0))
    ta, tb = bool(int_attr(ctx, node, "transA", 0)), bool(int_attr(ctx, node, "transB", 0))

    def compute(xs: list[ir.Value], t: ir.DType) -> ir.Value:
        y = op(ctx, "MatMul", xs[:2], t, T=t, transpose_a=ta, transpose_b=tb)
        c = xs[2] if len(xs) == 3 else None
        if t not in FLOATS and not (alpha.is_integer() and beta.is_integer()):
            # integer Gemm with fractional alpha/beta: scaled in double, truncated (the reference)
            t, y, c = D.DOUBLE, ctx.cast(y, D.DOUBLE), None if c is None else ctx.cast(c, D.DOUBLE)
        if alpha != 1.0:
            y = t2(ctx, "Mul", y, scalar(ctx, alpha, t, "alpha"))
        if c is not None:
            y = t2(ctx, "AddV2", y, c if beta == 1.0 else t2(ctx, "Mul", c, scalar(ctx, beta, t, "beta")))
        return y

    t = dtype(ctx, a)
    y = via(ctx, [a, b] + ([c] if c is not None else []), _MM_TYPES, compute, wider=_WIDE)
    return [ctx.cast(y, t)]


def per_row(ctx: LiftContext, p: ir.Value) -> ir.Value:
    """A per-row quantization parameter [M] of A as [M, 1] (scalars stay as they are)."""
    if ctx.rank(p) != 1:
        return p
    t = dtype(ctx, p)
    return op(ctx, "ExpandDims", [p, ctx.i32(-1, "col")], t, T=t, Tdim=D.INT32)


def integer_matmul(ctx: LiftContext, a: ir.Value, za: ir.Value | None, b: ir.Value,
                   zb: ir.Value | None) -> ir.Value:
    """(A - a_zero_point) @ (B - b_zero_point) in int32 (a_zero_point per tensor or per row,
    b_zero_point per tensor or per column)."""
    ra, rb = ctx.rank(a), ctx.rank(b)
    if ra is None or rb is None:
        raise ctx.unsupported("integer MatMul operands of unknown rank")
    a32, b32 = ctx.cast(a, D.INT32), ctx.cast(b, D.INT32)
    if za is not None:
        a32 = t2(ctx, "Sub", a32, ctx.cast(per_row(ctx, za), D.INT32))
    if zb is not None:
        b32 = t2(ctx, "Sub", b32, ctx.cast(zb, D.INT32))
    return _matmul(ctx, a32, b32, D.INT32, ra, rb)


@TF_LIFT.register("MatMulInteger")
def lift_matmul_integer(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    a, b, za, zb = (ctx.input(node, i) for i in range(4))
    return [integer_matmul(ctx, a, za, b, zb)]


def _explicit(eq: str) -> str:
    """An einsum equation with its output spelled out (numpy's implicit-mode rule)."""
    eq = eq.replace(" ", "")
    if "->" in eq:
        return eq
    letters = re.findall(r"[A-Za-z]", eq)
    once = sorted(ch for ch in set(letters) if letters.count(ch) == 1)
    return f"{eq}->{'...' if '...' in eq else ''}{''.join(once)}"


@TF_LIFT.register("Einsum")
def lift_einsum(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    eq = _explicit(str_attr(ctx, node, "equation", ""))
    xs = list(node.inputs)
    kinds = FLOATS | {D.INT32, D.INT64}
    return [via(ctx, xs, kinds, lambda vs, t: op(ctx, "Einsum", vs, t, T=t, N=len(vs), equation=eq),
                wider=_WIDE)]


@TF_LIFT.register("Det")
def lift_det(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    return [via(ctx, [x], {D.FLOAT, D.DOUBLE}, lambda xs, t: op(ctx, "MatrixDeterminant", xs, t, T=t))]
