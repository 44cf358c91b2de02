"""shape-inference rules: the context they see, dim arithmetic, and the elementwise, NN and
reduction families. The ops that move dims around are in ``shape_inference_shapes``.

A rule is ``fn(node, ctx) -> list[TensorType | None]`` (one entry per output, None: unknown)
registered with ``@rule("Op", ...)``. A rule never guesses: when an input it needs is
unknown, the output dim (or the whole type) is unknown too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from .. import ir

Dim = int | str | None  # as in ir.Shape: static, symbolic (named) or unknown
Dims = tuple[Dim, ...]
Types = list[ir.TensorType | None]
Rule = Callable[[ir.Node, "InferContext"], Types]
RULES: dict[str, Rule] = {}


class ShapeConflict(ValueError):
    """An inferred static dim or element type contradicts the declared one."""


def rule(*ops: str) -> Callable[[Rule], Rule]:
    def wrap(fn: Rule) -> Rule:
        for op in ops:
            RULES[op] = fn
        return fn

    return wrap


class InferContext:
    """Read access to a node's inputs (types and tracked integer values) for one rule call;
    ``set_values`` records the known elements of an output for later nodes."""

    def __init__(self, node: ir.Node, known: dict[ir.Value, Dims]) -> None:
        self.node = node
        self.known = known
        self.values_out: dict[ir.Value, Dims] = {}

    def input(self, i: int) -> ir.Value | None:
        ins = self.node.inputs
        return ins[i] if i < len(ins) else None

    def dtype(self, i: int = 0) -> ir.DType | None:
        v = self.input(i)
        return None if v is None else v.dtype

    def shape(self, i: int = 0) -> ir.Shape | None:
        v = self.input(i)
        return None if v is None else v.shape

    def values(self, i: int) -> Dims | None:
        """Elements of a small integer input: ints, symbolic names or None (unknown)."""
        v = self.input(i)
        return None if v is None else self.known.get(v)

    def ints(self, i: int) -> list[int] | None:
        """The input's elements when they are all static ints."""
        vals = self.values(i)
        if vals is None or not all(isinstance(x, int) for x in vals):
            return None
        return list(vals)  # type: ignore[arg-type]

    def set_values(self, out: int, values: Sequence[Dim] | None) -> None:
        if values is not None:
            self.values_out[self.node.outputs[out]] = tuple(values)


def tensor(dtype: ir.DType | None, shape: ir.Shape | None) -> ir.TensorType | None:
    return None if dtype is None else ir.TensorType(dtype, None if shape is None else tuple(shape))


def axis(a: int, rank: int) -> int:
    if not -rank <= a < max(rank, 1):
        raise ShapeConflict(f"axis {a} is out of range for rank {rank}")
    return a + rank if a < 0 else a


# ---- dim arithmetic --------------------------------------------------------------------------
def broadcast(shapes: Sequence[ir.Shape | None]) -> ir.Shape | None:
    """Numpy-style multidirectional broadcasting of shapes with symbolic dims."""
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)  # type: ignore[arg-type]
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]  # type: ignore
        out.append(_broadcast_dim(dims))
    return tuple(out)


def _broadcast_dim(dims: list[Dim]) -> Dim:
    static = {d for d in dims if isinstance(d, int) and d != 1}
    if len(static) > 1:
        raise ShapeConflict(f"dims {sorted(static)} do not broadcast")
    if static:
        return static.pop()  # every other dim must be 1 or equal to it
    rest = [d for d in dims if d != 1]
    if not rest:
        return 1
    if all(isinstance(d, str) and d == rest[0] for d in rest):
        return rest[0]
    return None


def product(dims: Sequence[Dim]) -> Dim:
    """Product of dims: an int when all are ints, a symbol times ones stays the symbol."""
    syms = [d for d in dims if not isinstance(d, int)]
    n = math.prod(d for d in dims if isinstance(d, int))
    if not syms:
        return n
    if len(syms) == 1 and isinstance(syms[0], str) and n == 1:
        return syms[0]
    return None


def out_dim(d: Dim, k: int, stride: int, dil: int, pads: int, mode: str) -> Dim:
    """A Conv/Pool output dim (floor rounding) for input dim ``d`` and kernel ``k``."""
    if not isinstance(d, int):
        return None
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        return -(-d // stride)
    span = dil * (k - 1) + 1
    if mode == "VALID":
        pads = 0
    return (d + pads - span) // stride + 1


# ---- elementwise -----------------------------------------------------------------------------
@rule("Abs", "Neg", "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Reciprocal", "Floor",
      "Ceil", "Round", "Erf", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh",
      "Asinh", "Acosh", "Atanh", "Softplus", "Softsign", "Elu", "Selu", "Celu", "LeakyRelu",
      "HardSigmoid", "HardSwish", "Gelu", "Mish", "Sign", "ThresholdedRelu", "Clip", "Softmax",
      "LogSoftmax", "Hardmax", "LRN", "InstanceNormalization", "MeanVarianceNormalization",
      "Not", "BitwiseNot", "CumSum", "Swish", "Shrink", "PRelu", "ScatterND", "ScatterElements",
      "Trilu", "ReverseSequence", "LpNormalization")
def same_as_input(node: ir.Node, ctx: InferContext) -> Types:
    return [tensor(ctx.dtype(0), ctx.shape(0))]


@rule("Identity")
def identity(node: ir.Node, ctx: InferContext) -> Types:
    ctx.set_values(0, ctx.values(0))
    return same_as_input(node, ctx)


@rule("IsNaN", "IsInf")
def is_special(node: ir.Node, ctx: InferContext) -> Types:
    return [tensor(ir.DType.BOOL, ctx.shape(0))]


@rule("Dropout")
def dropout(node: ir.Node, ctx: InferContext) -> Types:
    return [tensor(ctx.dtype(0), ctx.shape(0)), tensor(ir.DType.BOOL, ctx.shape(0))]


@rule("BatchNormalization", "LayerNormalization", "GroupNormalization",
      "RMSNormalization", "SkipLayerNormalization")
def normalization(node: ir.Node, ctx: InferContext) -> Types:
    return [tensor(ctx.dtype(0), ctx.shape(0))]  # other outputs (training stats): unknown


@rule("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Mean", "Sum", "BitwiseAnd",
      "BitwiseOr", "BitwiseXor", "BitShift")
def broadcasting(node: ir.Node, ctx: InferContext) -> Types:
    shapes = [v.shape for v in node.inputs if v is not None]
    return [tensor(ctx.dtype(0), broadcast(shapes))]


@rule("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor")
def comparison(node: ir.Node, ctx: InferContext) -> Types:
    return [tensor(ir.DType.BOOL, broadcast([ctx.shape(0), ctx.shape(1)]))]


@rule("Where")
def where(node: ir.Node, ctx: InferContext) -> Types:
    return [tensor(ctx.dtype(1), broadcast([ctx.shape(0), ctx.shape(1), ctx.shape(2)]))]


@rule("Cast")
def cast(node: ir.Node, ctx: InferContext) -> Types:
    to = node.attr("to")
    to = to if isinstance(to, ir.DType) else ir.DType.from_onnx(int(to))
    if to.is_integer:
        ctx.set_values(0, ctx.values(0))
    return [tensor(to, ctx.shape(0))]


@rule("CastLike")
def cast_like(node: ir.Node, ctx: InferContext) -> Types:
    return [tensor(ctx.dtype(1), ctx.shape(0))]


# ---- linear algebra --------------------------------------------------------------------------
@rule("MatMul", "MatMulInteger")
def matmul(node: ir.Node, ctx: InferContext) -> Types:
    a, b = ctx.shape(0), ctx.shape(1)
    dtype = ir.DType.INT32 if node.op_type == "MatMulInteger" else ctx.dtype(0)
    if a is None or b is None or not a or not b:
        return [tensor(dtype, None)]
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    batch = broadcast([a2[:-2], b2[:-2]])
    out = [*batch, a2[-2], b2[-1]] if batch is not None else None  # type: ignore[misc]
    if out is not None:
        if len(b) == 1:
            out.pop()
        if len(a) == 1:
            out.pop(-2 if len(b) > 1 else -1)
    return [tensor(dtype, None if out is None else tuple(out))]


@rule("Gemm")
def gemm(node: ir.Node, ctx: InferContext) -> Types:
    a, b = ctx.shape(0), ctx.shape(1)
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        return [tensor(ctx.dtype(0), None)]
    m = a[1] if node.attr("transA", 0) else a[0]
    n = b[0] if node.attr("transB", 0) else b[1]
    return [tensor(ctx.dtype(0), (m, n))]


# ---- convolution and pooling -----------------------------------------------------------------
def _spatial(node: ir.Node, x: ir.Shape, kernel: Sequence[int]) -> list[Dim]:
    k = len(kernel)
    strides = list(node.attr("strides", None) or [1] * k)
    dils = list(node.attr("dilations", None) or [1] * k)
    pads = list(node.attr("pads", None) or [0] * 2 * k)
    mode = node.attr("auto_pad", "NOTSET")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    return [out_dim(x[2 + i], kernel[i], strides[i], dils[i], pads[i] + pads[i + k], mode)
            for i in range(k)]


@rule("Conv", "ConvInteger", "QLinearConv")
def conv(node: ir.Node, ctx: InferContext) -> Types:
    w_at = 3 if node.op_type == "QLinearConv" else 1
    x, w = ctx.shape(0), ctx.shape(w_at)
    dtype = {"ConvInteger": ir.DType.INT32, "QLinearConv": ctx.dtype(7)}.get(node.op_type,
                                                                            ctx.dtype(0))
    if x is None or w is None or len(x) != len(w) or len(x) < 3:
        return [tensor(dtype, None)]
    kernel = node.attr("kernel_shape", None) or w[2:]
    if not all(isinstance(k, int) for k in kernel):
        return [tensor(dtype, (x[0], w[0], *[None] * (len(x) - 2)))]
    return [tensor(dtype, (x[0], w[0], *_spatial(node, x, list(kernel))))]


@rule("MaxPool", "AveragePool", "LpPool")
def pool(node: ir.Node, ctx: InferContext) -> Types:
    x = ctx.shape(0)
    kernel = list(node.attr("kernel_shape", None) or [])
    if x is None or len(x) < 3 or len(kernel) != len(x) - 2:
        return [tensor(ctx.dtype(0), None)]
    spatial = _spatial(node, x, kernel)
    if node.attr("ceil_mode", 0):
        spatial = [None] * len(spatial)  # ceil rounding has edge rules: not guessed
    shape = (x[0], x[1], *spatial)
    return [tensor(ctx.dtype(0), shape), tensor(ir.DType.INT64, shape)]


@rule("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def global_pool(node: ir.Node, ctx: InferContext) -> Types:
    x = ctx.shape(0)
    shape = None if x is None or len(x) < 2 else (x[0], x[1], *[1] * (len(x) - 2))
    return [tensor(ctx.dtype(0), shape)]


# ---- reductions ------------------------------------------------------------------------------
@rule("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
      "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")
def reduce(node: ir.Node, ctx: InferContext) -> Types:
    x = ctx.shape(0)
    keep = node.attr("keepdims", 1)
    if x is None:
        return [tensor(ctx.dtype(0), None)]
    axes = ctx.ints(1) if ctx.input(1) is not None else node.attr("axes", None) or []
    if axes is None:  # axes computed at run time: only the rank is known (with keepdims)
        return [tensor(ctx.dtype(0), (None,) * len(x) if keep else None)]
    if not axes and node.attr("noop_with_empty_axes", 0):
        return [tensor(ctx.dtype(0), x)]
    picked = {axis(a, len(x)) for a in axes} if axes else set(range(len(x)))
    if keep:
        return [tensor(ctx.dtype(0), tuple(1 if i in picked else d for i, d in enumerate(x)))]
    return [tensor(ctx.dtype(0), tuple(d for i, d in enumerate(x) if i not in picked))]


@rule("ArgMax", "ArgMin")
def arg_reduce(node: ir.Node, ctx: InferContext) -> Types:
    x = ctx.shape(0)
    if x is None:
        return [tensor(ir.DType.INT64, None)]
    a = axis(node.attr("axis", 0), len(x))
    keep = node.attr("keepdims", 1)
    shape = tuple(1 if i == a else d for i, d in enumerate(x)) if keep else x[:a] + x[a + 1:]
    return [tensor(ir.DType.INT64, shape)]
