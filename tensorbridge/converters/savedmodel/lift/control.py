"""Lift: control flow. If -> ``StatelessIf``; Loop and Scan -> ``StatelessWhile``.

Bodies are lifted recursively and closed over their outer-scope reads (_subgraph.py says how and
how they are kept until the GraphDef writer makes FunctionDefs of them). The ONNX body becomes a
function of its own; the While's cond and body are small wrappers around a ``PartitionedCall`` of
it, so the ONNX body needs no rewriting:

- Loop: loop variables (i, M, cond, carried..., scan lists..., captures...); cond is
  ``i < M and cond`` (M absent: int64 max; cond absent: true and the body's cond ignored, as ONNX
  says); each iteration pushes the scan outputs onto TensorLists (``EmptyTensorList`` /
  ``TensorListPushBack``), stacked after the loop.
- Scan: loop variables (i, N, states..., scan inputs..., scan lists..., captures...); iteration
  i reads slice i (N-1-i reversed) of each scan input with ``GatherV2`` on its axis; reversed
  outputs are reversed after stacking and moved to their output axis with a Transpose.

A carried value may change shape between iterations, so its body input gets only the initial
value's element type and rank, and every While output shape is left unknown. An empty scan output
(zero iterations) needs a static element shape to stack. Sequence- and optional-typed values
are not lifted; as a graph input or output they have no SavedModel signature form at all.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext, TfShape
from ._subgraph import (
    FnGraph,
    captures,
    close_over,
    dtypes_attr,
    element_shape,
    graph_attr,
    lift_body,
    reinfer,
    tensor_type,
    type_inputs,
)

I64, I32, BOOL, VARIANT = ir.DType.INT64, ir.DType.INT32, ir.DType.BOOL, ir.DType.VARIANT
SCALAR_I64, SCALAR_BOOL = ir.TensorType(I64, ()), ir.TensorType(BOOL, ())
LIST = ir.TensorType(VARIANT, ())
INT64_MAX = np.iinfo(np.int64).max


# ---- If -------------------------------------------------------------------------------------
@TF_LIFT.register("If")
def lift_if(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    check_tensors(ctx, node)
    branches = [node.attrs["then_branch"].value, node.attrs["else_branch"].value]
    if any(g.inputs for g in branches):
        raise ctx.unsupported("an If branch declares inputs")
    for g in branches:
        lift_body(ctx, g)
    outer = captures(branches)
    for g in branches:
        close_over(ctx, g, outer)
    out_types = [_join(a.type, b.type) for a, b in zip(*(g.outputs for g in branches))]
    if len(out_types) != len(node.outputs):
        raise ctx.unsupported("the branches return a different number of values than If has outputs")
    cond = _scalar(ctx, ctx.input(node, 0))
    outs = ctx.tf_node(
        "StatelessIf", [cond, *outer], num_outputs=len(out_types), types=out_types, Tcond=BOOL,
        Tin=dtypes_attr([ctx.dtype(v) for v in outer]), Tout=dtypes_attr([t.dtype for t in out_types]),
        then_branch=graph_attr(branches[0]), else_branch=graph_attr(branches[1]),
        output_shapes=[TfShape(None)] * len(out_types)).outputs
    return finish(ctx, node, list(outs))


def _join(a: ir.TensorType, b: ir.TensorType) -> ir.TensorType:
    return a if a == b else ir.TensorType(a.dtype, None)


# ---- Loop -----------------------------------------------------------------------------------
@TF_LIFT.register("Loop")
def lift_loop(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    check_tensors(ctx, node)
    body = node.attrs["body"].value
    m, c, init = ctx.input(node, 0), ctx.input(node, 1), list(node.inputs[2:])
    if any(v is None for v in init):
        raise ctx.unsupported("an omitted loop-carried initial value")
    carried = [ir.TensorType(ctx.dtype(v), _any_dims(ctx.shape(v))) for v in init]
    type_inputs(ctx, body, [SCALAR_I64, SCALAR_BOOL, *carried])
    lift_body(ctx, body)
    outer = captures([body])
    close_over(ctx, body, outer)
    n = len(init)
    items = [tensor_type(ctx, v) for v in body.outputs[1 + n:]]
    trip = _scalar(ctx, ctx.cast(m, I64)) if m is not None else ctx.i64(INT64_MAX, "max_trip")
    cond = _scalar(ctx, c) if c is not None else ctx.const(np.asarray(True), "cond")
    lists = [_empty_list(ctx, t) for t in items]
    loop_vars = [ctx.i64(0, "i"), trip, cond, *init, *lists, *outer]
    types = [SCALAR_I64, SCALAR_I64, SCALAR_BOOL, *carried, *[LIST] * len(items),
             *[tensor_type(ctx, v) for v in outer]]
    cond_fn = FnGraph(f"{node.name}_cond", types)
    i, trip_arg, go = cond_fn.args[:3]
    more = cond_fn.tf1("Less", [i, trip_arg], BOOL, T=I64)
    cond_fn.finish([cond_fn.tf1("LogicalAnd", [more, go], BOOL)])
    outs = _while(ctx, loop_vars, types, cond_fn.graph, _loop_body(node.name, types, body, n, items,
                                                                      c is not None))
    stacked = [_stack(ctx, lst, t) for lst, t in zip(outs[3 + n:3 + n + len(items)], items)]
    return finish(ctx, node, [*outs[3:3 + n], *stacked])


def _loop_body(name: str, types: list[ir.TensorType], body: ir.Graph, n: int,
               items: list[ir.TensorType], has_cond: bool) -> ir.Graph:
    fn = FnGraph(f"{name}_body", types)
    i, trip, go = fn.args[:3]
    carried, lists, outer = fn.args[3:3 + n], fn.args[3 + n:3 + n + len(items)], fn.args[3 + n + len(items):]
    res = fn.call(body, [i, go, *carried, *outer])
    go_next = _fn_scalar(fn, res[0]) if has_cond else go
    pushed = [fn.tf1("TensorListPushBack", [lst, x], VARIANT, element_dtype=t.dtype)
              for lst, x, t in zip(lists, res[1 + n:], items)]
    i_next = fn.tf1("AddV2", [i, fn.const(np.int64(1), "one")], I64, T=I64)
    return fn.finish([i_next, trip, go_next, *res[1:1 + n], *pushed, *outer])


# ---- Scan -----------------------------------------------------------------------------------
@TF_LIFT.register("Scan")
def lift_scan(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    check_tensors(ctx, node)
    body = node.attrs["body"].value
    k = int(ctx.attr(node, "num_scan_inputs", 0))
    if not 0 < k <= len(node.inputs):
        raise ctx.unsupported(f"num_scan_inputs={k} with {len(node.inputs)} inputs")
    states, xs = list(node.inputs[:len(node.inputs) - k]), list(node.inputs[len(node.inputs) - k:])
    n_out = len(body.outputs) - len(states)
    in_axes = [_axis(ctx, a, x) for a, x in zip(_ints(node, "scan_input_axes", k), xs)]
    in_dirs = _ints(node, "scan_input_directions", k)
    out_axes, out_dirs = _ints(node, "scan_output_axes", n_out), _ints(node, "scan_output_directions", n_out)
    slices = [ir.TensorType(ctx.dtype(x), _drop(ctx.shape(x), a)) for x, a in zip(xs, in_axes)]
    state_types = [tensor_type(ctx, v) for v in states]
    type_inputs(ctx, body, [*state_types, *slices])
    lift_body(ctx, body)
    outer = captures([body])
    close_over(ctx, body, outer)
    items = [tensor_type(ctx, v) for v in body.outputs[len(states):]]
    loop_vars = [ctx.i64(0, "i"), _length(ctx, xs[0], in_axes[0]), *states, *xs,
                 *[_empty_list(ctx, t) for t in items], *outer]
    types = [SCALAR_I64, SCALAR_I64, *state_types, *[tensor_type(ctx, x) for x in xs],
             *[LIST] * len(items), *[tensor_type(ctx, v) for v in outer]]
    cond_fn = FnGraph(f"{node.name}_cond", types)
    cond_fn.finish([cond_fn.tf1("Less", cond_fn.args[:2], BOOL, T=I64)])
    body_fn = _scan_body(node.name, types, body, len(states), in_axes, in_dirs, items)
    outs = _while(ctx, loop_vars, types, cond_fn.graph, body_fn)
    s, first = len(states), 2 + len(states) + k
    scanned = [_place(ctx, _stack(ctx, lst, t), t, axis, rev)
               for lst, t, axis, rev in zip(outs[first:first + n_out], items, out_axes, out_dirs)]
    return finish(ctx, node, [*outs[2:2 + s], *scanned])


def _scan_body(name: str, types: list[ir.TensorType], body: ir.Graph, s: int, axes: list[int],
               dirs: list[int], items: list[ir.TensorType]) -> ir.Graph:
    fn = FnGraph(f"{name}_body", types)
    k = len(axes)
    i, n = fn.args[:2]
    states, xs = fn.args[2:2 + s], fn.args[2 + s:2 + s + k]
    lists, outer = fn.args[2 + s + k:2 + s + k + len(items)], fn.args[2 + s + k + len(items):]
    last = fn.tf1("Sub", [n, fn.const(np.int64(1), "one")], I64, T=I64)
    back = fn.tf1("Sub", [last, i], I64, T=I64)
    cut = [fn.tf1("GatherV2", [x, back if rev else i, fn.const(np.int64(a), "axis")], x.dtype,
                  Tparams=x.dtype, Tindices=I64, Taxis=I64, batch_dims=0)
           for x, a, rev in zip(xs, axes, dirs)]
    res = fn.call(body, [*states, *cut, *outer])
    pushed = [fn.tf1("TensorListPushBack", [lst, y], VARIANT, element_dtype=t.dtype)
              for lst, y, t in zip(lists, res[s:], items)]
    i_next = fn.tf1("AddV2", [i, fn.const(np.int64(1), "one")], I64, T=I64)
    return fn.finish([i_next, n, *res[:s], *xs, *pushed, *outer])


def _place(ctx: LiftContext, y: ir.Value, item: ir.TensorType, axis: int, reverse: int) -> ir.Value:
    """A stacked scan output (iterations on axis 0) reversed and moved to ``axis``."""
    dt = item.dtype
    if reverse:
        y = ctx.tf("ReverseV2", [y, ctx.i32([0], "axis")], T=dt, Tidx=I32, types=[y.type])
    if axis == 0:
        return y
    if item.shape is None:
        raise ctx.unsupported("a scan output axis other than 0 needs the output's rank")
    r = len(item.shape) + 1
    axis = axis + r if axis < 0 else axis
    perm = [*range(1, axis + 1), 0, *range(axis + 1, r)]
    return ctx.tf("Transpose", [y, ctx.i32(perm, "perm")], T=dt, Tperm=I32,
                  types=[ir.TensorType(dt, None)])


# ---- shared -----------------------------------------------------------------------------------
def check_tensors(ctx: LiftContext, node: ir.Node) -> None:
    """Refuse sequence/optional-typed inputs and outputs (inexpressible at the signature)."""
    boundary = {v for mg in ctx.model.meta_graphs for v in (*mg.graph.inputs, *mg.graph.outputs)}
    for v in (*node.inputs, *node.outputs):
        if v is None or v.type is None or isinstance(v.type, ir.TensorType):
            continue
        kind = type(v.type).__name__.removesuffix("Type").lower()
        if v in boundary:
            raise ctx.unsupported(f"TensorFlow has no {kind}-typed signature tensors "
                                  f"({v.name!r} is a graph input or output)")
        raise ctx.unsupported(f"{kind}-typed values through control flow are not lifted")


def finish(ctx: LiftContext, node: ir.Node, outs: list[ir.Value]) -> list[ir.Value]:
    """Hand the bodies over to the TF node (removing the ONNX node must not detach them), give
    untyped ONNX outputs the lifted types and re-infer, so the nodes reading them get types."""
    for name, a in list(node.attrs.items()):
        if a.type is ir.AttrType.GRAPH:
            node.attrs[name] = ir.Attr(ir.AttrType.GRAPH, ir.Graph(f"{name}_lifted"))
    retyped = False
    for old, new in zip(node.outputs, outs):
        if old.type is None and new.type is not None and new.dtype is not None:
            old.type, retyped = new.type, True
    if retyped:
        reinfer(ctx)
    return outs


def _while(ctx: LiftContext, loop_vars: list[ir.Value], types: list[ir.TensorType], cond: ir.Graph,
           body: ir.Graph) -> tuple[ir.Value, ...]:
    dts = [t.dtype for t in types]
    out = [ir.TensorType(t.dtype, None if t.dtype is not VARIANT else ()) for t in types]
    return ctx.tf_node("StatelessWhile", loop_vars, num_outputs=len(loop_vars), types=out,
                       T=dtypes_attr(dts), cond=graph_attr(cond), body=graph_attr(body),
                       output_shapes=[TfShape(None)] * len(loop_vars), parallel_iterations=1).outputs


def _empty_list(ctx: LiftContext, item: ir.TensorType) -> ir.Value:
    return ctx.tf("EmptyTensorList", [ctx.const(element_shape(item.shape), "element_shape"),
                                      ctx.i32(-1, "max_elements")],
                  element_dtype=item.dtype, shape_type=I32, types=[LIST])


def _stack(ctx: LiftContext, lst: ir.Value, item: ir.TensorType) -> ir.Value:
    shape = None if item.shape is None else (None, *item.shape)
    return ctx.tf("TensorListStack", [lst, ctx.const(element_shape(item.shape), "element_shape")],
                  element_dtype=item.dtype, num_elements=-1, types=[ir.TensorType(item.dtype, shape)])


def _scalar(ctx: LiftContext, v: ir.Value) -> ir.Value:
    """``v`` (a one-element tensor) as a scalar."""
    if ctx.rank(v) == 0:
        return v
    dt = ctx.dtype(v)
    return ctx.tf("Reshape", [v, ctx.i32(np.zeros(0, np.int32), "scalar")], T=dt, Tshape=I32,
                  types=[ir.TensorType(dt, ())])


def _fn_scalar(fn: FnGraph, v: ir.Value) -> ir.Value:
    if v.shape is not None and len(v.shape) == 0:
        return v
    return fn.tf("Reshape", [v, fn.const(np.zeros(0, np.int32), "scalar")], [SCALAR_BOOL],
                 T=BOOL, Tshape=I32)[0]


def _length(ctx: LiftContext, x: ir.Value, axis: int) -> ir.Value:
    """``x``'s dim ``axis`` as an int64 scalar."""
    shape = ctx.tf("Shape", [x], T=ctx.dtype(x), out_type=I64, types=[ir.TensorType(I64, None)])
    return ctx.tf("GatherV2", [shape, ctx.i64(axis, "axis"), ctx.i64(0, "zero")], Tparams=I64,
                  Tindices=I64, Taxis=I64, batch_dims=0, types=[SCALAR_I64])


def _ints(node: ir.Node, name: str, n: int) -> list[int]:
    values = node.attr(name, None)
    return [0] * n if values is None else [int(a) for a in values]


def _axis(ctx: LiftContext, axis: int, x: ir.Value) -> int:
    if axis >= 0:
        return axis
    r = ctx.rank(x)
    if r is None:
        raise ctx.unsupported("a negative scan axis needs the input's rank")
    return axis + r


def _drop(shape: ir.Shape | None, axis: int) -> ir.Shape | None:
    return None if shape is None else (*shape[:axis], *shape[axis + 1:])


def _any_dims(shape: ir.Shape | None) -> ir.Shape | None:
    return None if shape is None else (None,) * len(shape)


# ---- for lifts that build their own loops (recurrent.py via _rnn_loop.py) --------------------
while_loop, empty_list, stack_list = _while, _empty_list, _stack
