"""simplify, tensordot rules: Keras 3 Dense layers on [N, H, W, C] inputs.

TF's tensordot flattens the free dims with a shape computed at run time, multiplies, and
restores them:

    Reshape(MatMul(Reshape(x, [prod(shape(x)[:-1]), shape(x)[-1]]), W), [*shape(x)[:-1], C'])

which is ``MatMul(x, W)`` (ONNX MatMul broadcasts a rank-r x against a 2-D W). The shapes are
recognized exactly: the first target's second entry is x's last dim (Shape -> Gather/Slice
-> ReduceProd), the second target is x's dims 0..r-2 then the constant C' = W's columns, and
x's rank r is known. Then MatMul(x, W) on an NHWC view of an NCHW x is a 1x1 Conv
(``rule_matmul_as_conv``, applied by the layout pass), which carries the NCHW layout through
the layer (ConvNeXt's pointwise layers).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import ir
from ._edit import drop_if_dead, remove_nodes, replace_value
from .simplify_common import ONNX_DOMAINS, const_array, in_function, only_user, producer_of, rank_of
from .simplify_reshape import target_pieces

Rule = Callable[[ir.Model, ir.Node], bool]
_PASS = ("Cast", "Squeeze", "Unsqueeze", "Reshape", "Identity", "ReduceProd")


def rule_tensordot(model: ir.Model, node: ir.Node) -> bool:
    """Reshape(MatMul(Reshape(x, t1), W), t2) -> MatMul(x, W) (see the module doc)."""
    mm = producer_of(node.inputs[0], "MatMul")
    first = producer_of(mm.inputs[0], "Reshape") if mm is not None else None
    if first is None or not only_user(model, mm.outputs[0], node):
        return False
    x, w = first.inputs[0], mm.inputs[1]
    r = rank_of(x)
    if r is None or r < 3 or w is None or w.const is None or len(w.const.shape) != 2:
        return False
    if not only_user(model, first.outputs[0], mm) or not _flattens(first.inputs[1], x, r):
        return False
    if not _restores(node.inputs[1], x, r, int(w.const.shape[1])):
        return False
    old_type = mm.outputs[0].type
    mm.set_input(0, x)
    mm.outputs[0].type = node.outputs[0].type  # the MatMul now makes the Reshape's result
    if not replace_value(model, node.outputs[0], mm.outputs[0]):
        mm.set_input(0, first.outputs[0])
        mm.outputs[0].type = old_type
        return False
    remove_nodes(node.graph, [node])
    drop_if_dead(model, first)
    return True


def _flattens(t: ir.Value, x: ir.Value, r: int) -> bool:
    """t = [anything, x's dim r-1] (the first entry is then fixed by the element count)."""
    pieces = target_pieces(t)
    if pieces is None or len(pieces) != 2 or isinstance(pieces[1], np.ndarray):
        return False
    return _shape_dims(pieces[1], x, prod=True) == [r - 1]


def _restores(t: ir.Value, x: ir.Value, r: int, cols: int) -> bool:
    """t = [x's dims 0..r-2, cols]."""
    pieces = target_pieces(t)
    if pieces is None or not pieces or not isinstance(pieces[-1], np.ndarray):
        return False
    dims: list[int] = []
    for p in pieces[:-1]:
        got = None if isinstance(p, np.ndarray) else _shape_dims(p, x, prod=False)
        if got is None:
            return False
        dims.extend(got)
    return dims == list(range(r - 1)) and pieces[-1].tolist() == [cols]


def _shape_dims(v: ir.Value, x: ir.Value, *, prod: bool) -> list[int] | None:
    """Indices i.. when ``v`` is Gather(Shape(x), [i..]) (their product, through ReduceProd,
    when ``prod``), behind integer Casts and (Un)Squeezes; non-negative indices only."""
    p, reduced = v.producer(), False
    for _ in range(8):
        if p is None or p.domain not in ONNX_DOMAINS:
            return None
        if p.op_type == "Gather":
            break
        if p.op_type not in _PASS or (p.op_type == "ReduceProd" and (not prod or reduced)):
            return None
        reduced = reduced or p.op_type == "ReduceProd"
        p = p.inputs[0].producer() if p.inputs[0] is not None else None
    else:
        return None
    idx = const_array(p.inputs[1])
    src = p.inputs[0]
    cast = producer_of(src, "Cast")
    shape = producer_of(cast.inputs[0] if cast is not None else src, "Shape")
    if idx is None or shape is None or shape.inputs[0] is not x or int(p.attr("axis", 0)) != 0:
        return None
    if shape.attr("start") or shape.attr("end") is not None or (idx.ndim != 1 and not prod):
        return None
    out = [int(i) for i in idx.reshape(-1)]
    return out if all(i >= 0 for i in out) else None


# ---- MatMul on an NHWC view -> 1x1 Conv -----------------------------------------------------
def rule_matmul_as_conv(model: ir.Model, node: ir.Node) -> bool:
    """MatMul(Transpose(x, [0, 2, .., r-1, 1]), W [C, C']) -> Transpose(Conv(x, W' [C', C,
    1..]), same perm): the product over the channel axis, in x's own layout."""
    t = producer_of(node.inputs[0], "Transpose")
    w = node.inputs[1]
    if t is None or w is None or w.const is None or len(w.const.shape) != 2 or in_function(model, node.graph):
        return False
    perm = [int(p) for p in t.attr("perm") or ()]
    r = len(perm)
    if r < 3 or perm != [0, *range(2, r), 1] or w.const.dtype not in (ir.DType.FLOAT, ir.DType.DOUBLE):
        return False
    g, src = node.graph, w.const
    cin, cout = (int(d) for d in src.shape)
    name = g.unique_value_name(f"{w.name}_as_conv")
    lazy = ir.LazyTensor(lambda: np.ascontiguousarray(src.numpy().T).reshape((cout, cin) + (1,) * (r - 2)),
                         src.dtype, (cout, cin) + (1,) * (r - 2), name)
    weight = g.add_initializer(ir.Value(name, const=lazy))
    conv = ir.Node("Conv", [t.inputs[0], weight], name=f"{node.name}_conv")
    back = ir.Node("Transpose", [conv.outputs[0]], {"perm": perm}, name=f"{node.name}_layout")
    back.outputs[0].type = node.outputs[0].type
    g.insert_before(node, [conv, back])
    if not replace_value(model, node.outputs[0], back.outputs[0]):  # cannot happen: local
        remove_nodes(g, [back, conv])
        return False
    remove_nodes(g, [node])
    drop_if_dead(model, t)
    return True


# rule_matmul_as_conv is the layout pass's (passes/layout.py): there the Transpose it needs
# has just been pushed to the MatMul, and moves on past it in the same sweep.
TENSORDOT_RULES: dict[str, tuple[Rule, ...]] = {"Reshape": (rule_tensordot,)}
