"""Lift: AffineGrid, the sampling grid of an affine transform (2-D and 3-D), as ONNX's reference
computes it; the output size is read at run time.

Per spatial axis of size n the normalized coordinates are, in float64,
``a_i = start + i * step`` (what numpy's arange yields): align_corners=1: start -1, step
2 / (n - 1) (n = 1: the single point -1); align_corners=0: step 2 / n, start -1 + step / 2. The
homogeneous base grid [..., (x, y[, z], 1)] (x along the last axis) is multiplied by theta
[N, 2, 3] / [N, 3, 4] (``BatchMatMulV2``, float64) and rounded once to theta's type, giving
[N, H, W, 2] / [N, D, H, W, 3].
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import LiftContext
from .array import I64, binary, cast, concat, gather, i64_input, int_range, op, register, reshape, shape_of

F64 = ir.DType.DOUBLE
_FLOATS = (ir.DType.FLOAT, ir.DType.DOUBLE, ir.DType.FLOAT16, ir.DType.BFLOAT16)


def _f64(ctx: LiftContext, value: float, name: str = "c") -> ir.Value:
    return ctx.const(np.asarray(value, np.float64), name)


def _axis_coords(ctx: LiftContext, n: ir.Value, align: bool) -> ir.Value:
    """The n normalized coordinates of one axis (float64 [n]); ``n`` an int64 scalar."""
    nf = cast(ctx, n, F64)
    two = _f64(ctx, 2.0, "two")
    if align:
        one = _f64(ctx, 1.0, "one")
        step = binary(ctx, "RealDiv", two, binary(ctx, "Maximum", binary(ctx, "Sub", nf, one), one))
        start = _f64(ctx, -1.0, "start")
    else:
        step = binary(ctx, "RealDiv", two, nf)
        start = binary(ctx, "AddV2", _f64(ctx, -1.0, "minus_one"), binary(ctx, "RealDiv", step, two))
    i = cast(ctx, int_range(ctx, ctx.i64(0, "zero"), n), F64)
    return binary(ctx, "AddV2", start, binary(ctx, "Mul", i, step))


def _base_grid(ctx: LiftContext, dims: list[ir.Value], align: bool) -> ir.Value:
    """[prod(dims), k + 1] rows (x, y[, z], 1), the last spatial axis varying fastest."""
    k = len(dims)
    shape = op(ctx, "Pack", dims, I64, T=I64, N=k, axis=0)
    zeros = op(ctx, "Fill", [shape, _f64(ctx, 0.0, "zero")], F64, T=F64, index_type=I64)
    cols = []
    for axis in reversed(range(k)):  # x (the last axis) first
        view = [1] * k
        view[axis] = -1
        a = reshape(ctx, _axis_coords(ctx, dims[axis], align), ctx.i64(view, "view"))
        cols.append(binary(ctx, "AddV2", a, zeros))
    cols.append(binary(ctx, "AddV2", zeros, _f64(ctx, 1.0, "one")))
    grid = op(ctx, "Pack", cols, F64, T=F64, N=k + 1, axis=k)
    return reshape(ctx, grid, ctx.i64([-1, k + 1], "rows"))


@register("AffineGrid")
def lift_affine_grid(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    theta, size = ctx.input(node, 0), ctx.input(node, 1)
    dt = ctx.dtype(theta)
    if dt not in _FLOATS:
        raise ctx.unsupported(f"AffineGrid of {dt.name} theta")
    size_shape, theta_shape = ctx.shape(size), ctx.shape(theta)
    k = None
    if size_shape is not None and len(size_shape) == 1 and isinstance(size_shape[0], int):
        k = size_shape[0] - 2
    elif theta_shape is not None and len(theta_shape) == 3 and isinstance(theta_shape[1], int):
        k = theta_shape[1]
    if k not in (2, 3):
        raise ctx.unsupported("AffineGrid needs a size of known length 4 or 5 "
                              "(or theta [N, 2, 3] / [N, 3, 4])")
    sizes = i64_input(ctx, size)
    dims = [gather(ctx, sizes, ctx.i64(2 + d, "axis"), 0) for d in range(k)]
    rows = _base_grid(ctx, dims, bool(int(node.attr("align_corners", 0))))
    out = op(ctx, "BatchMatMulV2", [cast(ctx, theta, F64), rows], F64, T=F64, adj_x=False, adj_y=True)
    out = op(ctx, "Transpose", [out, ctx.i64([0, 2, 1], "perm")], F64, T=F64, Tperm=I64)  # [N, prod, k]
    batch = op(ctx, "Slice", [shape_of(ctx, theta), ctx.i64([0], "begin"), ctx.i64([1], "size")], I64,
               T=I64, Index=I64)
    target = concat(ctx, [batch, op(ctx, "Pack", dims, I64, T=I64, N=k, axis=0), ctx.i64([k], "k")], 0)
    return [cast(ctx, reshape(ctx, out, target), dt)]
