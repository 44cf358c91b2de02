"""Numpy evaluators for fold-constants: one small function per op type, in ``EVALUATORS``.

Each evaluator takes the node and its input arrays (``None`` for an omitted optional input)
and returns the output arrays. It must agree bit for bit with ONNX Runtime on the dtypes it
accepts (tests/passes/test_fold_constants.py checks every one against a one-node ORT session).
Where numpy cannot promise that (float reductions sum in another order, float Range
accumulates, Min/Max with NaN, dtypes numpy computes through another width) the evaluator
raises :class:`Fallback` and the ORT evaluator runs the node instead. Where the result would
be undefined or an error in ONNX Runtime too (integer division by zero, an index out of
range, a float -> int cast of NaN) it raises :class:`NotFoldable` and the node stays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .. import ir

Arrays = Sequence[np.ndarray | None]
Evaluator = Callable[[ir.Node, Arrays], list[np.ndarray]]

INT64_MAX = np.iinfo(np.int64).max


class NotFoldable(Exception):
    """The node cannot be folded (undefined or failing evaluation): it stays, logged at DEBUG."""


class Fallback(Exception):
    """numpy cannot promise ORT's exact result here: evaluate with ONNX Runtime instead."""


EVALUATORS: dict[str, Evaluator] = {}

_EXACT_FLOAT = (np.float32, np.float64)
_INTS = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
_NUMERIC = (*_EXACT_FLOAT, *_INTS)


def evaluator(*ops: str) -> Callable[[Evaluator], Evaluator]:
    def wrap(fn: Evaluator) -> Evaluator:
        for op in ops:
            EVALUATORS[op] = fn
        return fn

    return wrap


def _require(arrays: Arrays, kinds: tuple, n: int | None = None) -> None:
    """Fallback unless the first ``n`` (default: all present) inputs have one of ``kinds``."""
    for a in list(arrays)[:n]:
        if a is not None and a.dtype.type not in kinds:
            raise Fallback(f"dtype {a.dtype} left to ONNX Runtime")


def _ints(a: np.ndarray | None) -> list[int]:
    return [] if a is None else [int(x) for x in np.asarray(a).reshape(-1)]


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise NotFoldable(f"axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


# ---- elementwise ----------------------------------------------------------------------------
_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}


@evaluator("Add", "Sub", "Mul")
def eval_arith(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    _require(x, _NUMERIC)
    with np.errstate(all="ignore"):  # integer wrap-around and inf/nan as in ORT
        return [_BINARY[node.op_type](x[0], x[1])]


@evaluator("Div")
def eval_div(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    _require(x, _NUMERIC)
    a, b = x[0], x[1]
    if a.dtype.kind == "f":
        with np.errstate(all="ignore"):
            return [np.divide(a, b)]
    if not b.all():
        raise NotFoldable("integer division by zero")
    q = np.floor_divide(a, b)  # floor; ONNX truncates toward zero
    if a.dtype.kind == "i":
        q = q + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0))).astype(q.dtype)
    return [q]


@evaluator("Neg", "Abs")
def eval_neg_abs(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    _require(x, (*_EXACT_FLOAT, np.int8, np.int16, np.int32, np.int64))
    with np.errstate(all="ignore"):
        return [np.negative(x[0]) if node.op_type == "Neg" else np.abs(x[0])]


@evaluator("Sqrt", "Floor", "Ceil", "Reciprocal")
def eval_float_unary(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    """Correctly rounded in IEEE arithmetic, so equal to ORT's (Reciprocal: Keras' rsqrt of
    BatchNormalization, once per conv; without it ORT was imported for that alone)."""
    _require(x, _EXACT_FLOAT)
    fn = {"Sqrt": np.sqrt, "Floor": np.floor, "Ceil": np.ceil, "Reciprocal": np.reciprocal}[node.op_type]
    with np.errstate(all="ignore"):
        return [fn(x[0])]


@evaluator("Min", "Max")
def eval_min_max(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    _require(x, _NUMERIC)
    if any(a.dtype.kind == "f" and np.isnan(a).any() for a in x):
        raise Fallback("NaN handling left to ONNX Runtime")
    fn = np.minimum if node.op_type == "Min" else np.maximum
    out = x[0]
    for a in x[1:]:
        out = fn(out, a)
    return [np.array(out, copy=True)]


_COMPARE = {"Equal": np.equal, "Less": np.less, "Greater": np.greater,
            "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal}  # fmt: skip


@evaluator(*_COMPARE)
def eval_compare(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    _require(x, (*_NUMERIC, np.bool_))
    return [_COMPARE[node.op_type](x[0], x[1])]


@evaluator("Not", "And", "Or", "Xor")
def eval_logic(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    _require(x, (np.bool_,))
    if node.op_type == "Not":
        return [np.logical_not(x[0])]
    fn = {"And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor}[node.op_type]
    return [fn(x[0], x[1])]


@evaluator("Where")
def eval_where(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    return [np.where(x[0], x[1], x[2])]


@evaluator("Cast")
def eval_cast(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    to = ir.DType.from_onnx(int(node.attr("to")))
    src = x[0]
    ok = (*_NUMERIC, np.bool_)
    if src.dtype.type not in ok or to.numpy.type not in ok or node.attr("saturate", 1) != 1:
        raise Fallback(f"Cast {src.dtype} -> {to} left to ONNX Runtime")
    if src.dtype.kind == "f" and to.numpy.kind in "iu":
        info = np.iinfo(to.numpy)
        if not np.isfinite(src).all() or (src < info.min).any() or (src >= float(info.max) + 1).any():
            raise NotFoldable(f"Cast to {to} of NaN, inf or an out-of-range value is undefined")
    return [src.astype(to.numpy)]


@evaluator("Identity")
def eval_identity(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    return [x[0]]


# ---- shape and layout -----------------------------------------------------------------------
@evaluator("Shape")
def eval_shape(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    return [shape_slice(x[0].shape, node)]


def shape_slice(shape: Sequence[object], node: ir.Node) -> np.ndarray:
    """Shape's [start:end] selection (clamped as ONNX says), as an int64 array."""
    rank = len(shape)
    start, end = int(node.attr("start", 0)), node.attr("end")
    end = rank if end is None else int(end)
    start, end = (min(max(i + rank if i < 0 else i, 0), rank) for i in (start, end))
    return np.array(list(shape[start:end]), dtype=np.int64)


@evaluator("Size")
def eval_size(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    return [np.array(x[0].size, dtype=np.int64)]


@evaluator("Reshape")
def eval_reshape(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    return [x[0].reshape(reshape_target(x[0].shape, _ints(x[1]), bool(node.attr("allowzero", 0))))]


def reshape_target(src: tuple[int, ...], dims: list[int], allowzero: bool) -> tuple[int, ...]:
    out = []
    for i, d in enumerate(dims):
        if d == 0 and not allowzero:
            if i >= len(src):
                raise NotFoldable(f"Reshape target {dims} copies a dim {list(src)} lacks")
            d = src[i]
        out.append(d)
    if out.count(-1) > 1 or any(d < -1 for d in out):
        raise NotFoldable(f"bad Reshape target {dims} for {list(src)}")
    total = int(np.prod(src, dtype=np.int64))
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1], dtype=np.int64))
        if known == 0 or total % known:
            raise NotFoldable(f"Reshape {list(src)} -> {dims}: -1 cannot be resolved")
        out[out.index(-1)] = total // known
    if int(np.prod(out, dtype=np.int64)) != total:
        raise NotFoldable(f"Reshape {list(src)} -> {dims}: element counts differ")
    return tuple(out)


@evaluator("Unsqueeze")
def eval_unsqueeze(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    rank = x[0].ndim + len(_ints(x[1]))
    axes = sorted(_axis(a, rank) for a in _ints(x[1]))
    if len(set(axes)) != len(axes):
        raise NotFoldable(f"repeated Unsqueeze axes {axes}")
    shape = list(x[0].shape)
    for a in axes:
        shape.insert(a, 1)
    return [x[0].reshape(shape)]


@evaluator("Squeeze")
def eval_squeeze(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    data = x[0]
    if len(x) < 2 or x[1] is None:
        return [data.reshape([d for d in data.shape if d != 1])]
    axes = {_axis(a, data.ndim) for a in _ints(x[1])}
    if any(data.shape[a] != 1 for a in axes):
        raise NotFoldable(f"Squeeze of a dim that is not 1 (axes {sorted(axes)})")
    return [data.reshape([d for i, d in enumerate(data.shape) if i not in axes])]


@evaluator("Transpose")
def eval_transpose(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    perm = node.attr("perm")
    perm = list(reversed(range(x[0].ndim))) if perm is None else [int(p) for p in perm]
    return [np.ascontiguousarray(np.transpose(x[0], perm))]


@evaluator("Concat")
def eval_concat(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    arrays = [a for a in x if a is not None]
    return [np.concatenate(arrays, axis=_axis(int(node.attr("axis")), arrays[0].ndim))]


@evaluator("Gather")
def eval_gather(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    data, idx = x[0], x[1].astype(np.int64)
    axis = _axis(int(node.attr("axis", 0)), data.ndim)
    n = data.shape[axis]
    if ((idx < -n) | (idx >= n)).any():
        raise NotFoldable(f"Gather index out of range [{-n}, {n})")
    return [np.take(data, np.where(idx < 0, idx + n, idx), axis=axis)]


@evaluator("Slice")
def eval_slice(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    data, starts, ends = x[0], _ints(x[1]), _ints(x[2])
    axes = _ints(x[3]) if len(x) > 3 and x[3] is not None else list(range(len(starts)))
    steps = _ints(x[4]) if len(x) > 4 and x[4] is not None else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        a = _axis(axis, data.ndim)
        index[a] = slice_bounds(start, end, step, data.shape[a])
    return [np.array(data[tuple(index)], copy=True)]


def slice_bounds(start: int, end: int, step: int, dim: int) -> slice:
    """ONNX Slice clamping for one axis, as a Python slice (a negative end means 'none')."""
    if step == 0:
        raise NotFoldable("Slice step 0")
    start, end = (i + dim if i < 0 else i for i in (start, end))
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return slice(start, None if end < 0 else end, step)


@evaluator("Expand")
def eval_expand(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    shape = np.broadcast_shapes(x[0].shape, tuple(_ints(x[1])))
    return [np.array(np.broadcast_to(x[0], shape), copy=True)]


@evaluator("Tile")
def eval_tile(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    reps = _ints(x[1])
    if len(reps) != x[0].ndim or any(r < 0 for r in reps):
        raise NotFoldable(f"Tile repeats {reps} for rank {x[0].ndim}")
    return [np.tile(x[0], reps)]


# ---- generators -----------------------------------------------------------------------------
@evaluator("ConstantOfShape")
def eval_constant_of_shape(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    value = node.attr("value")
    fill = np.zeros((1,), np.float32) if value is None else value.numpy().reshape(-1)
    dims = _ints(x[0])
    if any(d < 0 for d in dims):
        raise NotFoldable(f"ConstantOfShape of negative dims {dims}")
    return [np.full(dims, fill[0], dtype=fill.dtype)]


@evaluator("Range")
def eval_range(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    _require(x, _INTS)  # float Range accumulates in ORT: left to it
    start, limit, delta = (int(a) for a in x)
    if delta == 0:
        raise NotFoldable("Range delta 0")
    n = max(-((start - limit) // delta), 0)
    return [(start + np.arange(n, dtype=np.int64) * delta).astype(x[0].dtype)]


@evaluator("Constant")
def eval_constant(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    (name, attr), *rest = node.attrs.items()
    if rest:
        raise NotFoldable("Constant with more than one attribute")
    scalars = {"value_float": np.float32, "value_floats": np.float32,
               "value_int": np.int64, "value_ints": np.int64}  # fmt: skip
    if name == "value":
        return [attr.value.numpy()]
    if name in scalars:
        return [np.array(attr.value, dtype=scalars[name])]
    raise Fallback(f"Constant {name} left to ONNX Runtime")


# ---- reductions -------------------------------------------------------------------------------
@evaluator("ReduceSum", "ReduceProd", "ReduceMin", "ReduceMax")
def eval_reduce(node: ir.Node, x: Arrays) -> list[np.ndarray]:
    _require(x, _INTS, n=1)  # float sums differ in order from ORT's: left to it
    data = x[0]
    axes = _ints(x[1]) if len(x) > 1 and x[1] is not None else []
    if not axes and node.attr("noop_with_empty_axes", 0):
        return [data]
    if not axes:
        axes = list(range(data.ndim))
    if data.size == 0 and node.op_type in ("ReduceMin", "ReduceMax"):
        raise Fallback("empty ReduceMin/ReduceMax left to ONNX Runtime")
    fn = {"ReduceSum": np.sum, "ReduceProd": np.prod,
          "ReduceMin": np.min, "ReduceMax": np.max}[node.op_type]  # fmt: skip
    axes_t = tuple(sorted({_axis(a, data.ndim) for a in axes}))
    keep = bool(node.attr("keepdims", 1))
    return [np.asarray(fn(data, axis=axes_t, keepdims=keep), dtype=data.dtype)]
