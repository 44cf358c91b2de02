"""The hint of a bisection: what differs between the SRC and DST nodes that produce the first
diverging value (op type, attributes, input order, constant inputs, unmatched inputs)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tensorbridge.reports import ValueDiff

_SHOW = 6  # elements of an array attribute shown in a hint


def hint_for(src: onnx.NodeProto | None, dst: onnx.NodeProto, inputs: Sequence[ValueDiff]) -> str:
    """One or more findings joined by '; ', most specific first."""
    parts: list[str] = []
    if src is not None:
        parts += _node_differences(src, dst)
    bad = [v.name for v in inputs if v.status == "differs"]
    if bad:
        parts.append(f"constant input(s) differ: {', '.join(bad)} (a weight changed in conversion)")
    unmatched = [v.name for v in inputs if v.status == "no counterpart"]
    if unmatched:
        parts.append(f"input(s) with no counterpart in SRC: {', '.join(unmatched)}; the "
                     "divergence may come from the DST nodes that compute them")  # fmt: skip
    if not parts:
        parts.append(f"its inputs match but its output does not: the two {dst.op_type} nodes "
                     "compute differently (kernel numerics, or a tolerance too tight for this "
                     "op; try --atol/--rtol)")  # fmt: skip
    return "; ".join(parts)


def _node_differences(src: onnx.NodeProto, dst: onnx.NodeProto) -> list[str]:
    parts = []
    if (src.domain, src.op_type) != (dst.domain, dst.op_type):
        parts.append(f"op type differs: SRC {_qual(src)} vs DST {_qual(dst)}")
    parts += _attr_differences(src, dst)
    s_in, d_in = list(src.input), list(dst.input)
    if s_in != d_in and sorted(s_in) == sorted(d_in):
        parts.append(f"inputs in a different order: SRC ({', '.join(s_in)}) vs DST "
                     f"({', '.join(d_in)})")  # fmt: skip
    elif s_in != d_in:
        diff = [f"#{k} {s or '-'} vs {d or '-'}" for k, (s, d) in
                enumerate(itertools.zip_longest(s_in, d_in)) if s != d]  # fmt: skip
        parts.append(f"input names differ (benign when conversion merged equal constants): "
                     f"{'; '.join(diff)}")
    return parts


def _attr_differences(src: onnx.NodeProto, dst: onnx.NodeProto) -> list[str]:
    s, d = _attrs(src), _attrs(dst)
    out = []
    for name in list(dict.fromkeys([*s, *d])):
        if name not in s:
            out.append(f"attribute {name} only in DST ({_show(d[name])})")
        elif name not in d:
            out.append(f"attribute {name} only in SRC ({_show(s[name])})")
        elif not _same(s[name], d[name]):
            out.append(f"attribute {name} differs: SRC {_show(s[name])} vs DST {_show(d[name])}")
    return out


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            continue
        value = helper.get_attribute_value(a)
        if isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value)
        out[a.name] = value
    return out


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return np.array_equal(np.asarray(x), np.asarray(y))
    return x == y


def _show(v: Any) -> str:
    if isinstance(v, bytes):
        return repr(v.decode("utf-8", "replace"))
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, np.ndarray):
        flat = v.ravel()[:_SHOW].tolist()
        more = ", ..." if v.size > _SHOW else ""
        return f"array{list(v.shape)} [{', '.join(map(str, flat))}{more}]"
    return repr(v)


def _qual(node: onnx.NodeProto) -> str:
    return f"{node.domain}::{node.op_type}" if node.domain else node.op_type
