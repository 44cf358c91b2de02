"""One direction of an RNN, GRU or LSTM as a ``StatelessWhile`` over the time steps (a helper of
recurrent.py, for a sequence length unknown when converting or too long to unroll).

recurrent.py computes the input projections of every step up front ([T, B, n] each, as the
unrolled path does) and the cell's weights; they enter the loop as loop-invariant variables, so a
runtime weight needs no capture and a constant one is not copied into the function. Iteration
``i`` reads row ``i`` of each projection (``GatherV2``), runs the very step function of
_rnn_cells.py that the unrolled path runs, and pushes the new states onto TensorLists, stacked
after the loop into the [T, B, H] states in the order run. The steps are run forwards: a direction
run backwards gets its input reversed first.

Loop variables: (i, T, h, [c], projections..., h list, [c list], cell weights...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from tensorbridge import ir

from ._context import LiftContext
from ._rnn_cells import STEPS, Cell, Mat, Ops
from ._subgraph import FnGraph
from .control import LIST, empty_list, stack_list, while_loop

I32, BOOL, VARIANT = ir.DType.INT32, ir.DType.BOOL, ir.DType.VARIANT
SCALAR_I32 = ir.TensorType(I32, ())


def _weights(cell: Cell) -> list[ir.Value]:
    """The cell's tensors, in the order :func:`_rebind` takes them back."""
    vals = [m.value for m in cell.recur]
    if cell.hidden_bias is not None:
        vals.append(cell.hidden_bias)
    return vals + list(cell.peepholes or ())


def _rebind(cell: Cell, vals: Sequence[ir.Value]) -> Cell:
    """``cell`` reading ``vals`` (the function's arguments) instead of its outer tensors."""
    it = iter(vals)
    recur = [Mat(next(it), m.transposed) for m in cell.recur]
    hidden_bias = next(it) if cell.hidden_bias is not None else None
    peep = [next(it) for _ in cell.peepholes] if cell.peepholes is not None else None
    return replace(cell, recur=recur, hidden_bias=hidden_bias, peepholes=peep)


def run_loop(ctx: LiftContext, kind: str, t: ir.DType, hidden: int, cell: Cell,
             projections: Sequence[ir.Value], steps: ir.Value, h: ir.Value, c: ir.Value | None,
             keep_c: bool) -> tuple[ir.Value, ir.Value | None]:
    """The stacked states [T, B, H] (h, and c when ``keep_c``) after each of ``steps`` (an int32
    scalar) steps over the projections [T, B, n]."""
    lstm = kind == "LSTM"
    item = ir.TensorType(t, (None, hidden))
    any_t = ir.TensorType(t, None)
    weights = _weights(cell)
    states = [h, c] if lstm else [h]
    lists = [empty_list(ctx, item) for _ in range(1 + keep_c)]
    loop_vars = [ctx.i32(0, "i"), steps, *states, *projections, *lists, *weights]
    types = [SCALAR_I32, SCALAR_I32, *[any_t] * (len(states) + len(projections)), *[LIST] * len(lists),
             *[any_t] * len(weights)]
    name = ctx.node.name or kind
    cond = FnGraph(f"{name}_cond", types)
    cond.finish([cond.tf1("Less", cond.args[:2], BOOL, T=I32)])
    body = _body(ctx, FnGraph(f"{name}_body", types), kind, t, cell, len(states), len(projections),
                 len(lists))
    outs = while_loop(ctx, loop_vars, types, cond.graph, body)
    first = 2 + len(states) + len(projections)
    stacked = [stack_list(ctx, lst, item) for lst in outs[first:first + len(lists)]]
    return stacked[0], (stacked[1] if keep_c else None)


def _body(ctx: LiftContext, fn: FnGraph, kind: str, t: ir.DType, cell: Cell, n_states: int, n_proj: int,
          n_lists: int) -> ir.Graph:
    i, n = fn.args[:2]
    states = fn.args[2:2 + n_states]
    projections = fn.args[2 + n_states:2 + n_states + n_proj]
    lists = fn.args[2 + n_states + n_proj:2 + n_states + n_proj + n_lists]
    weights = fn.args[2 + n_states + n_proj + n_lists:]
    o = Ops(fn.lift_context(ctx), t)
    axis = fn.const(np.int32(0), "axis")
    xt = [fn.tf1("GatherV2", [p, i, axis], t, Tparams=t, Tindices=I32, Taxis=I32, batch_dims=0)
          for p in projections]
    h, c = STEPS[kind](o, _rebind(cell, weights), xt, states[0], states[1] if n_states > 1 else None)
    new_states = [h, c][:n_states]
    pushed = [fn.tf1("TensorListPushBack", [lst, v], VARIANT, element_dtype=t)
              for lst, v in zip(lists, new_states)]
    i_next = fn.tf1("AddV2", [i, fn.const(np.int32(1), "one")], I32, T=I32)
    return fn.finish([i_next, n, *new_states, *projections, *pushed, *weights])
