"""simplify, shape-arithmetic rules: what onnxsim/onnxslim remove from PyTorch exports and the
other simplify rules did not (issue 3; measured on a torch.nn.TransformerEncoder export, see
bench/RESULTS.md "Optimizer benchmark").

- ``Gather(Shape(x), i)`` and ``Slice(Shape(x), ...)`` whose selected dims are known ints become
  constants, even when other dims of ``x`` are dynamic (fold-constants folds a Shape only when
  every dim is static). fold-constants then folds the arithmetic after them (Div, Mul,
  Unsqueeze, Cast, Sqrt ...). A dim is known from ``x``'s type, or, for the output of a Reshape,
  from the Reshape's target when that target is a Concat whose entry for the dim is a constant.
- ``Reshape(x, Concat(c1, d, c2))`` with one dynamic 1-element piece ``d`` and positive constant
  entries elsewhere: the target becomes the constant ``[c1, -1, c2]``. For every input the
  original accepts, ``d`` equals ``numel(x) / prod(c)``, which is what -1 computes.
- ``x + 0``, ``0 + x``, ``x - 0``, ``x * 1``, ``1 * x``, ``x / 1`` with a constant all-0/all-1
  operand that does not broadcast ``x`` to a bigger shape return ``x`` (``-0.0 + 0`` gives
  ``+0.0``, which compares equal; everything else is exact).

Registered into simplify's RULES by :func:`with_extra_rules` (rules are appended after the ones
simplify already has for the same op type).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from .. import ir
from ._edit import is_contract, remove_nodes
from .simplify_common import bypass, const_array, producer_of

Rule = Callable[[ir.Model, ir.Node], bool]
Dims = list[int | None]


# ---- known dims ---------------------------------------------------------------------------
def known_dims(v: ir.Value) -> Dims | None:
    """Per dim: its size when known, else None; None when even the rank is unknown."""
    shape = v.shape
    dims = None if shape is None else [d if _is_size(d) else None for d in shape]
    p = producer_of(v, "Reshape")
    target = _reshape_dims(p) if p is not None else None
    if target is None:
        return dims
    if dims is None:
        return target
    if len(dims) != len(target):
        return dims
    return [a if a is not None else b for a, b in zip(dims, target)]


def _is_size(d: object) -> bool:
    return isinstance(d, int) and not isinstance(d, bool) and d >= 0


def _reshape_dims(node: ir.Node) -> Dims | None:
    """The output dims a Reshape's target fixes: its positive constant entries."""
    entries = target_entries(node.inputs[1])
    if entries is None:
        return None
    allowzero = bool(node.attr("allowzero", 0))
    src = node.inputs[0].shape if node.inputs[0] is not None else None
    out: Dims = []
    for i, e in enumerate(entries):
        if e is None or e < 0:
            out.append(None)
        elif e == 0 and not allowzero:  # copies the input dim
            d = src[i] if src is not None and i < len(src) else None
            out.append(d if _is_size(d) else None)
        else:
            out.append(e)
    return out


def target_entries(t: ir.Value | None) -> Dims | None:
    """A 1-D int64 shape vector entry by entry (None: dynamic); None when its length is unknown."""
    c = const_array(t)
    if c is not None:
        return [int(x) for x in c.reshape(-1)] if c.ndim == 1 else None
    cat = producer_of(t, "Concat")
    if cat is None or int(cat.attr("axis", 0)) not in (0, -1):
        return None
    out: Dims = []
    for piece in cat.inputs:
        if piece is None:
            return None
        c = const_array(piece)
        if c is not None:
            out.extend(int(x) for x in c.reshape(-1))
            continue
        shape = piece.shape
        if shape is None or len(shape) != 1 or not _is_size(shape[0]):
            return None
        out.extend([None] * int(shape[0]))  # type: ignore[arg-type]
    return out


def _shape_dims(shape_node: ir.Node) -> Dims | None:
    """What a Shape node returns, dim by dim (its start/end applied as ONNX clamps them)."""
    dims = known_dims(shape_node.inputs[0])
    if dims is None:
        return None
    rank = len(dims)
    start, end = int(shape_node.attr("start", 0)), shape_node.attr("end")
    end = rank if end is None else int(end)
    start, end = (min(max(i + rank if i < 0 else i, 0), rank) for i in (start, end))
    return dims[start:end]


# ---- rules --------------------------------------------------------------------------------
def rule_gather_of_shape(model: ir.Model, node: ir.Node) -> bool:
    """Gather(Shape(x), constant indices) whose gathered dims are known -> a constant."""
    shape_node = producer_of(node.inputs[0], "Shape")
    idx = const_array(node.inputs[1]) if len(node.inputs) > 1 else None
    if shape_node is None or idx is None or int(node.attr("axis", 0)) not in (0, -1):
        return False
    dims = _shape_dims(shape_node)
    if dims is None or idx.dtype.kind not in "iu":
        return False
    n = len(dims)
    flat = [int(i) for i in idx.reshape(-1)]
    if any(not -n <= i < n for i in flat):
        return False
    picked = [dims[i] for i in flat]
    if any(d is None for d in picked):
        return False
    return _become_constant(model, node, np.array(picked, np.int64).reshape(idx.shape))


def rule_slice_of_shape(model: ir.Model, node: ir.Node) -> bool:
    """Slice(Shape(x)) with constant positive steps whose selected dims are known -> a constant."""
    shape_node = producer_of(node.inputs[0], "Shape")
    if shape_node is None:
        return False
    dims = _shape_dims(shape_node)
    args = [const_array(v) if v is not None else None for v in node.inputs[1:5]]
    args += [None] * (4 - len(args))
    starts, ends, axes, steps = args
    if dims is None or starts is None or ends is None or starts.size != 1 or ends.size != 1:
        return False
    has_axes = len(node.inputs) > 3 and node.inputs[3] is not None
    if has_axes and (axes is None or int(axes.reshape(-1)[0]) not in (0, -1)):
        return False
    step = 1
    if len(node.inputs) > 4 and node.inputs[4] is not None:
        if steps is None or int(steps.reshape(-1)[0]) <= 0:
            return False
        step = int(steps.reshape(-1)[0])
    # positive step: ONNX's clamping is Python's slice clamping
    picked = dims[slice(int(starts.reshape(-1)[0]), int(ends.reshape(-1)[0]), step)]
    if any(d is None for d in picked):
        return False
    return _become_constant(model, node, np.array(picked, np.int64))


def rule_reshape_minus_one(model: ir.Model, node: ir.Node) -> bool:
    """Reshape(x, Concat(constants..., d, constants...)) -> Reshape(x, [..., -1, ...])."""
    target = node.inputs[1]
    cat = producer_of(target, "Concat")
    entries = target_entries(target) if cat is not None else None
    if entries is None or entries.count(None) != 1 or _in_function(model, node.graph):
        return False
    known = [e for e in entries if e is not None]
    if any(e <= 0 for e in known):  # a 0 (copy) or -1 already there: leave it
        return False
    arr = np.array([-1 if e is None else e for e in entries], np.int64)
    g = node.graph
    name = g.unique_value_name(f"{target.name}_static")
    node.set_input(1, g.add_initializer(ir.Value(name, const=ir.ArrayTensor(arr, ir.DType.INT64, name))))
    if not any(v.has_uses() or is_contract(model, v) for v in cat.outputs):
        remove_nodes(g, [cat])
    return True


def _neutral(value: float) -> Rule:
    def rule(model: ir.Model, node: ir.Node) -> bool:
        sides = (0, 1) if node.op_type in ("Add", "Mul") else (1,)
        for k in sides:
            c, x = node.inputs[k], node.inputs[1 - k]
            arr = const_array(c)
            if x is None or arr is None or arr.size == 0 or not bool((arr == value).all()):
                continue
            if (x.dtype is not None and x.dtype is not c.dtype) or not _keeps_shape(node, x, arr.shape):
                continue
            return bypass(model, node, x)
        return False

    rule.__name__ = f"rule_neutral_{'zero' if value == 0 else 'one'}"
    return rule


def _keeps_shape(node: ir.Node, x: ir.Value, cshape: tuple[int, ...]) -> bool:
    """Broadcasting x against a constant of shape cshape leaves x's shape unchanged."""
    xs = x.shape
    if xs is None:  # a scalar, or all-1 dims of lower rank than the output, cannot broadcast x
        out = node.outputs[0].shape
        return all(c == 1 for c in cshape) and (not cshape or (out is not None and len(cshape) < len(out)))
    if len(cshape) > len(xs):
        return False
    for c, d in zip(reversed(cshape), reversed(xs)):
        if c != 1 and not (_is_size(d) and d == c):
            return False
    return True


# ---- helpers ------------------------------------------------------------------------------
def _become_constant(model: ir.Model, node: ir.Node, arr: np.ndarray) -> bool:
    out, g = node.outputs[0], node.graph
    if g is None or is_contract(model, out) or _in_function(model, g):
        return False
    name = g.unique_value_name(f"{out.name}_value")
    c = g.add_initializer(ir.Value(name, const=ir.ArrayTensor(arr, ir.DType.INT64, name)))
    out.replace_all_uses_with(c)
    remove_nodes(g, [node])
    return True


def _in_function(model: ir.Model, g: ir.Graph | None) -> bool:
    """Function bodies hold no initializers: the constant rules leave them alone."""
    while g is not None and g.owner is not None:
        g = g.owner.graph
    return g is None or any(f.graph is g for mg in model.meta_graphs for f in mg.functions.values())


EXTRA_RULES: dict[str, tuple[Rule, ...]] = {
    "Gather": (rule_gather_of_shape,),
    "Slice": (rule_slice_of_shape,),
    "Reshape": (rule_reshape_minus_one,),
    "Add": (_neutral(0),),
    "Sub": (_neutral(0),),
    "Mul": (_neutral(1),),
    "Div": (_neutral(1),),
}


def with_extra_rules(rules: Mapping[str, tuple[Rule, ...]]) -> dict[str, tuple[Rule, ...]]:
    """``rules`` with EXTRA_RULES appended per op type."""
    out = dict(rules)
    for op, extra in EXTRA_RULES.items():
        out[op] = tuple(out.get(op, ())) + extra
    return out


__all__ = ["EXTRA_RULES", "known_dims", "target_entries", "with_extra_rules"]
