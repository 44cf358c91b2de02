"""Lift: ai.onnx.ml preprocessing ops (Imputer, FeatureVectorizer, OneHotEncoder,
CategoryMapper), as skl2onnx emits them for scikit-learn's SimpleImputer, ColumnTransformer
outputs, OneHotEncoder and label mappings.

OneHotEncoder with zeros=0 makes ONNX Runtime fail on a value of no category; TF has no
failing op without side effects here, so such a value gives an all-zero row instead (the
results for valid inputs are the same).
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import LiftContext
from .array import BOOL, I64, binary, cast, concat, op, select
from .ml import F32, STR, array_attr, key_matches, lookup, matrix, register, same_shape


@register("Imputer")
def lift_imputer(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    t = ctx.dtype(x)
    floats = array_attr(node, "imputed_value_floats", np.float64)
    if floats is not None and floats.size:
        values, replace = floats, float(node.attr("replaced_value_float", 0.0))
    else:
        values = array_attr(node, "imputed_value_int64s", np.int64)
        replace = float(node.attr("replaced_value_int64", 0))
        if values is None or not values.size:
            raise ctx.unsupported("Imputer without imputed values")
    fill = ctx.const(values.astype(t.numpy), "imputed")
    if np.isnan(replace):
        if t not in (F32, ir.DType.DOUBLE):
            return [x]  # integers are never NaN
        missing = op(ctx, "IsNan", [x], BOOL, T=t)
    else:
        missing = binary(ctx, "Equal", x, ctx.const(np.asarray(replace, t.numpy), "replaced"))
    filled = op(ctx, "BroadcastTo", [fill, op(ctx, "Shape", [x], I64, T=t, out_type=I64)], t, T=t, Tidx=I64)
    return [same_shape(select(ctx, missing, filled, x), x)]


@register("FeatureVectorizer")
def lift_feature_vectorizer(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    dims = [int(d) for d in node.attr("inputdimensions", ())]
    if len(dims) != len(node.inputs):
        raise ctx.unsupported("inputdimensions must give one width per input")
    cols = []
    for v, d in zip(node.inputs, dims):
        cols.append(_width(ctx, matrix(ctx, cast(ctx, v, F32)), d))  # a [C] input is one row
    return [concat(ctx, cols, axis=1)]


def _width(ctx: LiftContext, m: ir.Value, d: int) -> ir.Value:
    """[N, d]: the first d columns of ``m``, zero-padded when it has fewer."""
    c = op(ctx, "StridedSlice", [op(ctx, "Shape", [m], I64, T=F32, out_type=I64), ctx.i64([1]), ctx.i64([2]),
                                 ctx.i64([1])], I64, T=I64, Index=I64, begin_mask=0, end_mask=0,
           ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=1)
    short = binary(ctx, "Maximum", binary(ctx, "Sub", ctx.i64(d, "width"), c), ctx.i64(0, "zero"))
    pads = op(ctx, "Pack", [ctx.i64([0, 0], "no_pad"), op(ctx, "Pack", [ctx.i64(0, "zero"), short], I64,
                                                                N=2, T=I64, axis=0)], I64, N=2, T=I64, axis=0)
    padded = op(ctx, "Pad", [m, pads], F32, T=F32, Tpaddings=I64)
    return op(ctx, "Slice", [padded, ctx.i64([0, 0]), ctx.i64([-1, d])], F32, T=F32, Index=I64)


@register("OneHotEncoder")
def lift_one_hot_encoder(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    ints, strs = array_attr(node, "cats_int64s"), array_attr(node, "cats_strings")
    cats = ints if ints is not None and ints.size else strs
    if cats is None or not cats.size:
        raise ctx.unsupported("OneHotEncoder without categories")
    if cats.dtype != object and ctx.dtype(x) is not I64:
        x = cast(ctx, x, I64)  # ONNX Runtime compares numbers as int64
    return [cast(ctx, key_matches(ctx, x, cats), F32)]


@register("CategoryMapper")
def lift_category_mapper(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    ints, strs = array_attr(node, "cats_int64s"), array_attr(node, "cats_strings")
    if ints is None or strs is None or len(ints) != len(strs):
        raise ctx.unsupported("cats_int64s and cats_strings must pair up")
    if ctx.dtype(x) is STR:
        return [lookup(ctx, x, strs, ints.astype(np.int64), np.int64(node.attr("default_int64", -1)))]
    d = node.attr("default_string", "_Unused")
    default = np.asarray(d if isinstance(d, bytes) else str(d).encode(), object)
    return [lookup(ctx, cast(ctx, x, I64), ints.astype(np.int64), strs, default)]
