"""Pass infrastructure: PassResult, PassContext, named passes, nesting pipelines.

A pass is a named function ``fn(model, ctx) -> PassResult`` with no hidden state: every knob is
a PassContext field. Passes edit the model in place; :func:`functional` wraps one so that it
works on a clone instead. A :class:`Pipeline` is itself a pass: it runs its passes in order,
again and again until none of them changed anything or ``max_iterations`` is reached, verifies
the IR after every pass when asked, logs one INFO line per pass and wraps every failure in a
:class:`~tensorbridge.errors.PassError` naming the pass, the passes before it, the iteration
and the node the pass was working on (``ctx.working_on(node)``).

Errors are wrapped only when a pass runs inside a Pipeline (or :func:`run_passes`); calling a
pass directly lets its exception through unchanged.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .. import ir
from ..errors import IRInvariantError, PassError
from ._clone import clone_model

logger = logging.getLogger(__name__)

PassFn = Callable[[ir.Model, "PassContext"], "PassResult"]


@dataclass(frozen=True)
class PassResult:
    model: ir.Model
    changed: bool
    stats: Mapping[str, int] = field(default_factory=dict)


@dataclass
class PassContext:
    """Every knob of every pass, plus the little run state used for error messages."""

    debug: bool = False  # implies verify_each
    verify_each: bool = False  # ir.verify after every pass of every pipeline
    logger: logging.Logger = logger
    # prune-dead-nodes: keep only these signature keys (None: keep all); the others are dropped
    keep_signatures: Sequence[str] | None = None
    # freeze-variables: only freeze what these signature keys reach (None: freeze everything)
    freeze_signatures: Sequence[str] | None = None
    # (domain, op_type) pairs that prune-dead-nodes never removes even when nothing reads them
    effectful_ops: frozenset[tuple[str, str]] = frozenset()
    # fold-constants (later): largest input / output tensor it evaluates or creates, in bytes
    fold_input_size_limit: int = 1 << 20
    fold_output_size_limit: int = 1 << 20
    # cse: constants up to this many bytes are compared by value (larger ones by identity,
    # or by file region for external tensors); lazy tensors over the limit are never read
    cse_const_size_limit: int = 1 << 16
    # layout: graph inputs (by name) to make NCHW, so no entry Transpose is left for them
    inputs_as_nchw: Sequence[str] = ()
    # run state (set by passes and pipelines; not a knob)
    current_node: ir.Node | None = field(default=None, compare=False, repr=False)
    history: list[str] = field(default_factory=list, compare=False, repr=False)
    depth: int = field(default=0, compare=False, repr=False)  # pipeline nesting level

    @property
    def verifying(self) -> bool:
        return self.verify_each or self.debug

    def working_on(self, node: ir.Node | None) -> None:
        """Record the node a pass is editing, so a failure can name it."""
        self.current_node = node

    def is_effectful(self, node: ir.Node) -> bool:
        return (node.domain, node.op_type) in self.effectful_ops


class Pass:
    """A named model transformation. ``description`` is one line, for ``tensorbridge passes``."""

    def __init__(self, name: str, fn: PassFn, description: str = "") -> None:
        self.name = name
        self.fn = fn
        self.description = description

    def __call__(self, model: ir.Model, ctx: PassContext | None = None) -> PassResult:
        result = self.fn(model, ctx if ctx is not None else PassContext())
        if not isinstance(result, PassResult):
            raise TypeError(f"pass {self.name!r} returned {type(result).__name__}, not PassResult")
        return result

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def pass_(name: str, description: str | None = None) -> Callable[[PassFn], Pass]:
    """Decorator: ``fn(model, ctx) -> PassResult`` becomes a Pass named ``name``.

    The description defaults to the first line of the function's docstring.
    """

    def wrap(fn: PassFn) -> Pass:
        doc = description
        if doc is None:
            doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        return Pass(name, fn, doc)

    return wrap


def functional(p: Pass) -> Pass:
    """The same pass, run on a clone: the input model is never touched (tensors are shared)."""

    def run(model: ir.Model, ctx: PassContext) -> PassResult:
        return p(clone_model(model), ctx)

    return Pass(p.name, run, p.description)


class Pipeline(Pass):
    """Passes run in order, repeated to a fixed point but at most ``max_iterations`` times."""

    def __init__(
        self,
        name: str,
        passes: Iterable[Pass],
        max_iterations: int = 1,
        verify_each: bool = False,
        description: str = "",
    ) -> None:
        if max_iterations < 1:
            raise ValueError(f"pipeline {name!r}: max_iterations must be >= 1")
        self.passes = list(passes)
        self.max_iterations = max_iterations
        self.verify_each = verify_each
        names = ", ".join(p.name for p in self.passes)
        super().__init__(name, self._run, description or f"pipeline: {names}")

    def _run(self, model: ir.Model, ctx: PassContext) -> PassResult:
        if ctx.depth == 0:
            ctx.history.clear()  # a new top-level run: "passes before it" starts empty
        ctx.depth += 1
        try:
            return self._iterate(model, ctx)
        finally:
            ctx.depth -= 1

    def _iterate(self, model: ir.Model, ctx: PassContext) -> PassResult:
        verify = self.verify_each or ctx.verifying
        stats: Counter[str] = Counter()
        changed_any = False
        iteration = 0
        for iteration in range(1, self.max_iterations + 1):
            changed = False
            for p in self.passes:
                result = _run_one(p, model, ctx, iteration, verify)
                model = result.model
                changed = changed or result.changed
                for k, v in result.stats.items():
                    stats[f"{p.name}.{k}"] += v
            changed_any = changed_any or changed
            if not changed:
                break
        else:
            ctx.logger.info(
                "pipeline %s: stopped at max_iterations=%d while passes still changed the model",
                self.name,
                self.max_iterations,
            )
        stats["iterations"] = iteration
        return PassResult(model, changed_any, dict(stats))


def _run_one(p: Pass, model: ir.Model, ctx: PassContext, iteration: int, verify: bool) -> PassResult:
    log = ctx.logger.isEnabledFor(logging.INFO)
    before = op_counts(model) if log else None
    previous = list(ctx.history)
    ctx.working_on(None)
    t0 = time.perf_counter()
    try:
        result = p(model, ctx)
    except PassError:
        raise  # a nested pipeline already named the innermost pass
    except Exception as e:  # noqa: BLE001 - the pass boundary: add context, re-raise
        raise PassError(p.name, previous, iteration, _describe(e, ctx.current_node)) from e
    if verify:
        try:
            ir.verify(result.model)
        except IRInvariantError as e:
            raise PassError(p.name, previous, iteration, f"broke an IR invariant: {e}") from e
    ms = (time.perf_counter() - t0) * 1000
    ctx.history.append(p.name)
    ctx.working_on(None)
    if log:
        diff = format_op_diff(before, op_counts(result.model))
        ctx.logger.info("pass %s: changed=%s, %s, %.1f ms", p.name, result.changed, diff, ms)
    return result


def _describe(e: BaseException, node: ir.Node | None) -> str:
    text = f"{type(e).__name__}: {e}"
    if node is not None:
        where = node.graph.name if node.graph is not None else "<detached>"
        text += f" (while working on {node.qualified_op} {node.name!r} in graph {where!r})"
    return text


def op_counts(model: ir.Model) -> Counter[str]:
    """Node count per qualified op type over every graph, subgraph and function of the model."""
    counts: Counter[str] = Counter()
    for g in model.graphs():
        for n in g.all_nodes():
            counts[n.qualified_op] += 1
    return counts


def format_op_diff(before: Mapping[str, int], after: Mapping[str, int]) -> str:
    """``"Identity -3 (5->2), Gemm +1 (0->1)"``, ops in name order; or ``"ops unchanged"``."""
    parts = []
    for op in sorted(set(before) | set(after)):
        b, a = before.get(op, 0), after.get(op, 0)
        if a != b:
            parts.append(f"{op} {a - b:+d} ({b}->{a})")
    total_b, total_a = sum(before.values()), sum(after.values())
    if not parts:
        return f"ops unchanged ({total_a} nodes)"
    return ", ".join(parts) + f"; nodes {total_b}->{total_a}"
