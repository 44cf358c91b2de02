"""Lift: NonMaxSuppression, one TF NonMaxSuppressionV5 per batch and class.

TF's kernel computes ONNX's greedy selection for one batch and class: candidates are the boxes
scoring strictly above score_threshold, taken by descending score (ties: lower box index first);
a candidate is dropped when its IoU with a box already kept is strictly above iou_threshold;
corners may come in either order, a box of no area overlaps nothing. What differs is bridged:

- center_point_box=1 boxes [x_center, y_center, width, height] become corners [y1, x1, y2, x2]
  (the same centre -/+ half-size arithmetic ONNX does); a negative size, which ONNX's IoU test
  treats as overlapping nothing, becomes 0 (TF's normalized corners would give it an area);
- TF takes iou_threshold only in [0, 1]: it is clamped there, which selects the same boxes (an
  IoU is never above 1, and boxes that do not intersect are never suppressed);
- max_output_boxes_per_class is clamped to [0, 2^31-1] (int32 in TF; ONNX counts a negative as 0,
  and an absent one as 0: no box at all);
- without score_threshold ONNX keeps every box, -inf scores too, which TF's strict > -inf would
  drop: scores are raised to the lowest finite float first (only a -inf tie against a score of
  exactly that lowest float could then order differently).

Static batch and class counts unroll the (batch, class) pairs. A count known only at run time
makes a ``StatelessWhile`` over the pairs k = 0 .. B*C-1 (batch k // C, class k % C), each
iteration pushing its [n, 3] rows onto a TensorList (element shape [-1, 3]), which
``TensorListConcatV2`` joins after the loop (no pair, or no box selected: [0, 3]). Either way
selected_indices rows [batch, class, box] come batch-major, then class-major, in selection
order, as ONNX lists them.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import LiftContext, TfShape
from ._subgraph import FnGraph, dtypes_attr, graph_attr, tensor_type
from .array import I32, I64, axis_dim, binary, cast, concat, gather, op, register, scalar_input

F32, BOOL, VARIANT = ir.DType.FLOAT, ir.DType.BOOL, ir.DType.VARIANT
SCALAR = ir.TensorType(I64, ())
LIST = ir.TensorType(VARIANT, ())
ROWS = np.asarray([-1, 3], np.int32)  # a TensorList element: [n, 3] rows
SELECTED = [ir.TensorType(I32, (None,)), ir.TensorType(F32, (None,)), ir.TensorType(I32, ())]


def _f32(ctx: LiftContext, value: float, name: str = "c") -> ir.Value:
    return ctx.const(np.asarray(value, np.float32), name)


def _corners(ctx: LiftContext, boxes: ir.Value) -> ir.Value:
    """[.., 4] boxes [x_center, y_center, width, height] as [y1, x1, y2, x2]."""
    col = [gather(ctx, boxes, ctx.i64(k, "col"), 2) for k in range(4)]
    # a width or height <= 0 makes an ONNX box overlap nothing: made 0 here, TF's no-area box
    zero, two = _f32(ctx, 0.0, "zero"), _f32(ctx, 2.0, "two")
    half_w, half_h = (binary(ctx, "RealDiv", binary(ctx, "Maximum", col[k], zero), two) for k in (2, 3))
    y1, y2 = binary(ctx, "Sub", col[1], half_h), binary(ctx, "AddV2", col[1], half_h)
    x1, x2 = binary(ctx, "Sub", col[0], half_w), binary(ctx, "AddV2", col[0], half_w)
    return op(ctx, "Pack", [y1, x1, y2, x2], F32, T=F32, N=4, axis=-1)


def _scalar(ctx: LiftContext, v: ir.Value | None, default, lo, hi, dtype: ir.DType) -> ir.Value:
    """An optional scalar input (or ``default``), clamped to [lo, hi] (None: unbounded)."""
    if v is None:
        return ctx.const(np.asarray(default, dtype.numpy), "default")
    s = scalar_input(ctx, v, ctx.dtype(v))
    if lo is not None:
        s = binary(ctx, "Maximum", s, ctx.const(np.asarray(lo, s.dtype.numpy), "lo"))
    if hi is not None:
        s = binary(ctx, "Minimum", s, ctx.const(np.asarray(hi, s.dtype.numpy), "hi"))
    return cast(ctx, s, dtype)


def _rows(ctx: LiftContext, selected: ir.Value, b: int, c: int) -> ir.Value:
    """[k] box indices -> [k, 3] rows [b, c, box] (int64)."""
    box = cast(ctx, selected, I64)
    zero = op(ctx, "ZerosLike", [box], I64, T=I64)
    cols = [binary(ctx, "AddV2", zero, ctx.i64(b, "batch")), binary(ctx, "AddV2", zero, ctx.i64(c, "class")),
            box]
    return op(ctx, "Pack", cols, I64, T=I64, N=3, axis=1)


def _empty(ctx: LiftContext) -> list[ir.Value]:
    return [ctx.const(np.zeros((0, 3), np.int64), "none")]


@register("NonMaxSuppression")
def lift_non_max_suppression(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    boxes, scores = node.inputs[0], node.inputs[1]
    limit, iou, threshold = (ctx.input(node, i) for i in (2, 3, 4))
    if ctx.dtype(boxes) is not F32 or ctx.dtype(scores) is not F32:
        raise ctx.unsupported("NonMaxSuppression of non-float boxes or scores")
    shape = ctx.shape(scores)
    nb, nc = (None, None) if shape is None or len(shape) != 3 else shape[:2]
    static = isinstance(nb, int) and isinstance(nc, int)
    known = ctx.constant_value(limit)
    none = known is not None and (known.size == 0 or int(known.reshape(-1)[0]) <= 0)
    if limit is None or none or (static and nb * nc == 0):
        return _empty(ctx)
    most = _scalar(ctx, limit, 0, 0, 2**31 - 1, I32)
    iou_t = _scalar(ctx, iou, 0.0, 0.0, 1.0, F32)
    if threshold is None:
        score_t = _f32(ctx, -np.inf, "no_threshold")
        scores = binary(ctx, "Maximum", scores, _f32(ctx, np.finfo(np.float32).min, "lowest"))
    else:
        score_t = _scalar(ctx, threshold, 0.0, None, None, F32)
    if int(node.attr("center_point_box", 0)):
        boxes = _corners(ctx, boxes)
    params = [most, iou_t, score_t]
    if not static:
        return [_looped(ctx, node.name, boxes, scores, params)]
    rows = []
    for b in range(nb):
        boxes_b = gather(ctx, boxes, ctx.i64(b, "batch"), 0)
        scores_b = gather(ctx, scores, ctx.i64(b, "batch"), 0)
        for c in range(nc):
            s = gather(ctx, scores_b, ctx.i64(c, "class"), 0)
            sel = ctx.tf_node("NonMaxSuppressionV5", [boxes_b, s, *params, _f32(ctx, 0.0, "sigma")],
                              num_outputs=3, T=F32, pad_to_max_output_size=False, types=SELECTED).outputs[0]
            rows.append(_rows(ctx, sel, b, c))
    return [concat(ctx, rows, 0)]


# ---- a run-time number of batches or classes: a While over the (batch, class) pairs ----------
def _looped(ctx: LiftContext, name: str, boxes: ir.Value, scores: ir.Value,
            params: list[ir.Value]) -> ir.Value:
    nc = axis_dim(ctx, scores, 1)
    total = binary(ctx, "Mul", axis_dim(ctx, scores, 0), nc)
    empty = ctx.tf("EmptyTensorList", [ctx.const(ROWS, "element_shape"), ctx.i32(-1, "max_elements")],
                   element_dtype=I64, shape_type=I32, types=[LIST])
    loop_vars = [ctx.i64(0, "k"), total, nc, boxes, scores, *params, empty]
    types = [SCALAR, SCALAR, SCALAR, *(tensor_type(ctx, v) for v in loop_vars[3:-1]), LIST]
    cond = FnGraph(f"{name}_cond", types)
    cond.finish([cond.tf1("Less", cond.args[:2], BOOL, T=I64)])
    outs = ctx.tf_node("StatelessWhile", loop_vars, num_outputs=len(loop_vars),
                       types=[ir.TensorType(t.dtype, None if t.dtype is not VARIANT else ()) for t in types],
                       T=dtypes_attr([t.dtype for t in types]), cond=graph_attr(cond.graph),
                       body=graph_attr(_pair_body(name, types)), output_shapes=[TfShape(None)] * len(types),
                       parallel_iterations=1).outputs
    leading = ctx.i64(np.zeros(0, np.int64), "leading_dims")
    return ctx.tf_node("TensorListConcatV2", [outs[-1], ctx.const(ROWS, "element_shape"), leading],
                       num_outputs=2, element_dtype=I64, shape_type=I32,
                       types=[ir.TensorType(I64, (None, 3)), ir.TensorType(I64, (None,))]).outputs[0]


def _pair_body(name: str, types: list[ir.TensorType]) -> ir.Graph:
    """Iteration k: NMS of batch k // C, class k % C; its rows pushed onto the list."""
    fn = FnGraph(f"{name}_body", types)
    k, total, nc, boxes, scores, most, iou_t, score_t, rows = fn.args
    b, c = fn.tf1("FloorDiv", [k, nc], I64, T=I64), fn.tf1("FloorMod", [k, nc], I64, T=I64)

    def take(x: ir.Value, i: ir.Value) -> ir.Value:
        return fn.tf1("GatherV2", [x, i, fn.const(np.int64(0), "axis")], F32, Tparams=F32, Tindices=I64,
                      Taxis=I64, batch_dims=0)

    s = take(take(scores, b), c)
    sel = fn.tf("NonMaxSuppressionV5", [take(boxes, b), s, most, iou_t, score_t,
                                         fn.const(np.float32(0.0), "sigma")], SELECTED,
                T=F32, pad_to_max_output_size=False)[0]
    box = fn.tf1("Cast", [sel], I64, SrcT=I32, DstT=I64, Truncate=False)
    zero = fn.tf1("ZerosLike", [box], I64, T=I64)
    cols = [fn.tf1("AddV2", [zero, b], I64, T=I64), fn.tf1("AddV2", [zero, c], I64, T=I64), box]
    pushed = fn.tf1("TensorListPushBack", [rows, fn.tf1("Pack", cols, I64, T=I64, N=3, axis=1)], VARIANT,
                    element_dtype=I64)
    k_next = fn.tf1("AddV2", [k, fn.const(np.int64(1), "one")], I64, T=I64)
    return fn.finish([k_next, total, nc, boxes, scores, most, iou_t, score_t, pushed])
