"""Model-to-model passes over the IR, and the pipeline that runs them (STYLE.md 4.4).

    from tensorbridge.passes import PassContext, run_passes
    run_passes(model, ["freeze-variables", "simplify", "cse", "prune-dead-nodes"],
               PassContext(verify_each=True))

The registry below is an explicit dict (no import-time discovery); ``describe_passes()`` feeds
``tensorbridge passes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .. import ir
from ..errors import UsageError
from ._clone import clone_graph, clone_model
from .base import (
    Pass,
    PassContext,
    PassResult,
    Pipeline,
    format_op_diff,
    functional,
    op_counts,
    pass_,
)
from .cse import cse
from .fold_constants import fold_constants
from .freeze import freeze_variables
from .layout import layout
from .prune import prune_dead_nodes
from .shape_inference import shape_inference
from .simplify import simplify

PASSES: Mapping[str, Pass] = {
    p.name: p for p in (freeze_variables, fold_constants, layout, simplify, cse, prune_dead_nodes,
                        shape_inference)
}


def get_pass(name: str) -> Pass:
    try:
        return PASSES[name]
    except KeyError:
        raise UsageError(f"unknown pass {name!r}", hint=f"available passes: {', '.join(PASSES)}") from None


def describe_passes() -> list[tuple[str, str]]:
    """(name, one-line description) for every registered pass, in registry order."""
    return [(p.name, p.description) for p in PASSES.values()]


def default_pipeline(max_iterations: int = 4) -> Pipeline:
    """freeze-variables, then fold-constants + shape-inference + layout + simplify + cse +
    prune-dead-nodes to a fixed point. shape-inference runs in every round so the passes after
    it see the shapes (simplify drops more no-ops) and the result is fully typed; it costs
    1-4 ms on the optimized Keras ResNet50/MobileNetV2/EfficientNetB0, 35-60 ms on the raw
    imported graphs (the first round). Run only once at the end, the pipeline was not at a
    fixed point: a second run still simplified."""
    cleanup = Pipeline(
        "cleanup", [fold_constants, shape_inference, layout, simplify, cse, prune_dead_nodes],
        max_iterations=max_iterations,
    )
    return Pipeline("default", [freeze_variables, cleanup])


def run_passes(
    model: ir.Model,
    names: Sequence[str],
    ctx: PassContext | None = None,
    *,
    max_iterations: int = 1,
) -> PassResult:
    """Run the named passes in order (in place) as one Pipeline; unknown names fail first."""
    passes = [get_pass(n) for n in names]
    return Pipeline("run-passes", passes, max_iterations=max_iterations)(model, ctx)


__all__ = [
    "PASSES", "Pass", "PassContext", "PassResult", "Pipeline", "clone_graph", "clone_model",
    "cse", "default_pipeline", "describe_passes", "fold_constants", "format_op_diff", "freeze_variables",
    "functional", "get_pass", "layout", "op_counts", "pass_", "prune_dead_nodes", "run_passes", "simplify",
    "shape_inference",
]  # fmt: skip
