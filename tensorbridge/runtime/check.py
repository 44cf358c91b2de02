"""``check``: run two models on the same inputs, compare every output, optionally bisect.

Each side runs on its own runtime: an ONNX file on ONNX Runtime; a SavedModel directory in
TensorFlow when it is importable (``savedmodel_runtime="auto"`` or ``"tensorflow"``), else
through the IR on ONNX Runtime (``"ir"``, or ``"auto"`` without TensorFlow). The report names
the runtime and the execution provider (or TensorFlow device) that really ran each side.

The API composes this module with its loaders (``load(path, tags=, signature=) -> ir.Model``
and ``detect(path) -> "onnx" | "savedmodel"``), so the runtime never reaches up into the API.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tensorbridge.errors import RuntimeSessionError, UnsupportedOpError, UsageError
from tensorbridge.reports import BisectReport, CheckReport, SideInfo

from .bisect import DEFAULT_BATCH_SIZE, bisect_models
from .compare import compare_outputs
from .inputs import load_npz, make_inputs, match_feeds, parse_shape_overrides
from .providers import CUDA, import_ort

logger = logging.getLogger(__name__)

ONNX = "onnx"
SAVEDMODEL_RUNTIMES = ("auto", "tensorflow", "ir")
Loader = Callable[..., Any]


def run_check(src: str | Path, dst: str | Path, opts: Any, *, load: Loader,
              detect: Callable[[Any], str]) -> CheckReport:  # fmt: skip
    """Run both sides on seeded (or .npz) inputs and compare; bisect on mismatch when
    ``opts.bisect``. ``opts`` is an ``api.CheckOptions``."""
    if opts.savedmodel_runtime not in SAVEDMODEL_RUNTIMES:
        raise UsageError(f"unknown SavedModel runtime {opts.savedmodel_runtime!r}; choose one of "
                         f"{', '.join(SAVEDMODEL_RUNTIMES)}")  # fmt: skip
    a, side_a = open_side(src, detect(src), opts, load)
    b, side_b = open_side(dst, detect(dst), opts, load)
    gpu = _on_gpu(side_a) or _on_gpu(side_b)
    feeds_list = make_feeds(a.inputs, opts)
    runs = []
    for _, feeds in feeds_list:
        want = a.run(match_feeds([i.name for i in a.inputs], feeds))
        got = b.run(match_feeds([i.name for i in b.inputs], feeds))
        runs.append(compare_outputs(want, got, atol=opts.atol, rtol=opts.rtol, gpu=gpu))
    del a, b  # the bisection builds its own sessions
    report = CheckReport(side_a, side_b, runs, [s for s, _ in feeds_list], device=opts.device)
    if gpu and opts.atol is None and opts.rtol is None:
        report.notes.append("a side ran on CUDA: GPU default tolerances (float32 1e-3/1e-3, "
                            "float16 1e-2/1e-2)")  # fmt: skip
    if opts.bisect:
        _bisect(report, src, dst, feeds_list, opts, load)
    return report


def open_side(path: str | Path, fmt: str, opts: Any, load: Loader) -> tuple[Any, SideInfo]:
    """A runner for one side (Session or TFRunner) and the SideInfo naming what runs it."""
    from .session import Session

    ort_name = f"onnxruntime {import_ort().__version__}"
    if fmt == ONNX:
        sess = Session(Path(path), device=opts.device)
        return sess, SideInfo(str(path), fmt, ort_name, sess.provider)
    if _use_tensorflow(opts.savedmodel_runtime):
        from .tf_runner import TFRunner

        runner = TFRunner(path, signature=opts.signature, tags=opts.tags, device=opts.device)
        return runner, SideInfo(str(path), fmt, f"tensorflow {runner.version}", runner.provider)
    model = load(path, tags=opts.tags, signature=opts.signature)
    sess = Session(model, device=opts.device)
    return sess, SideInfo(str(path), fmt, f"{ort_name} (SavedModel via the IR)", sess.provider)


def _use_tensorflow(choice: str) -> bool:
    if choice == "ir":
        return False
    if choice == "tensorflow":
        return True  # TFRunner raises a clear error when TensorFlow is missing
    from .tf_runner import import_tensorflow

    return import_tensorflow() is not None


def _on_gpu(side: SideInfo) -> bool:
    return side.provider == CUDA or side.provider.lstrip("/").upper().startswith("GPU")


def make_feeds(specs: Any, opts: Any) -> list[tuple[int | None, dict]]:
    """(seed, feeds) per run: one set from ``opts.inputs`` (.npz, seed None), else ``opts.runs``
    seeded sets starting at ``opts.seed``. ``specs`` are the SRC side's inputs."""
    specs = [tuple(i) for i in specs]
    names = [s[0] for s in specs]
    if opts.inputs is not None:
        return [(None, load_npz(opts.inputs, names, {s[0]: s[1] for s in specs}))]
    shapes = parse_shape_overrides(opts.shapes, names)
    seeds = [opts.seed + k for k in range(max(1, opts.runs))]
    return [(s, make_inputs(specs, seed=s, shapes=shapes)) for s in seeds]


def _bisect(report: CheckReport, src, dst, feeds_list, opts, load: Loader) -> None:
    failing = next(((seed, feeds) for (seed, feeds), r in zip(feeds_list, report.runs)
                    if not r.ok), None)  # fmt: skip
    if failing is None:
        report.notes.append("bisect: outputs match, nothing to bisect")
        return
    seed, feeds = failing
    label = "the inputs from file" if seed is None else f"the inputs of seed {seed}"
    report.notes.append(f"bisect: both sides run through the IR on ONNX Runtime, on {label}")
    batch = opts.bisect_batch or DEFAULT_BATCH_SIZE
    try:
        models = [load(p, tags=opts.tags, signature=opts.signature) for p in (src, dst)]
        report.bisect = bisect_models(
            models[0], models[1], feeds, device=opts.device, atol=opts.atol, rtol=opts.rtol,
            batch_size=batch, progress=opts.progress,
        )  # fmt: skip
    except (RuntimeSessionError, UnsupportedOpError) as e:  # the mismatch stands: report why
        logger.warning("bisect failed: %s", e)
        report.bisect = BisectReport("failed", 0, 0, 0, batch, hint=f"cannot bisect: {e}")
