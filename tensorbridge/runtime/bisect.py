"""Find the first node where two models diverge, in bounded memory.

Both models are IR models (any format loads into the IR), exported to ONNX and run on ONNX
Runtime. The candidates are the node outputs of DST, in DST's topological order, that have a
value of the same name in SRC (conversion keeps the names of the values that survive it).
They are checked in batches of ``batch_size``: each batch becomes the graph outputs of one
session per side, both sessions run on the same feeds, the arrays are compared and released
before the next batch. At most ``2 * batch_size`` intermediate arrays are alive at any time, so
a model with many large activations never holds them all.

The scan stops at the first batch holding a value that differs; the earliest such value in
topological order is the answer: every input of its node that has a counterpart comes earlier
in the order, so it was compared and matches. The node's constant inputs are compared as well,
and the hint (bisect_hint.py) says what differs between the two nodes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from tensorbridge.reports import BisectReport, ValueDiff

from .bisect_hint import hint_for
from .compare import compare_arrays, dtype_name
from .inputs import match_feeds
from .providers import CUDA
from .session import Session, ir_to_proto

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 8
INCOMPARABLE = "shape differs"
BisectProgress = Callable[[int, int], None]


@dataclass
class _Side:
    """One model as an ONNX proto, indexed by value name. ``nodes`` are detached copies of the
    graph's nodes in topological order (each batch runs a pruned copy of the node list)."""

    label: str
    proto: onnx.ModelProto
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    producers: dict[str, onnx.NodeProto] = field(default_factory=dict)
    inits: dict[str, onnx.TensorProto] = field(default_factory=dict)
    inputs: set[str] = field(default_factory=set)
    _index: dict[str, int] = field(default_factory=dict)
    on_gpu: bool = False  # the last session ran on CUDA (GPU default tolerances apply)

    @classmethod
    def of(cls, model: Any, label: str) -> _Side:
        if not isinstance(model, onnx.ModelProto):
            model = ir_to_proto(model)
        side = cls(label, model)
        g = model.graph
        side.nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in g.node]
        side._index = {o: k for k, n in enumerate(side.nodes) for o in n.output if o}
        side.producers = {o: side.nodes[k] for o, k in side._index.items()}
        side.inits = {t.name: t for t in g.initializer}
        side.inputs = {i.name for i in g.input} - set(side.inits)
        return side

    def needed(self, names: Sequence[str]) -> list[onnx.NodeProto]:
        """The nodes ``names`` depend on, in order: nothing past the batch is computed."""
        keep: set[int] = set()
        stack = [self._index[n] for n in names if n in self._index]
        while stack:
            k = stack.pop()
            if k in keep:
                continue
            keep.add(k)
            stack += [self._index[i] for i in _node_inputs(self.nodes[k]) if i in self._index]
        return [self.nodes[k] for k in sorted(keep)]

    def run(self, names: Sequence[str], feeds: Mapping[str, np.ndarray], device: str):
        """The values ``names`` (node outputs), with a session whose outputs are just those."""
        g = self.proto.graph
        saved = [onnx.ValueInfoProto.FromString(o.SerializeToString()) for o in g.output]
        del g.output[:]
        g.output.extend(onnx.ValueInfoProto(name=n) for n in names)
        del g.node[:]
        g.node.extend(self.needed(names))
        try:
            sess = Session(self.proto, device=device)
        finally:
            del g.output[:]
            g.output.extend(saved)
            del g.node[:]
            g.node.extend(self.nodes)
        self.on_gpu = sess.provider == CUDA
        return sess.run(match_feeds([i.name for i in sess.inputs], feeds))


def _node_inputs(node: onnx.NodeProto) -> list[str]:
    """The node's inputs and, for control flow, every name its subgraphs read (a superset of
    the outer values they capture)."""
    names = [i for i in node.input if i]
    for a in node.attribute:
        for sub in [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs):
            names += [i for n in sub.node for i in _node_inputs(n)]
    return names


def bisect_models(
    src: Any,
    dst: Any,
    feeds: Mapping[str, np.ndarray],
    *,
    device: str = "auto",
    atol: float | None = None,
    rtol: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: BisectProgress | None = None,
) -> BisectReport:
    """Compare the intermediate values of ``src`` and ``dst`` (ir.Model or onnx.ModelProto) on
    ``feeds`` and name the first DST node whose output diverges (see the module docstring)."""
    batch_size = max(1, int(batch_size))
    a, b = _Side.of(src, "src"), _Side.of(dst, "dst")
    candidates = [o for n in b.proto.graph.node for o in n.output if o and o in a.producers]
    report = BisectReport("no divergence", len(candidates), 0, 0, batch_size)
    if not candidates:
        report.status = "no counterparts"
        report.hint = ("no node output of DST has a same-named value in SRC: the two graphs share "
                       "no intermediate names, so bisection cannot compare them")  # fmt: skip
        return report
    results: dict[str, ValueDiff] = {}
    total = -(-len(candidates) // batch_size)
    for start in range(0, len(candidates), batch_size):
        batch = candidates[start : start + batch_size]
        results.update(_compare_batch(a, b, batch, feeds, device, atol, rtol))
        report.batches += 1
        report.compared += len(batch)
        if progress is not None:
            progress(report.batches, total)
        first = next((n for n in batch if results[n].status == "differs"), None)
        if first is not None:
            if progress is not None:
                progress(total, total)
            return _found(report, a, b, first, results, feeds, device, atol, rtol)
    reshaped = next((n for n in candidates if results[n].status == INCOMPARABLE), None)
    if reshaped is not None:
        report = _found(report, a, b, reshaped, results, feeds, device, atol, rtol)
        report.hint = ("no shared value differs in content, but some differ in shape; this is "
                       f"the first of them: {report.hint}")  # fmt: skip
        return report
    report.hint = (f"all {len(candidates)} shared intermediate values match: the difference "
                   "comes from nodes without a counterpart or from the graph outputs' wiring")  # fmt: skip
    return report


def _compare_batch(a: _Side, b: _Side, names, feeds, device, atol, rtol) -> dict[str, ValueDiff]:
    logger.debug("bisect batch: %s", ", ".join(names))
    want = a.run(names, feeds, device)
    got = b.run(names, feeds, device)
    gpu = a.on_gpu or b.on_gpu
    diffs = {n: _diff(n, want[n], got[n], atol, rtol, gpu) for n in names}
    del want, got  # released before the next batch runs
    return diffs


def _diff(name: str, want: np.ndarray, got: np.ndarray, atol, rtol, gpu=False) -> ValueDiff:
    want, got = np.asarray(want), np.asarray(got)
    want = _in_layout_of(want, got)
    if _identical(want, got):  # the common case, without compare's float64 temporaries
        return ValueDiff(name, "match", list(got.shape), dtype_name(got), 0.0, 0.0, 0, got.size)
    row = compare_arrays(name, want, got, name, atol=atol, rtol=rtol, gpu=gpu)
    status = "match" if row.passed else "differs"
    if want.shape != got.shape:
        status = INCOMPARABLE  # e.g. a layout pass kept the name of a transposed value
    return ValueDiff(
        name, status, row.actual_shape, row.actual_dtype,
        row.max_abs_error, row.max_rel_error, row.mismatches, row.total, row.reason,
    )  # fmt: skip


def _in_layout_of(want: np.ndarray, got: np.ndarray) -> np.ndarray:
    """``want`` moved to ``got``'s layout when one is the other's channels-first/-last form
    (a SavedModel runs convolutions NHWC: the same named value is NHWC there, NCHW in ONNX)."""
    if want.shape == got.shape or want.ndim != got.ndim or not 3 <= want.ndim <= 5:
        return want
    last = (0, *range(2, want.ndim), 1)  # channels first -> channels last
    first = (0, want.ndim - 1, *range(1, want.ndim - 1))
    for perm in (last, first):
        if tuple(want.shape[p] for p in perm) == got.shape:
            return np.transpose(want, perm)
    return want


def _identical(want: np.ndarray, got: np.ndarray) -> bool:
    if want.shape != got.shape or want.dtype != got.dtype or want.dtype.kind not in "biuf":
        return False
    return bool(np.array_equal(want, got, equal_nan=want.dtype.kind == "f"))


def _found(report, a: _Side, b: _Side, name, results, feeds, device, atol, rtol) -> BisectReport:
    node = b.producers[name]
    report.status, report.node, report.op_type = "found", node.name or name, node.op_type
    report.output = results[name]
    report.inputs = _input_diffs(a, b, node, results, feeds, device, atol, rtol)
    report.hint = hint_for(a.producers.get(name), node, report.inputs)
    logger.info("bisect: first diverging node %r (%s)", report.node, report.op_type)
    return report


def _input_diffs(a: _Side, b: _Side, node, results, feeds, device, atol, rtol) -> list[ValueDiff]:
    """Each input of ``node``: its comparison if it was compared; else a graph input (same
    feed), a constant compared now, or a value with no counterpart in SRC."""
    out: dict[str, ValueDiff] = {}
    consts = [i for i in node.input if i and i not in results and i in b.inits and
              (i in a.inits or i in a.producers)]  # fmt: skip
    src_values = _src_values(a, consts, feeds, device)
    for i in node.input:
        if not i or i in out:
            continue
        if i in results:
            out[i] = results[i]
        elif i in b.inputs:
            out[i] = ValueDiff(i, "same feed", reason="graph input")
        elif i in src_values:
            got = numpy_helper.to_array(b.inits[i])
            out[i] = _diff(i, src_values[i], got, atol, rtol, a.on_gpu or b.on_gpu)
            out[i].reason = out[i].reason or "constant"
        else:
            out[i] = ValueDiff(i, "no counterpart", reason=_why_unmatched(i, b))
    return list(out.values())


def _src_values(a: _Side, names: Sequence[str], feeds, device) -> dict[str, np.ndarray]:
    values = {n: numpy_helper.to_array(a.inits[n]) for n in names if n in a.inits}
    computed = [n for n in names if n not in values]
    if computed:
        values.update(a.run(computed, feeds, device))
    return values


def _why_unmatched(name: str, b: _Side) -> str:
    if name in b.inits:
        return "a DST constant with no same-named value in SRC"
    producer = b.producers.get(name)
    op = f" (from {producer.op_type} {producer.name!r})" if producer is not None else ""
    return f"no same-named value in SRC{op}"
