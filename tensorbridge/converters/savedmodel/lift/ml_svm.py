"""Lift: SVMRegressor (ai.onnx.ml), as skl2onnx emits it for scikit-learn's SVR, NuSVR and
OneClassSVM.

score = sum_j coefficients[j] * K(x, support_vector[j]) + rho, with K one of LINEAR (x.v),
POLY ((gamma x.v + coef0)^degree), SIGMOID (tanh(gamma x.v + coef0)) and RBF
(exp(-gamma |x - v|^2), the squared distance summed from the differences, as the reference
does, not expanded); without support vectors, score = x . coefficients + rho. one_class maps
the score to +1 / -1 (score > 0). SVMClassifier (one-vs-one votes, Platt probabilities) is
not lifted.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import LiftContext
from .array import I64, binary, op, select
from .ml import F32, array_attr, register, rows, text


def _matmul(ctx: LiftContext, a: ir.Value, b: np.ndarray, name: str) -> ir.Value:
    return op(ctx, "MatMul", [a, ctx.const(np.ascontiguousarray(b, np.float32), name)], F32, T=F32,
              transpose_a=False, transpose_b=False)


def _kernel(ctx: LiftContext, x: ir.Value, sv: np.ndarray, kind: str, params: np.ndarray) -> ir.Value:
    """[N, S] kernel values of every row of ``x`` with every support vector."""
    gamma, coef0, degree = (float(params[i]) if params is not None and len(params) > i else 0.0
                            for i in range(3))
    if kind == "RBF":
        diff = binary(ctx, "Sub", op(ctx, "ExpandDims", [x, ctx.i64(1, "axis")], F32, T=F32, Tdim=I64),
                      ctx.const(sv[None].astype(np.float32), "support_vectors"))
        dist = op(ctx, "Sum", [op(ctx, "Square", [diff], F32, T=F32), ctx.i64(2, "axis")], F32, T=F32,
                  Tidx=I64, keep_dims=False)
        scaled = binary(ctx, "Mul", dist, ctx.const(np.float32(-gamma), "neg_gamma"))
        return op(ctx, "Exp", [scaled], F32, T=F32)
    dot = _matmul(ctx, x, sv.T, "support_vectors")
    if kind == "LINEAR":
        return dot
    z = binary(ctx, "AddV2", binary(ctx, "Mul", dot, ctx.const(np.float32(gamma), "gamma")),
               ctx.const(np.float32(coef0), "coef0"))
    if kind == "SIGMOID":
        return op(ctx, "Tanh", [z], F32, T=F32)
    if kind == "POLY":
        return binary(ctx, "Pow", z, ctx.const(np.float32(int(degree)), "degree"))
    raise ctx.unsupported(f"kernel_type {kind!r}")


@register("SVMRegressor")
def lift_svm_regressor(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    if text(node.attr("post_transform", "NONE")) != "NONE":
        raise ctx.unsupported("post_transform other than NONE")
    x = rows(ctx, node.inputs[0])
    coef = array_attr(node, "coefficients", np.float32)
    rho = array_attr(node, "rho", np.float32)
    n_sv = int(node.attr("n_supports", 0))
    if n_sv > 0:
        sv = array_attr(node, "support_vectors", np.float32).reshape(n_sv, -1)
        k = _kernel(ctx, x, sv, text(node.attr("kernel_type", "LINEAR")).upper(),
                    array_attr(node, "kernel_params", np.float64))
        score = _matmul(ctx, k, coef.reshape(-1, 1), "coefficients")
    else:
        score = _matmul(ctx, x, coef.reshape(-1, 1), "coefficients")
    bias = np.float32(rho[0] if rho is not None and rho.size else 0)
    score = binary(ctx, "AddV2", score, ctx.const(bias, "rho"))
    if int(node.attr("one_class", 0)):
        pos = binary(ctx, "Greater", score, ctx.const(np.float32(0), "zero"))
        score = select(ctx, pos, ctx.const(np.ones((1, 1), np.float32), "plus"),
                       ctx.const(-np.ones((1, 1), np.float32), "minus"))
    return [score]
