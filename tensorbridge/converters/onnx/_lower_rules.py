"""The down-conversion rules (one small function per feature); see _lower_base."""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, defs, helper

from ._compat import _type_str
from ._lower_base import (  # noqa: F401
    INT64_MAX,
    LOWERED,
    Ctx,
    _attr,
    _attrs,
    _clone,
    _refuse,
    rule,
)


# ---- Reduce*: axes input (18) -> axes attribute ---------------------------------------------
@rule(
    (
        "ReduceL1",
        "ReduceL2",
        "ReduceLogSum",
        "ReduceLogSumExp",
        "ReduceMax",
        "ReduceMean",
        "ReduceMin",
        "ReduceProd",
        "ReduceSumSquare",
    ),
    18,
)
def reduce_axes_to_attribute(node: onnx.NodeProto, ctx: Ctx) -> list[onnx.NodeProto] | None:
    if len(node.input) < 2 and _attr(node, "noop_with_empty_axes") is None:
        return None
    axes_name = node.input[1] if len(node.input) > 1 else ""
    axes = ctx.const(axes_name)
    if axes_name and axes is None:
        return _reduce_via_sum(node, ctx)
    axes = [] if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]
    if not axes and _attr(node, "noop_with_empty_axes", 0):
        return [ctx.node("Identity", [node.input[0]], list(node.output), node.name)]
    attrs = _attrs(node, {"noop_with_empty_axes"})
    if axes:
        attrs.append(helper.make_attribute("axes", axes))
    return [_clone(node, ctx, inputs=[node.input[0]], attributes=attrs)]


_FLOATS = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
# Reductions with run-time axes, through ReduceSum (whose axes are an input since opset 13):
# op -> (element-wise op before the sum, op after it, float types only).
_VIA_SUM = {
    "ReduceSumSquare": ("Square", None, False),
    "ReduceL1": ("Abs", None, False),
    "ReduceL2": ("Square", "Sqrt", True),
    "ReduceLogSum": (None, "Log", True),
    "ReduceMean": (None, "Mean", True),
}


def _reduce_via_sum(node: onnx.NodeProto, ctx: Ctx) -> list[onnx.NodeProto]:
    """``node`` with an 'axes' input known only at run time, as ReduceSum(f(x), axes)."""
    how = _VIA_SUM.get(node.op_type)
    elem = ctx.elem(node.input[0])
    if how is None or elem is None or (how[2] and elem not in _FLOATS):
        raise _refuse(node, "an 'axes' input computed at run time (not a constant)", ctx.target)
    pre, post, _ = how
    x, base, out = node.input[0], node.name, []
    attrs = _attrs(node, set())
    if pre == "Square":
        sq = ctx.typed(f"{base}_square", elem, ctx.shape(x))
        out.append(ctx.node("Mul", [x, x], [sq], f"{base}_square"))
        x = sq
    elif pre == "Abs":
        ab = ctx.typed(f"{base}_abs", elem, ctx.shape(x))
        out.append(ctx.node("Abs", [x], [ab], f"{base}_abs"))
        x = ab
    if post is None:
        out.append(ctx.node("ReduceSum", [x, node.input[1]], list(node.output), base))
        out[-1].attribute.extend(attrs)
        return out
    total = ctx.typed(f"{base}_sum", elem, None)
    out.append(ctx.node("ReduceSum", [x, node.input[1]], [total], f"{base}_sum"))
    out[-1].attribute.extend(attrs)
    if post == "Mean":  # sum / count, the count being a sum of ones over the same axes
        shp = ctx.typed(f"{base}_shape", TensorProto.INT64, None)
        out.append(ctx.node("Shape", [node.input[0]], [shp], f"{base}_shape"))
        ones = ctx.typed(f"{base}_ones", elem, None)
        out.append(
            ctx.node(
                "ConstantOfShape",
                [shp],
                [ones],
                f"{base}_ones",
                value=helper.make_tensor("one", elem, [1], [1]),
            )
        )
        count = ctx.typed(f"{base}_count", elem, None)
        out.append(ctx.node("ReduceSum", [ones, node.input[1]], [count], f"{base}_count"))
        out[-1].attribute.extend(attrs)
        out.append(ctx.node("Div", [total, count], list(node.output), base))
    else:
        out.append(ctx.node(post, [total], list(node.output), base))
    return out


# ---- Split: num_outputs (18) -> split sizes input -------------------------------------------
@rule("Split", 18)
def split_num_outputs(node: onnx.NodeProto, ctx: Ctx) -> list[onnx.NodeProto] | None:
    n = _attr(node, "num_outputs")
    if n is None:
        return None
    attrs = _attrs(node, {"num_outputs"})
    axis = _attr(node, "axis", 0)
    x = node.input[0]
    shape = ctx.shape(x)
    dim = None
    if shape is not None and -len(shape) <= axis < len(shape):
        dim = shape[axis]
    if dim is not None:
        if dim % n == 0:  # equal parts: opset 13's default
            return [_clone(node, ctx, attributes=attrs)]
        chunk = math.ceil(dim / n)
        sizes = [chunk] * (n - 1) + [dim - chunk * (n - 1)]
        if sizes[-1] < 0:
            raise _refuse(node, f"num_outputs={n} on a dimension of {dim}", ctx.target)
        const, split = ctx.constant(np.array(sizes, np.int64), f"{node.name}_split")
        return [const, _clone(node, ctx, inputs=[x, split], attributes=attrs)]
    # Dimension known only at run time: chunk = ceil(d / n), sizes = [chunk]*(n-1) + [rest].
    if n == 1:
        return [_clone(node, ctx, attributes=attrs)]
    i64 = TensorProto.INT64
    out: list[onnx.NodeProto] = []

    def c(values, base):
        node_, name = ctx.constant(np.array(values, np.int64), f"{node.name}_{base}")
        out.append(node_)
        return name

    shp = ctx.typed(f"{node.name}_shape", i64, None)
    out.append(ctx.node("Shape", [x], [shp], f"{node.name}_shape"))
    dim_v = ctx.typed(f"{node.name}_dim", i64, [1])
    out.append(ctx.node("Gather", [shp, c([axis], "axis")], [dim_v], f"{node.name}_dim", axis=0))
    plus = ctx.typed(f"{node.name}_plus", i64, [1])
    out.append(ctx.node("Add", [dim_v, c([n - 1], "nm1")], [plus], f"{node.name}_plus"))
    chunk_v = ctx.typed(f"{node.name}_chunk", i64, [1])
    out.append(ctx.node("Div", [plus, c([n], "n")], [chunk_v], f"{node.name}_chunk"))
    head = ctx.typed(f"{node.name}_head", i64, [n - 1])
    out.append(ctx.node("Tile", [chunk_v, c([n - 1], "reps")], [head], f"{node.name}_head"))
    used = ctx.typed(f"{node.name}_used", i64, [1])
    out.append(ctx.node("Mul", [chunk_v, c([n - 1], "nm1b")], [used], f"{node.name}_used"))
    rest = ctx.typed(f"{node.name}_rest", i64, [1])
    out.append(ctx.node("Sub", [dim_v, used], [rest], f"{node.name}_rest"))
    split = ctx.typed(f"{node.name}_split", i64, [n])
    out.append(ctx.node("Concat", [head, rest], [split], f"{node.name}_split", axis=0))
    out.append(_clone(node, ctx, inputs=[x, split], attributes=attrs))
    return out


# ---- Shape: start/end (15) -> Shape + Slice -------------------------------------------------
@rule("Shape", 15)
def shape_start_end(node: onnx.NodeProto, ctx: Ctx) -> list[onnx.NodeProto] | None:
    start, end = _attr(node, "start", 0), _attr(node, "end")
    if start == 0 and end is None:
        return [_clone(node, ctx, attributes=_attrs(node, {"start", "end"}))] if len(node.attribute) else None
    full = ctx.typed(f"{node.output[0]}_full", TensorProto.INT64, None)
    out = [ctx.node("Shape", [node.input[0]], [full], f"{node.name}_full")]
    names = []
    for base, v in (("starts", start), ("ends", INT64_MAX if end is None else end), ("axes", 0)):
        const, name = ctx.constant(np.array([v], np.int64), f"{node.name}_{base}")
        out.append(const)
        names.append(name)
    out.append(ctx.node("Slice", [full, *names], list(node.output), node.name))
    return out


# ---- types added to an op after the target: Cast to a wider allowed type and back ----------
_I8, _I16, _U8, _U16 = TensorProto.INT8, TensorProto.INT16, TensorProto.UINT8, TensorProto.UINT16
_F16, _BF16, _BOOL = TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.BOOL
# Per op: source type -> wider types where op-then-Cast-back equals the op in the source type
# (integer wrap-around included: the low bits of +, -, * do not depend on the width; Div
# truncates toward zero in both; uint16 products need more than int32).
_ARITH = {
    _I8: [TensorProto.INT32],
    _I16: [TensorProto.INT32],
    _U8: [TensorProto.INT32],
    _U16: [TensorProto.INT64],
}
_FLOAT_TEST = {_F16: [TensorProto.FLOAT], _BF16: [TensorProto.FLOAT]}
_MINMAX = {
    _BOOL: [TensorProto.UINT8, TensorProto.INT32],
    _I16: [TensorProto.INT32],
    _U16: [TensorProto.INT32],
}
WIDEN: dict[str, dict[int, list[int]]] = {
    "Add": _ARITH,
    "Sub": _ARITH,
    "Mul": _ARITH,
    "Div": _ARITH,
    "IsInf": _FLOAT_TEST,
    "IsNaN": _FLOAT_TEST,
    "ReduceMax": _MINMAX,
    "ReduceMin": _MINMAX,
}


def _type_param(schema, formals, i: int) -> str | None:
    if not formals:
        return None
    return formals[min(i, len(formals) - 1)].type_str


def _allowed(schema, param: str) -> set[str]:
    for c in schema.type_constraints:
        if c.type_param_str == param:
            return set(c.allowed_type_strs)
    return {param}


def _tstr(elem: int) -> str:
    return _type_str(helper.make_tensor_type_proto(elem, None))


@rule(("Add", "Sub", "Mul", "Div"), 14)
@rule(("IsInf", "IsNaN", "ReduceMax", "ReduceMin"), 20)
def widen_types(node: onnx.NodeProto, ctx: Ctx) -> list[onnx.NodeProto] | None:
    schema = defs.get_schema(node.op_type, ctx.target)
    params: dict[str, int] = {}  # type parameter -> wider element type to use
    for i, name in enumerate(node.input):
        param = _type_param(schema, schema.inputs, i)
        elem = ctx.elem(name) if name else None
        if param is None or elem is None or _tstr(elem) in _allowed(schema, param):
            continue
        wider = [w for w in WIDEN[node.op_type].get(elem, []) if _tstr(w) in _allowed(schema, param)]
        if not wider:
            raise _refuse(node, f"element type {helper.tensor_dtype_to_string(elem)}", ctx.target)
        params[param] = wider[0]
    if not params:
        return None
    out: list[onnx.NodeProto] = []
    inputs = []
    for i, name in enumerate(node.input):
        wide = params.get(_type_param(schema, schema.inputs, i) or "")
        if not name or wide is None or ctx.elem(name) == wide:
            inputs.append(name)
            continue
        cast = ctx.typed(f"{name}_{node.name}_wide", wide, None)
        out.append(ctx.node("Cast", [name], [cast], f"{node.name}_cast_in{i}", to=wide))
        inputs.append(cast)
    outputs, backs = [], []
    for i, name in enumerate(node.output):
        wide = params.get(_type_param(schema, schema.outputs, i) or "")
        elem = ctx.elem(name)
        if wide is None or not name:
            outputs.append(name)
            continue
        if elem is None:
            raise _refuse(node, f"output {name!r} of unknown element type", ctx.target)
        tmp = ctx.typed(f"{name}_wide", wide, None)
        outputs.append(tmp)
        backs.append(ctx.node("Cast", [tmp], [name], f"{node.name}_cast_out{i}", to=elem))
    new = _clone(node, ctx, inputs=inputs)
    del new.output[:]
    new.output.extend(outputs)
    return [*out, new, *backs]


# ---- pooling features -----------------------------------------------------------------------
def _pool_features(
    node: onnx.NodeProto, ctx: Ctx, since: int, features: tuple[str, ...]
) -> list[onnx.NodeProto] | None:
    """Drops ``features`` when set to their no-op value, else refuses."""
    present = [f for f in features if _attr(node, f) is not None]
    if not present:
        return None
    for f in present:
        v = _attr(node, f)
        if (f == "dilations" and any(d != 1 for d in v)) or (f == "ceil_mode" and v):
            raise _refuse(
                node, f"{f}={list(v) if f == 'dilations' else v} (new in {node.op_type}-{since})", ctx.target
            )
    return [_clone(node, ctx, attributes=_attrs(node, set(present)))]


@rule("AveragePool", 19)
def average_pool_dilations(node: onnx.NodeProto, ctx: Ctx) -> list[onnx.NodeProto] | None:
    return _pool_features(node, ctx, 19, ("dilations",))


@rule("LpPool", 18)
def lp_pool_dilations_ceil(node: onnx.NodeProto, ctx: Ctx) -> list[onnx.NodeProto] | None:
    return _pool_features(node, ctx, 18, ("dilations", "ceil_mode"))
