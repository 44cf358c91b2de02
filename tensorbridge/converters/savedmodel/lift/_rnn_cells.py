"""One time step of ONNX's RNN, GRU and LSTM cells as TF ops, and their activation functions
(helpers of recurrent.py).

A step gets the input projections of its time step (``x_t W^T`` plus the biases that can be
added up front, computed for all steps at once by recurrent.py) and the previous state, and
returns the new state. ``clip`` bounds every gate's pre-activation (after the biases and the
peephole terms), as onnxruntime does; the LSTM cell state itself is not clipped.

Activations take ``alpha``/``beta`` as onnxruntime reads ``activation_alpha``/``_beta``: in
order, one value per function that uses it; a function past the end of the list takes its
default (LeakyRelu 0.01, HardSigmoid 0.2 and 0.5, Elu 1.0, every other one 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tensorbridge import ir

from ._context import LiftContext
from .array import op

BOOL = ir.DType.BOOL
# lower-case name -> (uses alpha, uses beta)
_USES = {"relu": (False, False), "tanh": (False, False), "sigmoid": (False, False),
         "affine": (True, True), "leakyrelu": (True, False), "thresholdedrelu": (True, False),
         "scaledtanh": (True, True), "hardsigmoid": (True, True), "elu": (True, False),
         "softsign": (False, False), "softplus": (False, False)}
_DEFAULTS = {"leakyrelu": (0.01, 0.0), "hardsigmoid": (0.2, 0.5), "elu": (1.0, 0.0)}
_UNARY = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid", "softsign": "Softsign",
          "softplus": "Softplus"}


@dataclass(frozen=True)
class Act:
    name: str  # lower case
    alpha: float = 0.0
    beta: float = 0.0


def parse_activations(names: Sequence[str], alphas: Sequence[float], betas: Sequence[float]) -> list[Act]:
    """The functions with their alpha/beta (onnxruntime's reading, see the module doc);
    raises KeyError naming an unknown function."""
    alphas, betas = list(alphas), list(betas)
    acts = []
    for name in names:
        key = name.lower()
        if key not in _USES:
            raise KeyError(name)
        (use_a, use_b), (da, db) = _USES[key], _DEFAULTS.get(key, (0.0, 0.0))
        a = (alphas.pop(0) if alphas else da) if use_a else 0.0
        b = (betas.pop(0) if betas else db) if use_b else 0.0
        acts.append(Act(key, float(a), float(b)))
    return acts


@dataclass(frozen=True)
class Mat:
    """A weight matrix to multiply with: ``[in, out]``, or ``[out, in]`` when ``transposed``
    (a runtime weight: MatMul transposes it)."""

    value: ir.Value
    transposed: bool


@dataclass
class Cell:
    """One direction's recurrence: the weights a step multiplies the state with and the rest
    of the cell's parameters (in the compute type)."""

    acts: Sequence[Act]
    clip: float | None
    recur: Sequence[Mat]  # RNN, LSTM: [R^T]; GRU: [R_zr^T, R_h^T]
    hidden_bias: ir.Value | None = None  # GRU linear_before_reset: Rb_h
    peepholes: Sequence[ir.Value] | None = None  # LSTM: p_i, p_o, p_f
    lbr: bool = False
    input_forget: bool = False


# ---- arithmetic ------------------------------------------------------------------------------
class Ops:
    """TF ops of one element type ``t`` (``T`` = t), with each scalar constant made once."""

    def __init__(self, ctx: LiftContext, t: ir.DType) -> None:
        self.ctx, self.t = ctx, t
        self._scalars: dict[float, ir.Value] = {}
        self._axis1: ir.Value | None = None

    def __call__(self, name: str, *inputs: ir.Value, out: ir.DType | None = None, **attrs) -> ir.Value:
        return op(self.ctx, name, list(inputs), out or self.t, T=self.t, **attrs)

    def k(self, value: float) -> ir.Value:
        """A scalar constant of type ``t``."""
        if value not in self._scalars:
            self._scalars[value] = self.ctx.const(np.asarray(value, self.t.numpy), "c")
        return self._scalars[value]

    def matmul(self, x: ir.Value, w: Mat) -> ir.Value:
        return self("MatMul", x, w.value, transpose_a=False, transpose_b=w.transposed)

    def split(self, x: ir.Value, n: int) -> tuple[ir.Value, ...]:
        """``x`` [B, n * H] as n [B, H] parts."""
        if self._axis1 is None:
            self._axis1 = self.ctx.i32(1, "axis")
        return self.ctx.tf_node("Split", [self._axis1, x], num_outputs=n, T=self.t,
                                num_split=n, types=[ir.TensorType(self.t)] * n).outputs

    def clip(self, x: ir.Value, bound: float | None) -> ir.Value:
        return x if bound is None else self("ClipByValue", x, self.k(-bound), self.k(bound))


def activate(o: Ops, act: Act, x: ir.Value) -> ir.Value:
    """ONNX's RNN activation ``act`` of ``x`` (formulas of the RNN/GRU/LSTM spec)."""
    if act.name in _UNARY:
        return o(_UNARY[act.name], x)
    if act.name == "leakyrelu":
        return o("LeakyRelu", x, alpha=act.alpha)
    if act.name == "thresholdedrelu":  # x > alpha ? x : 0, as the ThresholdedRelu op
        return o("SelectV2", o("Greater", x, o.k(act.alpha), out=BOOL), x, o.k(0.0))
    if act.name == "elu":  # x >= 0 ? x : alpha * (exp(x) - 1)
        neg = o("Mul", o("Expm1", x), o.k(act.alpha))
        return o("SelectV2", o("GreaterEqual", x, o.k(0.0), out=BOOL), x, neg)
    if act.name == "scaledtanh":  # alpha * tanh(beta * x)
        return o("Mul", o("Tanh", o("Mul", x, o.k(act.beta))), o.k(act.alpha))
    y = o("AddV2", o("Mul", x, o.k(act.alpha)), o.k(act.beta))  # affine: alpha * x + beta
    if act.name == "hardsigmoid":  # min(max(alpha * x + beta, 0), 1)
        y = o("ClipByValue", y, o.k(0.0), o.k(1.0))
    return y


# ---- the cells ---------------------------------------------------------------------------------
def rnn_step(o: Ops, cell: Cell, xt: Sequence[ir.Value], h: ir.Value, c=None):
    """H = f(clip(x W^T + H R^T + Wb + Rb))."""
    g = o("AddV2", xt[0], o.matmul(h, cell.recur[0]))
    return activate(o, cell.acts[0], o.clip(g, cell.clip)), None


def gru_step(o: Ops, cell: Cell, xt: Sequence[ir.Value], h: ir.Value, c=None):
    """z, r = f(x W_zr^T + H R_zr^T + biases); with linear_before_reset
    h~ = g(x W_h^T + r * (H R_h^T + Rb_h) + Wb_h), else g(x W_h^T + (r * H) R_h^T + Wb_h + Rb_h);
    H' = (1 - z) * h~ + z * H."""
    f, g = cell.acts[0], cell.acts[1]
    zr = o("AddV2", xt[0], o.matmul(h, cell.recur[0]))
    z, r = o.split(activate(o, f, o.clip(zr, cell.clip)), 2)
    if cell.lbr:
        hr = o.matmul(h, cell.recur[1])
        if cell.hidden_bias is not None:
            hr = o("AddV2", hr, cell.hidden_bias)
        pre = o("AddV2", xt[1], o("Mul", r, hr))
    else:
        pre = o("AddV2", xt[1], o.matmul(o("Mul", r, h), cell.recur[1]))
    cand = activate(o, g, o.clip(pre, cell.clip))
    keep = o("Mul", o("Sub", o.k(1.0), z), cand)
    return o("AddV2", keep, o("Mul", z, h)), None


def _peep(o: Ops, cell: Cell, gate: ir.Value, k: int, state: ir.Value) -> ir.Value:
    """clip(gate + p_k * state) (without peepholes the gates were clipped together)."""
    if cell.peepholes is None:
        return gate
    return o.clip(o("AddV2", gate, o("Mul", cell.peepholes[k], state)), cell.clip)


def lstm_step(o: Ops, cell: Cell, xt: Sequence[ir.Value], h: ir.Value, c: ir.Value):
    """Gates [iofc]: i = f(.. + P_i C), f = f(.. + P_f C) (1 - i with input_forget),
    C' = f C + i g(c), o = f(.. + P_o C'), H' = o h(C')."""
    fa, ga, ha = cell.acts
    gates = o("AddV2", xt[0], o.matmul(h, cell.recur[0]))
    if cell.peepholes is None:
        gates = o.clip(gates, cell.clip)
    i, og, f, cc = o.split(gates, 4)
    i = activate(o, fa, _peep(o, cell, i, 0, c))
    if cell.input_forget:
        f = o("Sub", o.k(1.0), i)
    else:
        f = activate(o, fa, _peep(o, cell, f, 2, c))
    cc = activate(o, ga, cc if cell.peepholes is None else o.clip(cc, cell.clip))
    c2 = o("AddV2", o("Mul", f, c), o("Mul", i, cc))
    og = activate(o, fa, _peep(o, cell, og, 1, c2))
    return o("Mul", og, activate(o, ha, c2)), c2


STEPS = {"RNN": rnn_step, "GRU": gru_step, "LSTM": lstm_step}
