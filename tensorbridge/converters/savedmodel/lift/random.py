"""Lift: random ops. RandomUniform, RandomNormal, their *Like forms, Bernoulli, Multinomial.

TF draws with its own generator (RandomUniform, RandomStandardNormal, Multinomial): an ONNX
op with a ``seed`` gets TF's op seeds (seed, 1), so the SavedModel gives the same values on
every run, but never numpy's or onnxruntime's values (ONNX leaves the generator to the
runtime); an op without one draws afresh each run, as in ONNX. The TF ops are stateful: a
random op inside a control-flow body is refused (its If/While would have to be the stateful
kinds, and the lifted ones are StatelessIf/StatelessWhile).

- RandomUniform / RandomUniformLike: ``low + (high - low) * u``, u uniform in [0, 1);
- RandomNormal / RandomNormalLike: ``mean + scale * n``, n standard normal;
- Bernoulli: ``u < p`` (u uniform in [0, 1) of p's shape), as 0/1 of ``dtype``;
- Multinomial: TF's Multinomial takes the same unnormalized log-probabilities [batch, class].
"""

from __future__ import annotations

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from ._mathutil import scalar
from .array import binary, shape_of

D = ir.DType
_FLOATS = (D.FLOAT16, D.BFLOAT16, D.FLOAT, D.DOUBLE)


def _seeds(ctx: LiftContext, node: ir.Node) -> dict[str, int]:
    if node.graph is not None and node.graph.owner is not None:
        raise ctx.unsupported("a random op inside a control-flow body (the lifted If/While are "
                              "TF's stateless kinds)")
    seed = node.attr("seed")
    return {"seed": 0, "seed2": 0} if seed is None else {"seed": int(seed) & 0x7FFFFFFF, "seed2": 1}


def _dtype(ctx: LiftContext, node: ir.Node, default: ir.DType) -> ir.DType:
    code = node.attr("dtype")
    t = D.from_onnx(int(code)) if code is not None else default
    if t not in _FLOATS:
        raise ctx.unsupported(f"{node.op_type} of {t} (ONNX defines it on floating types)")
    return t


def _draw(ctx: LiftContext, node: ir.Node, tf_op: str, shape: ir.Value, dtype: ir.DType,
          dims: ir.Shape | None) -> ir.Value:
    return ctx.tf(tf_op, [shape], dtype=dtype, T=D.INT64, **_seeds(ctx, node),
                  types=[ir.TensorType(dtype, dims)])


def _uniform_affine(node: ir.Node) -> tuple[float, float]:
    low, high = float(node.attr("low", 0.0)), float(node.attr("high", 1.0))
    return low, high - low


def _normal_affine(node: ir.Node) -> tuple[float, float]:
    return float(node.attr("mean", 0.0)), float(node.attr("scale", 1.0))


# ONNX op -> (TF op drawing in [0, 1) or N(0, 1), (shift, scale) from the node's attributes)
_DRAWS = {
    "RandomUniform": ("RandomUniform", _uniform_affine),
    "RandomUniformLike": ("RandomUniform", _uniform_affine),
    "RandomNormal": ("RandomStandardNormal", _normal_affine),
    "RandomNormalLike": ("RandomStandardNormal", _normal_affine),
}


@TF_LIFT.register(*_DRAWS)
def lift_random(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """shift + scale * draw, of the ``shape`` attribute (dtype default float) or, for the
    *Like forms, of the input's shape (dtype default the input's)."""
    tf_op, affine = _DRAWS[node.op_type]
    if node.op_type.endswith("Like"):
        x = node.inputs[0]
        dtype, shape, dims = _dtype(ctx, node, ctx.dtype(x)), shape_of(ctx, x), x.shape
    else:
        dims = tuple(int(d) for d in node.attr("shape", ()))
        dtype, shape = _dtype(ctx, node, D.FLOAT), ctx.i64(list(dims), "shape")
    shift, scale = affine(node)
    y = binary(ctx, "Mul", _draw(ctx, node, tf_op, shape, dtype, dims), scalar(ctx, scale, dtype, "scale"))
    return [binary(ctx, "AddV2", y, scalar(ctx, shift, dtype, "shift"))]


@TF_LIFT.register("Bernoulli")
def lift_bernoulli(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    p = node.inputs[0]
    pt = ctx.dtype(p)
    if pt not in _FLOATS:
        raise ctx.unsupported(f"Bernoulli of {pt} probabilities")
    code = node.attr("dtype")
    out = D.from_onnx(int(code)) if code is not None else pt
    u = _draw(ctx, node, "RandomUniform", shape_of(ctx, p), pt, p.shape)
    return [ctx.cast(binary(ctx, "Less", u, p), out)]


@TF_LIFT.register("Multinomial")
def lift_multinomial(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    logits = node.inputs[0]
    t = ctx.dtype(logits)
    if t not in _FLOATS:
        raise ctx.unsupported(f"Multinomial of {t} logits")
    out = D.from_onnx(int(node.attr("dtype", 6)))  # int32 by default
    if out not in (D.INT32, D.INT64):
        raise ctx.unsupported(f"Multinomial to {out} (ONNX allows int32 and int64)")
    n = int(node.attr("sample_size", 1))
    batch = logits.shape[0] if logits.shape is not None and len(logits.shape) == 2 else None
    return [ctx.tf("Multinomial", [logits, ctx.i32(n, "num_samples")], T=t, output_dtype=out,
                   **_seeds(ctx, node), types=[ir.TensorType(out, (batch, n))])]
