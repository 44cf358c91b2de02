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

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext

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


def _shape_of(ctx: LiftContext, x: ir.Value) -> ir.Value:
    rank = ctx.rank(x)
    return ctx.tf("Shape", [x], T=ctx.dtype(x), out_type=D.INT64,
                  types=[ir.TensorType(D.INT64, None if rank is None else (rank,))])


def _draw(ctx: LiftContext, node: ir.Node, tf_op: str, shape: ir.Value, dtype: ir.DType,
          dims: ir.Shape | None) -> ir.Value:
    return ctx.tf(tf_op, [shape], dtype=dtype, T=D.INT64, **_seeds(ctx, node),
                  types=[ir.TensorType(dtype, dims)])


def _affine(ctx: LiftContext, x: ir.Value, scale: float, shift: float, dtype: ir.DType) -> ir.Value:
    """shift + scale * x, in ``dtype``."""
    t = ir.TensorType(dtype, x.shape)
    y = ctx.tf("Mul", [x, ctx.const(np.asarray(scale, dtype.numpy), "scale")], T=dtype, types=[t])
    return ctx.tf("AddV2", [y, ctx.const(np.asarray(shift, dtype.numpy), "shift")], T=dtype, types=[t])


def _static(ctx: LiftContext, node: ir.Node) -> tuple[ir.Value, ir.Shape]:
    dims = tuple(int(d) for d in node.attr("shape", ()))
    return ctx.i64(list(dims), "shape"), dims


@TF_LIFT.register("RandomUniform")
def lift_random_uniform(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    dtype, (shape, dims) = _dtype(ctx, node, D.FLOAT), _static(ctx, node)
    return [_uniform(ctx, node, shape, dtype, dims)]


@TF_LIFT.register("RandomUniformLike")
def lift_random_uniform_like(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    dtype = _dtype(ctx, node, ctx.dtype(x))
    return [_uniform(ctx, node, _shape_of(ctx, x), dtype, x.shape)]


def _uniform(ctx: LiftContext, node: ir.Node, shape: ir.Value, dtype: ir.DType, dims) -> ir.Value:
    low, high = float(node.attr("low", 0.0)), float(node.attr("high", 1.0))
    u = _draw(ctx, node, "RandomUniform", shape, dtype, dims)
    return _affine(ctx, u, high - low, low, dtype)


@TF_LIFT.register("RandomNormal")
def lift_random_normal(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    dtype, (shape, dims) = _dtype(ctx, node, D.FLOAT), _static(ctx, node)
    return [_normal(ctx, node, shape, dtype, dims)]


@TF_LIFT.register("RandomNormalLike")
def lift_random_normal_like(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    dtype = _dtype(ctx, node, ctx.dtype(x))
    return [_normal(ctx, node, _shape_of(ctx, x), dtype, x.shape)]


def _normal(ctx: LiftContext, node: ir.Node, shape: ir.Value, dtype: ir.DType, dims) -> ir.Value:
    mean, scale = float(node.attr("mean", 0.0)), float(node.attr("scale", 1.0))
    n = _draw(ctx, node, "RandomStandardNormal", shape, dtype, dims)
    return _affine(ctx, n, scale, mean, dtype)


@TF_LIFT.register("Bernoulli")
def lift_bernoulli(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    p = node.inputs[0]
    pt = ctx.dtype(p)
    if pt not in _FLOATS:
        raise ctx.unsupported(f"Bernoulli of {pt} probabilities")
    code = node.attr("dtype")
    out = D.from_onnx(int(code)) if code is not None else pt
    u = _draw(ctx, node, "RandomUniform", _shape_of(ctx, p), pt, p.shape)
    hit = ctx.tf("Less", [u, p], T=pt, types=[ir.TensorType(D.BOOL, p.shape)])
    return [ctx.tf("Cast", [hit], SrcT=D.BOOL, DstT=out, Truncate=False, types=[ir.TensorType(out, p.shape)])]


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
