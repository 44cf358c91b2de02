"""simplify, pooling rule: a ReduceMean over every spatial axis is a GlobalAveragePool.

``ReduceMean(x, axes=[2, .., r-1])`` of a floating tensor of rank r >= 3 computes exactly what
``GlobalAveragePool(x)`` computes (keepdims=1), or that followed by ``Flatten(axis=1)``
(keepdims=0: ``[N, C]``): the mean over the same elements. TF's global pooling (Keras'
GlobalAveragePooling2D is a ``Mean`` over H and W) arrives as such a ReduceMean after the layout
pass.

Why: ONNX Runtime runs GlobalAveragePool inside its NCHWc layout right after NCHWc
convolutions, where a ReduceMean first needs the tensor reordered back to NCHW and then takes the
generic reduction path (tf2onnx writes GlobalAveragePool for the same Mean). A small gain: about
1% of Keras' MobileNetV2 latency on ORT 1.31 (interleaved A/B, 300 runs each).

A keepdims=0 ReduceMean read only by a Reshape is left to simplify_reshape's
``rule_reduce_keepdims`` first (an SE block's pool -> reshape to [N, C, 1, 1] becomes one
keepdims=1 ReduceMean, which this rule then turns into one GlobalAveragePool).
"""

from __future__ import annotations

from collections.abc import Callable

from .. import ir
from ._edit import remove_nodes, replace_value
from .simplify_common import ONNX_DOMAINS, const_axes, drop_initializer_if_unused, in_function, take_name

Rule = Callable[[ir.Model, ir.Node], bool]
_FLOATS = (ir.DType.FLOAT, ir.DType.DOUBLE, ir.DType.FLOAT16, ir.DType.BFLOAT16)


def rule_reduce_mean_as_pool(model: ir.Model, node: ir.Node) -> bool:
    """ReduceMean over axes 2..r-1 -> GlobalAveragePool (+ Flatten(axis=1) for keepdims=0)."""
    x = node.inputs[0] if node.inputs else None
    if node.domain not in ONNX_DOMAINS or x is None or x.dtype not in _FLOATS or x.shape is None:
        return False
    rank = len(x.shape)
    if rank < 3 or in_function(model, node.graph) or _axes(node, rank) != list(range(2, rank)):
        return False
    keep = bool(node.attr("keepdims", 1))
    if not keep and _read_by_reshape(node.outputs[0]):
        return False
    g, out = node.graph, node.outputs[0]
    pool = ir.Node("GlobalAveragePool", [x], name=f"{node.name}_pool")
    pool.outputs[0].type = ir.TensorType(x.dtype, (*x.shape[:2], *([1] * (rank - 2))))
    made = [pool]
    if not keep:
        made.append(ir.Node("Flatten", [pool.outputs[0]], name=f"{node.name}_flatten",
                            attrs={"axis": ir.Attr(ir.AttrType.INT, 1)}))
        made[-1].outputs[0].type = out.type
    for n in made:
        g.insert_before(node, n)
    if not replace_value(model, out, made[-1].outputs[0]):  # cannot happen: the new nodes are local
        remove_nodes(g, reversed(made))
        return False
    take_name(model, g, out, made[-1].outputs[0], ".old")
    axes = node.inputs[1] if len(node.inputs) > 1 else None
    remove_nodes(g, [node])
    drop_initializer_if_unused(model, axes)
    return True


def _axes(node: ir.Node, rank: int) -> list[int] | None:
    """The constant reduced axes, normalized and sorted; None when not constant or empty."""
    axes = const_axes(node)
    if not axes or any(not -rank <= a < rank for a in axes):
        return None
    return sorted({a % rank for a in axes})


def _read_by_reshape(v: ir.Value) -> bool:
    return any(u.node.op_type == "Reshape" and u.node.domain in ONNX_DOMAINS for u in v.uses())


POOL_RULES: dict[str, tuple[Rule, ...]] = {
    "ReduceMean": (rule_reduce_mean_as_pool,),
}
