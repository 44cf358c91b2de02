"""Lift: the optimizer steps of ai.onnx.preview.training (Momentum, Adagrad, Adam).

Each is deterministic arithmetic on its inputs ``R`` (learning rate), ``T`` (iteration count,
int64) and n groups of tensors (X..., G..., state...), updated group by group with the same
scalars; outputs are the n new X's then each state kind's n new values. The scalar factors that
depend on R and T (Adagrad's decayed rate, Adam's bias correction, Momentum's first-step
``beta``) are computed once in float64, as the ONNX reference does in numpy, then cast to the
tensors' type. Gradient (autodiff of the enclosing graph) is not a node-local computation and
has no lifting.
"""

from __future__ import annotations

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import scalar, typed_op

D = ir.DType
DOMAIN = "ai.onnx.preview.training"
F64 = D.DOUBLE


def _mul(ctx: LiftContext, a: ir.Value, b: ir.Value, t: ir.DType) -> ir.Value:
    return typed_op(ctx, "Mul", [a, b], t)


def _add(ctx: LiftContext, a: ir.Value, b: ir.Value, t: ir.DType) -> ir.Value:
    return typed_op(ctx, "AddV2", [a, b], t)


def _groups(ctx: LiftContext, node: ir.Node, per_group: int) -> tuple[list[list[ir.Value]], ir.DType]:
    """The tensor inputs split into ``per_group`` lists of n (X's, G's, ...) and their type."""
    tensors = list(node.inputs[2:])
    n, rest = divmod(len(tensors), per_group)
    if n == 0 or rest or len(node.outputs) != n * (per_group - 1):
        raise ctx.unsupported(f"{node.op_type} expects {per_group} groups of tensors after R and T")
    if any(v is None for v in tensors):
        raise ctx.unsupported(f"{node.op_type} takes no omitted inputs")
    t = ctx.dtype(tensors[0])
    if t not in (D.FLOAT, D.DOUBLE) or any(ctx.dtype(v) is not t for v in tensors):
        raise ctx.unsupported(f"{node.op_type} needs float or double tensors of one type")
    return [tensors[i * n:(i + 1) * n] for i in range(per_group)], t


def _r_t(ctx: LiftContext, node: ir.Node) -> tuple[ir.Value, ir.Value]:
    """R and T as float64 scalars."""
    return ctx.cast(ctx.input(node, 0), F64), ctx.cast(ctx.input(node, 1), F64)


def _regularized(ctx: LiftContext, x: ir.Value, g: ir.Value, coeff: float, t: ir.DType) -> ir.Value:
    """norm_coefficient * X + G."""
    scaled = _mul(ctx, scalar(ctx, coeff, t, "norm_coefficient"), x, t)
    return typed_op(ctx, "AddV2", [scaled, g], t, x.shape)


def _first_step_select(ctx: LiftContext, step: ir.Value, later: ir.Value, first: ir.Value) -> ir.Value:
    """``later`` when T > 0, else ``first`` (float64 scalars)."""
    pos = ctx.tf("Greater", [step, scalar(ctx, 0.0, F64, "zero")], T=F64, types=[ir.TensorType(D.BOOL, ())])
    return typed_op(ctx, "SelectV2", [pos, later, first], F64, ())


@TF_LIFT.register("Momentum", domain=DOMAIN)
def lift_momentum(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    (xs, gs, vs), t = _groups(ctx, node, 3)
    mode = node.attr("mode", "standard")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if mode not in ("standard", "nesterov"):
        raise ctx.unsupported(f"Momentum mode {mode!r}: ONNX defines 'standard' and 'nesterov'")
    alpha, beta = float(node.attr("alpha")), float(node.attr("beta"))
    coeff = float(node.attr("norm_coefficient"))
    r, step = _r_t(ctx, node)
    beta_adj = _first_step_select(ctx, step, scalar(ctx, beta, F64, "beta"), scalar(ctx, 1.0, F64, "one"))
    beta_adj = ctx.cast(beta_adj, t)
    rate, a = ctx.cast(r, t), scalar(ctx, alpha, t, "alpha")
    new_x, new_v = [], []
    for x, g, v in zip(xs, gs, vs):
        g_reg = _regularized(ctx, x, g, coeff, t)
        v_new = _add(ctx, _mul(ctx, a, v, t), _mul(ctx, beta_adj, g_reg, t), t)
        step_dir = v_new if mode == "standard" else _add(ctx, g_reg, _mul(ctx, a, v_new, t), t)
        new_x.append(typed_op(ctx, "Sub", [x, typed_op(ctx, "Mul", [rate, step_dir], t)], t, x.shape))
        new_v.append(v_new)
    return new_x + new_v


@TF_LIFT.register("Adagrad", domain=DOMAIN)
def lift_adagrad(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    (xs, gs, hs), t = _groups(ctx, node, 3)
    decay = float(node.attr("decay_factor", 0.0))
    eps, coeff = float(node.attr("epsilon", 1e-6)), float(node.attr("norm_coefficient", 0.0))
    r, step = _r_t(ctx, node)
    decayed = _mul(ctx, step, scalar(ctx, decay, F64, "decay"), F64)
    denom = _add(ctx, scalar(ctx, 1.0, F64, "one"), decayed, F64)
    rate = ctx.cast(typed_op(ctx, "RealDiv", [r, denom], F64, ()), t)
    new_x, new_h = [], []
    for x, g, h in zip(xs, gs, hs):
        g_reg = _regularized(ctx, x, g, coeff, t)
        h_new = typed_op(ctx, "AddV2", [h, typed_op(ctx, "Mul", [g_reg, g_reg], t)], t, x.shape)
        h_sqrt = typed_op(ctx, "AddV2", [typed_op(ctx, "Sqrt", [h_new], t), scalar(ctx, eps, t, "eps")], t)
        upd = typed_op(ctx, "RealDiv", [typed_op(ctx, "Mul", [rate, g_reg], t), h_sqrt], t)
        new_x.append(typed_op(ctx, "Sub", [x, upd], t, x.shape))
        new_h.append(h_new)
    return new_x + new_h


def _adam_rate(ctx: LiftContext, r: ir.Value, step: ir.Value, alpha: float, beta: float) -> ir.Value:
    """R * sqrt(1 - beta^T) / (1 - alpha^T) when T > 0, else R (float64)."""
    one = scalar(ctx, 1.0, F64, "one")

    def one_minus_pow(base: float) -> ir.Value:
        power = typed_op(ctx, "Pow", [scalar(ctx, base, F64, "base"), step], F64)
        return typed_op(ctx, "Sub", [one, power], F64)

    root = typed_op(ctx, "Sqrt", [one_minus_pow(beta)], F64)
    corr = typed_op(ctx, "RealDiv", [root, one_minus_pow(alpha)], F64)
    return _first_step_select(ctx, step, typed_op(ctx, "Mul", [r, corr], F64), r)


@TF_LIFT.register("Adam", domain=DOMAIN)
def lift_adam(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    (xs, gs, vs, hs), t = _groups(ctx, node, 4)
    alpha, beta = float(node.attr("alpha", 0.9)), float(node.attr("beta", 0.999))
    eps, coeff = float(node.attr("epsilon", 1e-6)), float(node.attr("norm_coefficient", 0.0))
    post = float(node.attr("norm_coefficient_post", 0.0))
    r, step = _r_t(ctx, node)
    rate = ctx.cast(_adam_rate(ctx, r, step, alpha, beta), t)
    a, b = scalar(ctx, alpha, t, "alpha"), scalar(ctx, beta, t, "beta")
    a1, b1 = scalar(ctx, 1 - alpha, t, "one_minus_alpha"), scalar(ctx, 1 - beta, t, "one_minus_beta")
    new_x, new_v, new_h = [], [], []
    for x, g, v, h in zip(xs, gs, vs, hs):
        g_reg = _regularized(ctx, x, g, coeff, t)
        v_new = typed_op(ctx, "AddV2", [_mul(ctx, a, v, t), _mul(ctx, a1, g_reg, t)], t, x.shape)
        sq = typed_op(ctx, "Mul", [g_reg, g_reg], t)
        h_new = typed_op(ctx, "AddV2", [_mul(ctx, b, h, t), _mul(ctx, b1, sq, t)], t, x.shape)
        h_sqrt = typed_op(ctx, "AddV2", [typed_op(ctx, "Sqrt", [h_new], t), scalar(ctx, eps, t, "eps")], t)
        moved = _mul(ctx, rate, typed_op(ctx, "RealDiv", [v_new, h_sqrt], t), t)
        x_new = typed_op(ctx, "Sub", [x, moved], t)
        if post:
            x_new = typed_op(ctx, "Mul", [scalar(ctx, 1 - post, t, "post"), x_new], t)
        new_x.append(x_new)
        new_v.append(v_new)
        new_h.append(h_new)
    return new_x + new_v + new_h
