"""simplify, reshape rules: what lets a squeeze-and-excitation block's layout change vanish.

Keras' SE block pools to [N, C], reshapes to [N, 1, 1, C] with a shape computed at run time
(``Concat(Shape(x)[0:1], [1, 1, C])``) and then, converted, transposes NHWC -> NCHW before its
1x1 Conv. Three exact steps turn Reshape -> Transpose into one Reshape to [-1, C, 1, 1]
(tf2onnx does the same); the same steps remove the Transpose before a classifier head's
Flatten of a [N, C, 1, 1] NCHW value:

- ``rule_reshape_copy_dim``: a target entry that is the Reshape's own input dim i, taken at
  position i, is ONNX's 0 (copy; allowzero=0): the target becomes a constant;
- ``rule_transpose_as_reshape``: a Transpose that only moves dims of size 1 (every other dim
  keeps its order; sizes from passes/dims.py) is a Reshape; taken only next to another
  Reshape, which it then composes with (elsewhere a Transpose may still cancel against
  another one in the layout pass);
- simplify's ``rule_reshape_chain`` composes Reshape(Reshape(x, s1), s2) also when s2 copies
  dims (0) that s1 copied at the same positions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import ir
from ._edit import drop_if_dead, remove_nodes, replace_value
from .dims import known_dims
from .simplify_common import (
    bypass,
    const_array,
    const_axes,
    in_function,
    new_initializer,
    only_user,
    producer_of,
)
from .simplify_pool import rule_reduce_mean_as_pool

Rule = Callable[[ir.Model, ir.Node], bool]
_INT = (ir.DType.INT32, ir.DType.INT64)
_PASS = ("Cast", "Squeeze", "Unsqueeze", "Reshape", "Identity")  # one-element pass-throughs


# ---- Reshape(x, Concat(..., Shape(x)[i], ...)) --------------------------------------------
def rule_reshape_copy_dim(model: ir.Model, node: ir.Node) -> bool:
    """Entries of a dynamic target that copy the input's own dim at the same position -> 0."""
    x, target = node.inputs[0], node.inputs[1]
    if x is None or const_array(target) is not None or in_function(model, node.graph):
        return False
    pieces = target_pieces(target)
    if pieces is None:
        return False
    out: list[int] = []
    for piece in pieces:
        if isinstance(piece, np.ndarray):
            out.extend(int(e) for e in piece)
        elif _shape_dim_of(piece, x) == len(out):
            out.append(0)
        else:
            return False
    if node.attr("allowzero", 0) and _literal_zero(pieces):
        return False  # a literal 0 (an empty dim) would become a copy
    node.set_input(1, new_initializer(node.graph, f"{target.name}_copy", np.asarray(out, np.int64),
                                      ir.DType.INT64))
    node.set_attr("allowzero", 0)
    return True


def _literal_zero(pieces: list) -> bool:
    return any(isinstance(p, np.ndarray) and bool((p == 0).any()) for p in pieces)


def target_pieces(t: ir.Value) -> list | None:
    """A shape target built as Concat (maybe cast to int64) of constants and one-element
    values: the constants as arrays, the others as Values; None for anything else."""
    cast = producer_of(t, "Cast")
    cat = producer_of(cast.inputs[0] if cast is not None else t, "Concat")
    if cat is None or int(cat.attr("axis", 0)) not in (0, -1):
        return None
    pieces: list = []
    for v in cat.inputs:
        c = const_array(v)
        if c is not None and c.ndim <= 1 and c.dtype.kind in "iu":
            pieces.append(c.reshape(-1).astype(np.int64))
        elif v is not None and c is None:
            pieces.append(v)
        else:
            return None
    return pieces


def _shape_dim_of(v: ir.Value, x: ir.Value) -> int | None:
    """i when ``v`` is dim i of ``x`` as one element: Slice(Shape(x), [i], [i+1]) or
    Gather(Shape(x), i), behind Casts between integer types and (Un)Squeezes."""
    for _ in range(8):
        p = v.producer() if v is not None else None
        if p is None or p.domain not in ("", "ai.onnx"):
            return None
        if p.op_type in ("Slice", "Gather"):
            break
        if p.op_type not in _PASS or (p.op_type == "Cast" and _cast_to(p) not in _INT):
            return None
        v = p.inputs[0]
    else:
        return None
    shape_v = p.inputs[0]
    cast = producer_of(shape_v, "Cast")
    shape = producer_of(cast.inputs[0] if cast is not None else shape_v, "Shape")
    if shape is None or shape.inputs[0] is not x or shape.attr("start") or shape.attr("end") is not None:
        return None
    return _single_index(p)


def _single_index(p: ir.Node) -> int | None:
    """The one non-negative index a Slice (start i, end i+1, step 1, axis 0) or a Gather picks."""
    args = [const_array(v) if v is not None else None for v in p.inputs[1:]]
    if p.op_type == "Gather":
        idx = args[0] if args else None
        ok = idx is not None and idx.size == 1 and int(idx.reshape(-1)[0]) >= 0
        return int(idx.reshape(-1)[0]) if ok and int(p.attr("axis", 0)) == 0 else None
    given = [v is not None for v in p.inputs[1:]] + [False] * (4 - len(p.inputs[1:]))
    args += [None] * (4 - len(args))
    if any(g and (a is None or a.size != 1) for g, a in zip(given, args)) or not all(given[:2]):
        return None
    starts, ends, axes, steps = (None if a is None else int(a.reshape(-1)[0]) for a in args)
    if (axes or 0) != 0 or (steps if steps is not None else 1) != 1:
        return None
    return starts if starts >= 0 and ends == starts + 1 else None


def _cast_to(p: ir.Node) -> ir.DType | None:
    to = p.attr("to")
    return None if to is None else ir.DType.from_onnx(int(to))


# ---- Transpose that moves only 1-sized dims ------------------------------------------------
def rule_transpose_as_reshape(model: ir.Model, node: ir.Node) -> bool:
    """Transpose(x, perm) -> Reshape(x, target) when the dims it moves are all 1 but the ones
    that keep their relative order, next to a Reshape (its producer or its only reader)."""
    x, perm = node.inputs[0], node.attr("perm")
    if x is None or perm is None or in_function(model, node.graph) or not _next_to_reshape(node):
        return False
    perm = [int(p) for p in perm]
    dims = known_dims(x)
    if dims is None or len(dims) != len(perm):
        return False
    big = [p for p in perm if dims[p] != 1]  # unknown or > 1: their order must not change
    if big != sorted(big):
        return False
    target = _reshape_target(dims, perm, copy=producer_of(x, "Reshape") is None)
    if target is None:
        return False
    g = node.graph
    c = new_initializer(g, f"{node.name}_shape", np.asarray(target, np.int64), ir.DType.INT64)
    first = producer_of(x, "Reshape")
    if first is not None and copies_through(np.asarray(target), first):
        x = first.inputs[0]  # Reshape(Reshape(x, s1), target) = Reshape(x, target)
    reshape = ir.Node("Reshape", [x, c], name=f"{node.name}_reshape")
    reshape.outputs[0].type = node.outputs[0].type
    g.insert_before(node, reshape)
    if not replace_value(model, node.outputs[0], reshape.outputs[0]):  # cannot happen: local
        remove_nodes(g, [reshape])
        return False
    remove_nodes(g, [node])
    if first is not None and x is first.inputs[0]:
        drop_if_dead(model, first)
    rule_reduce_keepdims(model, reshape)  # the sweep is past it: its own rule, now
    return True


def copies_through(target: np.ndarray, first: ir.Node) -> bool:
    """Can Reshape(Reshape(x, s1), target) read x directly? Yes when ``target`` (allowzero=0)
    copies (0) only dims that ``first`` copied from x at the same positions."""
    copies = np.flatnonzero(target.reshape(-1) == 0)
    if copies.size == 0:
        return True
    s1 = const_array(first.inputs[1])
    if s1 is None or s1.ndim != 1 or first.attr("allowzero", 0) or int(copies.max()) >= s1.size:
        return False
    return bool((s1[copies] == 0).all())


def _next_to_reshape(node: ir.Node) -> bool:
    """Made by a Reshape to a constant shape, or read by one (Shape readers aside: the shape
    is the same). A Reshape whose target is still computed at run time may yet go away (a
    tensordot's), and the Transpose then moves on in the layout pass."""
    readers = [n for n in node.outputs[0].consumers() if n.op_type != "Shape"]
    made = producer_of(node.inputs[0], "Reshape")
    if made is not None and const_array(made.inputs[1]) is not None:
        return True
    return (len(readers) == 1 and readers[0].op_type == "Reshape" and readers[0].inputs[0] is node.outputs[0]
            and const_array(readers[0].inputs[1]) is not None)


def _reshape_target(dims: list[int | None], perm: list[int], copy: bool) -> list[int] | None:
    """Output dim i is input dim perm[i]: a known size; an unknown dim as a copy (0) where it
    stays at its position and ``copy`` is asked (so a Reshape after it, copying the same
    dims, composes), else as -1 when it is the only unknown dim (so the Reshape composes with
    one before it). None when that cannot say it (a 0-sized dim; two unknown dims, one moving)."""
    unknown = [i for i, p in enumerate(perm) if dims[p] is None]
    if any(d == 0 for d in dims):
        return None
    if all(perm[i] == i for i in unknown) and (copy or len(unknown) > 1):
        return [0 if dims[p] is None else dims[p] for p in perm]  # type: ignore[misc]
    if len(unknown) > 1:
        return None
    return [-1 if dims[p] is None else dims[p] for p in perm]  # type: ignore[misc]


# ---- Reshape(Reduce(x, keepdims=0)) back to the kept dims ------------------------------------
def rule_reduce_keepdims(model: ir.Model, node: ir.Node) -> bool:
    """Reshape(Reduce*(x, axes, keepdims=0), t) -> Reduce*(x, axes, keepdims=1) when t gives
    exactly x's shape with 1 at the reduced axes (an SE block's pool to [N, C] then reshape to
    [N, C, 1, 1]). Each entry of t must be that dim: a 1 at a reduced axis, x's known size, a
    copy (0) of the same x dim, or the one -1 (then fixed by the element count)."""
    red = node.inputs[0].producer() if node.inputs[0] is not None else None
    target = const_array(node.inputs[1])
    if red is None or not red.op_type.startswith("Reduce") or red.domain not in ("", "ai.onnx"):
        return False
    if red.attr("keepdims", 1) or target is None or target.ndim != 1 or node.attr("allowzero", 0):
        return False
    axes = const_axes(red)
    dims = known_dims(red.inputs[0])
    if axes is None or not axes or dims is None or not only_user(model, node.inputs[0], node):
        return False
    r = len(dims)
    axes = sorted({a % r for a in axes})
    kept_from = [i for i in range(r) if i not in axes]  # R's dim j is x's dim kept_from[j]
    entries = [int(e) for e in target]
    if len(entries) != r or entries.count(-1) > 1:
        return False
    for j, e in enumerate(entries):
        want = 1 if j in axes else dims[j]
        copied = e == 0 and j not in axes and j < len(kept_from) and kept_from[j] == j
        if not (e == -1 or copied or (e > 0 and e == want)):
            return False
    red.set_attr("keepdims", 1)
    red.outputs[0].type = node.outputs[0].type
    if not bypass(model, node, red.outputs[0]):
        return False
    if red.op_type == "ReduceMean":
        rule_reduce_mean_as_pool(model, red)  # the sweep is past it: its own rule, now
    return True


RESHAPE_RULES: dict[str, tuple[Rule, ...]] = {
    "Reshape": (rule_reshape_copy_dim, rule_reduce_keepdims),
    "Transpose": (rule_transpose_as_reshape,),
}
