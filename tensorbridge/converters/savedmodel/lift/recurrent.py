"""Lift: RNN, GRU and LSTM (opset 14/22 semantics: every direction, layout, activation, clip,
sequence_lens, initial state, peephole, GRU linear_before_reset and LSTM input_forget).

Per direction the input projection of every step is one BatchMatMulV2 of X [T, B, I] with W^T
(a constant transposed here when W is constant; a runtime W is multiplied transposed) plus the
biases that can be added up front; each step then multiplies the state with R^T and applies the
cell (_rnn_cells.py). The reverse direction runs the steps backwards. How the steps run:

- a sequence length known when converting, up to UNROLL_LIMIT: unrolled (the projections
  Unpacked into the T steps);
- otherwise an LSTM with the default activations and no clip nor input_forget, in float32: TF's
  BlockLSTMV2 (gates [ifco], no forget bias, cell_clip 0 = none), which takes any length (a
  While measured 1.4-3x slower on small and mid sizes, as exact);
- every other cell: a StatelessWhile over the steps running the same step function
  (_rnn_loop.py), its outputs equal to the unrolled path's.

sequence_lens (as onnxruntime): a batch entry runs its first ``len`` steps (the reverse direction
runs them backwards: ReverseSequence); Y is zero past ``len``; Y_h and Y_c are the states after
step ``len - 1``, zero for ``len = 0``. The steps past ``len`` are computed and then dropped:
the final state is picked from the stacked states with a mask (SelectV2 + Sum), not gathered.
Half-precision inputs are computed in float32 and rounded once at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import str_attr
from ._rnn_cells import STEPS, Act, Cell, Mat, Ops, parse_activations
from ._rnn_loop import run_loop
from .array import op

D = ir.DType
I32 = D.INT32
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_DEFAULT_ACTS = {"RNN": ("Tanh",), "GRU": ("Sigmoid", "Tanh"), "LSTM": ("Sigmoid", "Tanh", "Tanh")}
_BLOCK_ACTS = (Act("sigmoid"), Act("tanh"), Act("tanh"))
_COMPUTE = {D.FLOAT: D.FLOAT, D.DOUBLE: D.DOUBLE, D.FLOAT16: D.FLOAT, D.BFLOAT16: D.FLOAT}
UNROLL_LIMIT = 128  # longer static sequences run in a loop, not as T copies of the step
USE_BLOCK_LSTM = True  # LSTMs that BlockLSTMV2 runs exactly use it rather than a While
X_IN, W_IN, R_IN, B_IN, LENS_IN, H0_IN, C0_IN, P_IN = range(8)


@dataclass(frozen=True)
class Spec:
    kind: str  # RNN, GRU or LSTM
    hidden: int
    reverse: tuple[bool, ...]  # per direction
    acts: tuple[tuple[Act, ...], ...]  # per direction
    clip: float | None
    layout: int
    t: ir.DType  # the compute type
    steps: int | None  # the sequence length, when static
    lbr: bool = False
    input_forget: bool = False

    @property
    def gh(self) -> int:
        return _GATES[self.kind] * self.hidden


@TF_LIFT.register("RNN")
def lift_rnn(ctx: LiftContext, node: ir.Node) -> list[ir.Value | None]:
    return _lift(ctx, node, "RNN")


@TF_LIFT.register("GRU")
def lift_gru(ctx: LiftContext, node: ir.Node) -> list[ir.Value | None]:
    return _lift(ctx, node, "GRU")


@TF_LIFT.register("LSTM")
def lift_lstm(ctx: LiftContext, node: ir.Node) -> list[ir.Value | None]:
    return _lift(ctx, node, "LSTM")


# ---- reading the node ----------------------------------------------------------------------------
def _parse(ctx: LiftContext, node: ir.Node, kind: str) -> Spec:
    x, r = node.inputs[X_IN], node.inputs[R_IN]
    src = ctx.dtype(x)
    if src not in _COMPUTE:
        raise ctx.unsupported(f"{kind} on {src}: ONNX defines it on floating types only")
    direction = str_attr(ctx, node, "direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ctx.unsupported(f"unknown direction {direction!r}")
    reverse = {"forward": (False,), "reverse": (True,), "bidirectional": (False, True)}[direction]
    hidden = ctx.attr(node, "hidden_size")
    if hidden is None and r.shape is not None and isinstance(r.shape[-1], int):
        hidden = r.shape[-1]
    if hidden is None:
        raise ctx.unsupported("the hidden size is unknown (no hidden_size, R of unknown shape)")
    layout = int(ctx.attr(node, "layout", 0))
    steps = x.shape[layout] if x.shape is not None and len(x.shape) == 3 else None
    clip = ctx.attr(node, "clip")
    return Spec(kind, int(hidden), reverse, _activations(ctx, node, kind, len(reverse)),
                None if clip is None else float(clip), layout, _COMPUTE[src],
                steps if isinstance(steps, int) else None, bool(ctx.attr(node, "linear_before_reset", 0)),
                bool(ctx.attr(node, "input_forget", 0)))


def _activations(ctx: LiftContext, node: ir.Node, kind: str, dirs: int) -> tuple[tuple[Act, ...], ...]:
    n = len(_DEFAULT_ACTS[kind])
    names = [v.decode() if isinstance(v, bytes) else str(v)
             for v in ctx.attr(node, "activations", _DEFAULT_ACTS[kind] * dirs)]
    if len(names) != n * dirs:
        raise ctx.unsupported(f"{len(names)} activations given; {kind} with {dirs} direction(s) "
                              f"takes {n * dirs}")
    try:
        acts = parse_activations(names, ctx.attr(node, "activation_alpha", ()),
                                 ctx.attr(node, "activation_beta", ()))
    except KeyError as e:
        raise ctx.unsupported(f"unknown activation function {e.args[0]!r}") from None
    return tuple(tuple(acts[d * n:(d + 1) * n]) for d in range(dirs))


def _block_ok(s: Spec) -> bool:
    """BlockLSTMV2 computes this LSTM exactly."""
    plain = all(a == _BLOCK_ACTS for a in s.acts)
    return s.kind == "LSTM" and plain and s.clip is None and not s.input_forget and s.t is D.FLOAT


def _wanted(node: ir.Node, i: int) -> bool:
    return i < len(node.outputs) and (node.outputs[i].has_uses() or node.outputs[i].is_graph_output)


# ---- weights ---------------------------------------------------------------------------------------
def _part(ctx: LiftContext, v: ir.Value, d: int, a: int, b: int, t: ir.DType) -> ir.Value:
    """``v[d, a:b]`` of a W, R ([D, rows, cols]), B or P ([D, n]) input, in ``t``."""
    arr = ctx.constant_value(v)
    if arr is not None:
        return ctx.const(np.ascontiguousarray(arr[d, a:b]).astype(t.numpy), "w")
    rank = 3 if any(v is ctx.node.inputs[i] for i in (W_IN, R_IN)) else 2
    rest = [0] * (rank - 2)
    part = ctx.tf("StridedSlice", [v, ctx.i32([d, a, *rest], "begin"), ctx.i32([d + 1, b, *rest], "end"),
                                   ctx.i32([1] * rank, "strides")],
                  T=ctx.dtype(v), Index=I32, begin_mask=0, end_mask=(1 << rank) - 4 if rank > 2 else 0,
                  ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=1, types=[ir.TensorType(ctx.dtype(v))])
    return ctx.cast(part, t)


def _mat(ctx: LiftContext, v: ir.Value, d: int, a: int, b: int, t: ir.DType) -> Mat:
    """``v[d, a:b]`` to multiply with from the right: transposed here when constant."""
    arr = ctx.constant_value(v)
    if arr is not None:
        return Mat(ctx.const(np.ascontiguousarray(arr[d, a:b].T).astype(t.numpy), "w_t"), False)
    return Mat(_part(ctx, v, d, a, b, t), True)


def _bias(ctx: LiftContext, node: ir.Node, s: Spec, d: int, a: int, b: int, with_r: bool):
    """Wb[a:b] (+ Rb[a:b]) of direction ``d``; None without B."""
    v = ctx.input(node, B_IN)
    if v is None:
        return None
    arr = ctx.constant_value(v)
    if arr is not None:
        wb = arr[d, a:b].astype(s.t.numpy)
        return ctx.const(wb + arr[d, s.gh + a:s.gh + b].astype(s.t.numpy) if with_r else wb, "bias")
    wb = _part(ctx, v, d, a, b, s.t)
    if not with_r:
        return wb
    return op(ctx, "AddV2", [wb, _part(ctx, v, d, s.gh + a, s.gh + b, s.t)], s.t, T=s.t)


def _cell(ctx: LiftContext, node: ir.Node, s: Spec, d: int) -> Cell:
    r, h, t = node.inputs[R_IN], s.hidden, s.t
    cell = Cell(s.acts[d], s.clip, [_mat(ctx, r, d, 0, s.gh, t)], lbr=s.lbr, input_forget=s.input_forget)
    if s.kind == "GRU":
        cell.recur = [_mat(ctx, r, d, 0, 2 * h, t), _mat(ctx, r, d, 2 * h, 3 * h, t)]
        b = ctx.input(node, B_IN)
        if s.lbr and b is not None:
            cell.hidden_bias = _part(ctx, b, d, 5 * h, 6 * h, t)
    p = ctx.input(node, P_IN)
    if s.kind == "LSTM" and p is not None:
        cell.peepholes = [_part(ctx, p, d, k * h, (k + 1) * h, t) for k in range(3)]
    return cell


def _state(ctx: LiftContext, node: ir.Node, i: int, d: int, s: Spec, zeros: ir.Value) -> ir.Value:
    """Direction ``d`` of initial_h/initial_c ([D, B, H], layout 1: [B, D, H]); zeros if absent."""
    v = ctx.input(node, i)
    if v is None:
        return zeros
    arr = ctx.constant_value(v)
    if arr is not None:
        return ctx.const(np.take(arr, d, axis=s.layout).astype(s.t.numpy), "state")
    dt = ctx.dtype(v)
    g = op(ctx, "GatherV2", [v, ctx.i32(d, "dir"), ctx.i32(s.layout, "axis")], dt, Tparams=dt,
           Tindices=I32, Taxis=I32, batch_dims=0)
    return ctx.cast(g, s.t)


# ---- inputs ----------------------------------------------------------------------------------------
def _time_major(ctx: LiftContext, o: Ops, node: ir.Node, s: Spec) -> ir.Value:
    """X as [T, B, I] in the compute type."""
    x = ctx.cast(node.inputs[X_IN], s.t)
    if s.layout == 0:
        return x
    return o("Transpose", x, ctx.i32([1, 0, 2], "perm"), Tperm=I32)


def _steps_of(ctx: LiftContext, x: ir.Value, s: Spec) -> ir.Value:
    """The sequence length as an int32 scalar."""
    if s.steps is not None:
        return ctx.i32(s.steps, "steps")
    shape = op(ctx, "Shape", [x], I32, T=s.t, out_type=I32)
    return op(ctx, "StridedSlice", [shape, ctx.i32([0], "b"), ctx.i32([1], "e"), ctx.i32([1], "s")], I32,
              T=I32, Index=I32, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
              shrink_axis_mask=1)


def _zeros(ctx: LiftContext, x: ir.Value, s: Spec) -> ir.Value:
    """A zero [B, H] state."""
    batch = x.shape[1] if x.shape is not None else None
    if isinstance(batch, int):
        return ctx.const(np.zeros((batch, s.hidden), s.t.numpy), "zeros")
    shape = op(ctx, "Shape", [x], I32, T=s.t, out_type=I32)
    b = op(ctx, "StridedSlice", [shape, ctx.i32([1], "b"), ctx.i32([2], "e"), ctx.i32([1], "s")], I32,
           T=I32, Index=I32, begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0)
    dims = op(ctx, "ConcatV2", [b, ctx.i32([s.hidden], "hidden"), ctx.i32(0, "axis")], I32, T=I32, N=2,
              Tidx=I32)
    return op(ctx, "Fill", [dims, ctx.const(np.zeros((), s.t.numpy), "zero")], s.t, T=s.t, index_type=I32)


@dataclass(frozen=True)
class Lens:
    """sequence_lens ([B] int32) and the masks it makes over the stacked [T, B, H] steps."""

    lens: ir.Value
    valid: ir.Value  # [T, B, 1]: t < len
    last: ir.Value  # [T, B, 1]: t == len - 1


def _lens(ctx: LiftContext, node: ir.Node, s: Spec, x: ir.Value) -> Lens | None:
    """None without sequence_lens, or when it is a constant of full lengths."""
    v = ctx.input(node, LENS_IN)
    if v is None:
        return None
    arr = ctx.constant_value(v)
    if arr is not None and s.steps is not None and bool(np.all(arr == s.steps)):
        return None
    lens = ctx.cast(v, I32)
    one = ctx.i32(1, "one")
    t_idx = op(ctx, "Range", [ctx.i32(0, "zero"), _steps_of(ctx, x, s), one], I32, Tidx=I32)
    t_col = op(ctx, "ExpandDims", [t_idx, one], I32, T=I32, Tdim=I32)

    def mask(name: str, bound: ir.Value) -> ir.Value:
        m = op(ctx, name, [t_col, bound], D.BOOL, T=I32)
        return op(ctx, "ExpandDims", [m, ctx.i32(-1, "last_axis")], D.BOOL, T=D.BOOL, Tdim=I32)

    return Lens(lens, mask("Less", lens), mask("Equal", op(ctx, "Sub", [lens, one], I32, T=I32)))


def _oriented(ctx: LiftContext, o: Ops, x: ir.Value, lens: Lens | None, rev: bool) -> tuple[ir.Value, bool]:
    """(the input a direction runs forwards on, whether its steps must still be run backwards):
    with sequence_lens the reverse direction runs on each entry's first len steps reversed."""
    if rev and lens is not None:
        return o("ReverseSequence", x, lens.lens, seq_dim=0, batch_dim=1, Tlen=I32), False
    return x, rev


# ---- running a direction ------------------------------------------------------------------------
def _unrolled(ctx: LiftContext, o: Ops, node: ir.Node, s: Spec, d: int, x: ir.Value, flip: bool,
              h: ir.Value, c: ir.Value) -> tuple[list[ir.Value], list[ir.Value]]:
    """The states after each step, in the order run."""
    per_step = list(zip(*(_unpack(ctx, s, p) for p in _projections(ctx, o, node, s, d, x))))
    cell, step = _cell(ctx, node, s, d), STEPS[s.kind]
    hs, cs = [], []
    for xt in reversed(per_step) if flip else per_step:
        h, c = step(o, cell, xt, h, c)
        hs.append(h)
        cs.append(c)
    return hs, cs


def _projections(ctx: LiftContext, o: Ops, node: ir.Node, s: Spec, d: int, x: ir.Value) -> list[ir.Value]:
    """The input projections [T, B, n] a step takes: all gates; GRU: z and r, then h (its Rb
    inside r * (...) with linear_before_reset)."""
    rows = [(0, s.gh, True)]  # W rows, whether Rb is added up front too
    if s.kind == "GRU":
        rows = [(0, 2 * s.hidden, True), (2 * s.hidden, s.gh, not s.lbr)]
    return [_project(ctx, o, node, s, d, x, *r) for r in rows]


def _project(ctx: LiftContext, o: Ops, node: ir.Node, s: Spec, d: int, x: ir.Value, a: int, b: int,
             with_r: bool) -> ir.Value:
    """x_t W[a:b]^T (+ biases) of every step, [T, B, b - a]."""
    w = _mat(ctx, node.inputs[W_IN], d, a, b, s.t)
    y = o("BatchMatMulV2", x, w.value, adj_x=False, adj_y=w.transposed)
    bias = _bias(ctx, node, s, d, a, b, with_r)
    return y if bias is None else o("AddV2", y, bias)


def _unpack(ctx: LiftContext, s: Spec, y: ir.Value) -> tuple[ir.Value, ...]:
    return ctx.tf_node("Unpack", [y], num_outputs=s.steps, T=s.t, num=s.steps, axis=0,
                       types=[ir.TensorType(s.t)] * s.steps).outputs


def _looped(ctx: LiftContext, o: Ops, node: ir.Node, s: Spec, d: int, x: ir.Value, flip: bool,
            h: ir.Value, c: ir.Value) -> tuple[ir.Value, ir.Value | None]:
    """The stacked states [T, B, H] (h, c) in the order run, from a While over the steps
    (_rnn_loop.py); c only when Y_c is read."""
    if flip:
        x = o("ReverseV2", x, ctx.i32([0], "axis"), Tidx=I32)
    keep_c = s.kind == "LSTM" and _wanted(node, 2)
    return run_loop(ctx, s.kind, s.t, s.hidden, _cell(ctx, node, s, d), _projections(ctx, o, node, s, d, x),
                    _steps_of(ctx, x, s), h, c, keep_c)


def _finish(ctx: LiftContext, o: Ops, steps, lens: Lens | None, rev: bool, flip: bool,
            want_y: bool) -> tuple[ir.Value | None, ir.Value]:
    """(the direction's Y [T, B, H] in time order or None, its final state [B, H]) from its
    states in the order run: a list (unrolled) or stacked [T, B, H] (BlockLSTMV2, While)."""
    unrolled = isinstance(steps, list)
    if lens is None:
        if unrolled:
            y = o("Pack", *(steps[::-1] if flip else steps), N=len(steps), axis=0) if want_y else None
            return y, steps[-1]
        last = o("StridedSlice", steps, ctx.i32([-1], "b"), ctx.i32([0], "e"), ctx.i32([1], "s"), Index=I32,
                 begin_mask=0, end_mask=1, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=1)
        y = o("ReverseV2", steps, ctx.i32([0], "axis"), Tidx=I32) if flip and want_y else steps
        return y, last
    stack = o("Pack", *steps, N=len(steps), axis=0) if unrolled else steps
    zero = o.k(0.0)
    last = o("Sum", o("SelectV2", lens.last, stack, zero), ctx.i32(0, "axis"), Tidx=I32, keep_dims=False)
    if not want_y:
        return None, last
    if rev:
        stack = o("ReverseSequence", stack, lens.lens, seq_dim=0, batch_dim=1, Tlen=I32)
    return o("SelectV2", lens.valid, stack, zero), last


def _block(ctx: LiftContext, o: Ops, node: ir.Node, s: Spec, d: int, x: ir.Value, flip: bool,
           h: ir.Value, c: ir.Value) -> tuple[ir.Value, ir.Value]:
    """The stacked states [T, B, H] (h, c) of BlockLSTMV2 over the whole sequence."""
    if flip:
        x = o("ReverseV2", x, ctx.i32([0], "axis"), Tidx=I32)
    hid, t = s.hidden, s.t
    ifco = np.concatenate([np.arange(0, hid), np.arange(2 * hid, 4 * hid), np.arange(hid, 2 * hid)])
    w = _gather_rows(ctx, o, [_part(ctx, node.inputs[i], d, 0, s.gh, t) for i in (W_IN, R_IN)], ifco, True)
    b = _bias(ctx, node, s, d, 0, s.gh, True)
    b = ctx.const(np.zeros(s.gh, t.numpy), "bias") if b is None else _gather_rows(ctx, o, [b], ifco, False)
    p = ctx.input(node, P_IN)
    zero_h = ctx.const(np.zeros(hid, t.numpy), "no_peephole")
    peep = [zero_h] * 3 if p is None else [_part(ctx, p, d, k * hid, (k + 1) * hid, t) for k in range(3)]
    wci, wco, wcf = peep
    seq_len = ctx.cast(_steps_of(ctx, x, s), D.INT64)
    outs = ctx.tf_node("BlockLSTMV2", [seq_len, x, c, h, w, wci, wcf, wco, b], num_outputs=7, T=t,
                       cell_clip=0.0, use_peephole=p is not None, types=[ir.TensorType(t)] * 7).outputs
    return outs[6], outs[1]


def _gather_rows(ctx: LiftContext, o: Ops, parts: list[ir.Value], rows: np.ndarray, transpose: bool):
    """The parts joined along their last axis, rows reordered (and transposed)."""
    arrs = [ctx.constant_value(p) for p in parts]
    if all(a is not None for a in arrs):
        joined = np.concatenate(arrs, axis=-1)[rows]
        return ctx.const(np.ascontiguousarray(joined.T if transpose else joined), "w")
    joined = parts[0]
    if len(parts) > 1:
        joined = o("ConcatV2", *parts, ctx.i32(-1, "axis"), N=len(parts), Tidx=I32)
    g = o("GatherV2", joined, ctx.i32(rows, "rows"), ctx.i32(0, "axis"), Tparams=o.t, Tindices=I32,
          Taxis=I32, batch_dims=0)
    return o("Transpose", g, ctx.i32([1, 0], "perm"), Tperm=I32) if transpose else g


# ---- the node ---------------------------------------------------------------------------------------
def _lift(ctx: LiftContext, node: ir.Node, kind: str) -> list[ir.Value | None]:
    s = _parse(ctx, node, kind)
    if s.steps == 0:
        raise ctx.unsupported("an empty sequence (sequence length 0)")
    o = Ops(ctx, s.t)
    x = _time_major(ctx, o, node, s)
    lens, zeros = _lens(ctx, node, s, x), _zeros(ctx, x, s)
    want_y, want_c = _wanted(node, 0), kind == "LSTM" and _wanted(node, 2)
    ys, hs, cs = [], [], []
    for d, rev in enumerate(s.reverse):
        xd, flip = _oriented(ctx, o, x, lens, rev)
        h0 = _state(ctx, node, H0_IN, d, s, zeros)
        c0 = _state(ctx, node, C0_IN, d, s, zeros) if kind == "LSTM" else None
        h_steps, c_steps = _runner(s)(ctx, o, node, s, d, xd, flip, h0, c0)
        y, h = _finish(ctx, o, h_steps, lens, rev, flip, want_y)
        ys.append(y)
        hs.append(h)
        if want_c:
            cs.append(_finish(ctx, o, c_steps, lens, rev, flip, False)[1])
    return _outputs(ctx, o, node, s, ys if want_y else None, hs, cs or None)


def _runner(s: Spec):
    """How the steps run: unrolled, BlockLSTMV2 or a While (see the module doc)."""
    if s.steps is not None and s.steps <= UNROLL_LIMIT:
        return _unrolled
    return _block if USE_BLOCK_LSTM and _block_ok(s) else _looped


def _outputs(ctx: LiftContext, o: Ops, node: ir.Node, s: Spec, ys, hs, cs) -> list[ir.Value | None]:
    """Y [T, D, B, H] (layout 1: [B, T, D, H]), Y_h and Y_c [D, B, H] (layout 1: [B, D, H]),
    in the input's type."""
    src = ctx.dtype(node.inputs[X_IN])
    outs: list[ir.Value | None] = [None] * len(node.outputs)
    if ys is not None:
        y = o("Pack", *ys, N=len(ys), axis=1)
        if s.layout:
            y = o("Transpose", y, ctx.i32([2, 0, 1, 3], "perm"), Tperm=I32)
        outs[0] = ctx.cast(y, src)
    for i, states in ((1, hs), (2, cs)):
        if states is not None and _wanted(node, i):
            outs[i] = ctx.cast(o("Pack", *states, N=len(states), axis=s.layout), src)
    return outs
