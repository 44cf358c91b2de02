"""Lift: the ai.onnx.ml ops scikit-learn pipelines emit (skl2onnx): Scaler, Normalizer,
Binarizer, LinearRegressor, LinearClassifier, ArrayFeatureExtractor, LabelEncoder; ZipMap is
refused (its output is a sequence of maps). Tree ensembles are in ml_trees.py, the
preprocessing ops (Imputer, FeatureVectorizer, OneHotEncoder, CategoryMapper) in ml_prep.py,
SVMRegressor in ml_svm.py.

These ops compute in float32 (their outputs are float tensors whatever the numeric input):
an int or double input is cast to float first, as ONNX Runtime does. Attribute tables
(coefficients, keys, labels) become constants; a lookup (LabelEncoder) compares every element
with every key ([..., K] bools) and gathers the value of the matching key, so no TF hash table
(a resource the SavedModel would have to initialize) is needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from .array import BOOL, I64, binary, cast, op, reshape, select

ML = "ai.onnx.ml"
F32, I32, STR = ir.DType.FLOAT, ir.DType.INT32, ir.DType.STRING


def register(*names: str):
    return TF_LIFT.register(*names, domain=ML)


# ---- helpers ---------------------------------------------------------------------------------
def text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def array_attr(node: ir.Node, name: str, dtype: Any = None) -> np.ndarray | None:
    """A list or tensor attribute as a numpy array (strings as an object array of bytes)."""
    v = node.attr(name, None)
    if v is None:
        return None
    a = v.numpy() if hasattr(v, "numpy") else np.asarray(v)
    if a.dtype.kind in "OSU":
        return np.asarray([s if isinstance(s, bytes) else str(s).encode() for s in a.ravel()],
                          dtype=object).reshape(a.shape)
    return a if dtype is None else a.astype(dtype)


def str_const(ctx: LiftContext, values: Any, name: str = "strings") -> ir.Value:
    data = np.asarray([v if isinstance(v, bytes) else str(v).encode() for v in values], dtype=object)
    return ctx.const(data, name, STR)


def as_float(ctx: LiftContext, x: ir.Value) -> ir.Value:
    return cast(ctx, x, F32)


def rows(ctx: LiftContext, x: ir.Value) -> ir.Value:
    """x as a float [N, C] matrix (a vector is one row), as the ml ops read their input."""
    return matrix(ctx, as_float(ctx, x))


def matrix(ctx: LiftContext, x: ir.Value) -> ir.Value:
    """x as a [N, C] matrix: a vector is one row; of unknown rank, reshaped to [-1, last dim]."""
    r = ctx.rank(x)
    if r == 2:
        return x
    if r == 1:
        y = reshape(ctx, x, ctx.i64([1, -1]))
    elif r is None:
        t = ctx.dtype(x)
        last = op(ctx, "StridedSlice", [op(ctx, "Shape", [x], I64, T=t, out_type=I64), ctx.i64([-1]),
                                        ctx.i64([0]), ctx.i64([1])], I64, T=I64, Index=I64, begin_mask=0,
                  end_mask=1, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0)
        y = reshape(ctx, x, op(ctx, "ConcatV2", [ctx.i64([-1]), last, ctx.i64(0, "axis")], I64, N=2, T=I64,
                               Tidx=I64))
    else:
        raise ctx.unsupported("the input must be a vector or a matrix")
    y.type = ir.TensorType(ctx.dtype(x), (None, None))
    return y


def same_shape(y: ir.Value, x: ir.Value) -> ir.Value:
    """``y`` typed with ``x``'s shape (element-wise ops; later handlers may need the rank)."""
    y.type = ir.TensorType(y.dtype, x.shape)
    return y


def n_rows(ctx: LiftContext, node: ir.Node, coef: np.ndarray) -> int:
    """How many coefficient rows: size / C for a static feature count C, else the intercepts'."""
    shape = ctx.shape(node.inputs[0])
    if shape and isinstance(shape[-1], int) and shape[-1] > 0:
        return coef.size // shape[-1]
    icpt = node.attr("intercepts", None)
    if icpt:
        return len(icpt)
    raise ctx.unsupported("the feature count must be static")


def post_transform(ctx: LiftContext, scores: ir.Value, how: str) -> ir.Value:
    if how == "NONE":
        return scores
    if how == "LOGISTIC":
        return op(ctx, "Sigmoid", [scores], F32, T=F32)
    if how == "SOFTMAX":
        return op(ctx, "Softmax", [scores], F32, T=F32)
    raise ctx.unsupported(f"post_transform {how} is not lifted")


def reduce_last(ctx: LiftContext, x: ir.Value, tf_op: str = "Sum") -> ir.Value:
    return op(ctx, tf_op, [x, ctx.i64(-1, "axis")], ctx.dtype(x), T=ctx.dtype(x), Tidx=I64,
              keep_dims=True)


# ---- handlers --------------------------------------------------------------------------------
@register("ZipMap")
def lift_zipmap(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    raise ctx.unsupported("TensorFlow has no map-typed signature tensors (ZipMap outputs a "
                          "sequence of maps; export with zipmap=False)")


@register("Scaler")
def lift_scaler(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    offset, scale = (array_attr(node, k, np.float32) for k in ("offset", "scale"))
    offset = ctx.const(np.zeros(1, np.float32) if offset is None else offset, "offset")
    scale = ctx.const(np.ones(1, np.float32) if scale is None else scale, "scale")
    x = as_float(ctx, node.inputs[0])
    return [same_shape(binary(ctx, "Mul", binary(ctx, "Sub", x, offset), scale), node.inputs[0])]


@register("Binarizer")
def lift_binarizer(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    t = ctx.dtype(x)
    thr = ctx.const(np.asarray(node.attr("threshold", 0.0), t.numpy), "threshold")
    return [same_shape(cast(ctx, binary(ctx, "Greater", x, thr), t), x)]


@register("Normalizer")
def lift_normalizer(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    how = text(node.attr("norm", "MAX"))
    x = as_float(ctx, node.inputs[0])
    if how == "MAX":
        div = reduce_last(ctx, op(ctx, "Abs", [x], F32, T=F32), "Max")
    elif how == "L1":
        div = reduce_last(ctx, op(ctx, "Abs", [x], F32, T=F32))
    elif how == "L2":
        div = op(ctx, "Sqrt", [reduce_last(ctx, op(ctx, "Square", [x], F32, T=F32))], F32, T=F32)
    else:
        raise ctx.unsupported(f"norm {how!r}")
    div = binary(ctx, "Maximum", div, ctx.const(np.float32(1e-30), "tiny"))  # a zero row stays zero
    return [same_shape(binary(ctx, "RealDiv", x, div), node.inputs[0])]


def _linear(ctx: LiftContext, node: ir.Node, n_out: int) -> ir.Value:
    """x @ coefficients.reshape(n_out, C).T + intercepts, in float."""
    x = rows(ctx, node.inputs[0])
    coef = array_attr(node, "coefficients", np.float32).reshape(n_out, -1)
    y = op(ctx, "MatMul", [x, ctx.const(np.ascontiguousarray(coef.T), "coefficients")], F32, T=F32,
           transpose_a=False, transpose_b=False)
    icpt = array_attr(node, "intercepts", np.float32)
    return y if icpt is None else binary(ctx, "AddV2", y, ctx.const(icpt, "intercepts"))


@register("LinearRegressor")
def lift_linear_regressor(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    y = _linear(ctx, node, int(node.attr("targets", 1)))
    return [post_transform(ctx, y, text(node.attr("post_transform", "NONE")))]


@register("LinearClassifier")
def lift_linear_classifier(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    ints, strs = array_attr(node, "classlabels_ints"), array_attr(node, "classlabels_strings")
    labels = ints if ints is not None else strs
    n_classes = 0 if labels is None else len(labels)
    coef = array_attr(node, "coefficients", np.float32)
    n = n_rows(ctx, node, coef)
    how = text(node.attr("post_transform", "NONE"))
    scores = _linear(ctx, node, n)
    if n == 1 and n_classes == 2:  # binary: [-s, s]
        scores = op(ctx, "ConcatV2", [op(ctx, "Neg", [scores], F32, T=F32), scores, ctx.i64(1, "axis")],
                    F32, N=2, T=F32, Tidx=I64)
        n = 2
    scores = post_transform(ctx, scores, how)
    if n > 1:
        best = op(ctx, "ArgMax", [scores, ctx.i64(1, "axis")], I64, T=F32, Tidx=I64, output_type=I64)
        if labels is None:
            return [best, scores]
        table = ctx.i64(labels) if ints is not None else str_const(ctx, labels, "classes")
        return [_gather(ctx, table, best), scores]
    if strs is not None:
        raise ctx.unsupported("a one-score classifier with string labels")
    hit = binary(ctx, "GreaterEqual", scores, ctx.const(np.float32(0 if how == "NONE" else 0.5), "thr"))
    one = int(ints[0]) if ints is not None else 1
    label = select(ctx, hit, ctx.i64(np.full((1, 1), one)), ctx.i64(np.zeros((1, 1), np.int64)))
    return [reshape(ctx, label, ctx.i64([-1])), scores]


def _gather(ctx: LiftContext, table: ir.Value, idx: ir.Value, axis: int = 0) -> ir.Value:
    t = ctx.dtype(table)
    return op(ctx, "GatherV2", [table, idx, ctx.i64(axis, "axis")], t, Tparams=t, Tindices=ctx.dtype(idx),
              Taxis=I64, batch_dims=0)


@register("ArrayFeatureExtractor")
def lift_array_feature_extractor(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, idx = node.inputs
    idx = reshape(ctx, cast(ctx, idx, I64), ctx.i64([-1]))
    y = _gather(ctx, x, idx, -1)
    return [reshape(ctx, y, ctx.i64([1, -1])) if ctx.rank(x) == 1 else y]


# ---- LabelEncoder ----------------------------------------------------------------------------
_KINDS = ("floats", "int64s", "strings")
_DEFAULTS = {"floats": ("default_float", -0.0, np.float32), "int64s": ("default_int64", -1, np.int64),
             "strings": ("default_string", b"_Unused", object)}


def _label_table(ctx: LiftContext, node: ir.Node, side: str) -> tuple[np.ndarray, str]:
    for kind in _KINDS:
        a = array_attr(node, f"{side}_{kind}", _DEFAULTS[kind][2])
        if a is not None:
            return a, kind
    a = array_attr(node, f"{side}_tensor")
    if a is None:
        raise ctx.unsupported(f"LabelEncoder without {side}")
    return a.ravel(), "tensor"


def _label_default(node: ir.Node, kind: str, values: np.ndarray) -> np.ndarray:
    if kind == "tensor":
        d = array_attr(node, "default_tensor")
        if d is not None:
            return d.reshape(()).astype(values.dtype)
        kind = {"f": "floats", "i": "int64s", "u": "int64s"}.get(values.dtype.kind, "strings")
    name, default, dtype = _DEFAULTS[kind]
    v = node.attr(name, default)
    v = v.encode() if isinstance(v, str) else v
    return np.asarray(v, dtype=values.dtype if kind != "strings" else dtype)


def _table_const(ctx: LiftContext, a: np.ndarray, name: str) -> ir.Value:
    return ctx.const(a, name, STR) if a.dtype == object else ctx.const(a, name)


@register("LabelEncoder")
def lift_label_encoder(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    keys, _ = _label_table(ctx, node, "keys")
    values, vkind = _label_table(ctx, node, "values")
    return [lookup(ctx, node.inputs[0], keys, values, _label_default(node, vkind, values))]


def lookup(ctx: LiftContext, x: ir.Value, keys: np.ndarray, values: np.ndarray,
           default: np.ndarray) -> ir.Value:
    """Each element of ``x``'s value for the equal key (a repeated key: its last value), else
    ``default``."""
    last = {}
    for i, k in enumerate(keys.tolist()):
        last[k] = i
    order = np.asarray(sorted(last.values()), np.int64)
    keys, values = keys[order], values[order]
    out_t = ir.DType.STRING if values.dtype == object else ir.DType.from_numpy(values.dtype)
    dflt = _table_const(ctx, np.asarray(default, values.dtype).reshape(()), "default")
    if keys.size == 0:
        return op(ctx, "Fill", [op(ctx, "Shape", [x], I64, T=ctx.dtype(x), out_type=I64), dflt], out_t,
                  T=out_t, index_type=I64)
    eq = key_matches(ctx, x, keys)
    hit = op(ctx, "Any", [eq, ctx.i64(-1, "axis")], BOOL, Tidx=I64, keep_dims=False)
    idx = op(ctx, "ArgMax", [cast(ctx, eq, I32), ctx.i64(-1, "axis")], I64, T=I32, Tidx=I64, output_type=I64)
    val = _gather(ctx, _table_const(ctx, values, "values"), idx)
    return op(ctx, "SelectV2", [hit, val, dflt], out_t, T=out_t)


def key_matches(ctx: LiftContext, x: ir.Value, keys: np.ndarray) -> ir.Value:
    """[..., K] bool: element == key (NaN matches a NaN key)."""
    kt = ctx.dtype(x)
    if (kt is STR) != (keys.dtype == object):
        raise ctx.unsupported(f"{kt} input with {'string' if keys.dtype == object else 'numeric'} keys")
    key_c = ctx.const(keys, "keys", STR) if kt is STR else ctx.const(keys.astype(kt.numpy), "keys")
    xe = op(ctx, "ExpandDims", [x, ctx.i64(-1, "axis")], kt, T=kt, Tdim=I64)
    eq = binary(ctx, "Equal", xe, key_c)
    if kt is not STR and keys.dtype.kind == "f" and np.isnan(keys).any():
        nan_key = ctx.const(np.isnan(keys), "nan_keys")
        nan_x = op(ctx, "IsNan", [xe], BOOL, T=kt)
        eq = op(ctx, "LogicalOr", [eq, op(ctx, "LogicalAnd", [nan_x, nan_key], BOOL)], BOOL)
    return eq
