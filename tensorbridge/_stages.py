"""The stages api.py composes, kept apart so the entry points stay readable: the SavedModel
target (types, TF layout, export), the default pipeline, progress events and small file facts.
Like api.py, this module may call converters, passes and runtime; the CLI never imports it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import ir
from .errors import ModelSaveError

logger = logging.getLogger("tensorbridge.api")


@dataclass(frozen=True)
class ProgressEvent:
    phase: str
    done: int
    total: int


Progress = Callable[[ProgressEvent], None]


def save_savedmodel(model: ir.Model, path: Path, **options) -> Path:
    """``model`` (a copy: changed here) in TF's layout, written as a SavedModel directory."""
    check_savedmodel_destination(path, options["overwrite"])
    to_tf_layout(model)
    return export_savedmodel(model, path, **options)


def to_tf_layout(model: ir.Model) -> None:
    """In place: element types and shapes inferred (the lifting needs them, also with
    --no-optimize), then ONNX NCHW Conv/Pool -> Transpose, NHWC TF op, Transpose."""
    from .converters.savedmodel.lift import prepare_layout
    from .passes import PassContext, shape_inference

    shape_inference(model, PassContext())
    prepare_layout(model)


def infer_types(model: ir.Model) -> None:
    """The shape-inference pass as the lifting's type inference (a converter imports no pass)."""
    from .passes import PassContext, shape_inference

    shape_inference(model, PassContext())


def check_savedmodel_destination(path: Path, overwrite: bool) -> None:
    from .converters.savedmodel.writer import check_destination

    check_destination(path, overwrite)


def export_savedmodel(model: ir.Model, path: Path, *, overwrite: bool, freeze: bool, pbtxt: bool,
                       tags: Sequence[str] | None, progress: Progress | None) -> Path:
    from .converters.savedmodel.writer import export_savedmodel

    def on_bytes(done: int, total: int) -> None:
        emit(progress, "variables", done, total)

    t0 = time.perf_counter()
    out = export_savedmodel(model, path, freeze=freeze, pbtxt=pbtxt, overwrite=overwrite,
                            tags=tags, progress=on_bytes if progress is not None else None,
                            infer=infer_types)
    logger.info("save %s in %.0f ms", path, ms(t0))
    return out


def run_default_pipeline(
    model: ir.Model, debug: bool, inputs_as_nchw: Sequence[str] = ()
) -> tuple[ir.Model, list[str]]:
    from .passes import PassContext, default_pipeline, op_counts

    before = sum(op_counts(model).values())
    ctx = PassContext(debug=debug, verify_each=debug, inputs_as_nchw=tuple(inputs_as_nchw))
    result = default_pipeline()(model, ctx)
    after = sum(op_counts(result.model).values())
    return result.model, [f"optimized: {before} -> {after} nodes"]


def pass_names(p) -> list[str]:
    inner = getattr(p, "passes", None)
    return [p.name] if inner is None else [n for q in inner for n in pass_names(q)]


def file_bytes(path: Path) -> int:
    """The model file plus ``<stem>.data`` next to it (where export_onnx puts external data).

    Approximate for inputs written by other tools with other external-data names. A directory
    (SavedModel): every file in it."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    data = path.with_name(f"{path.stem}.data")
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0)


def describe_meta_graph(mg: ir.MetaGraph) -> dict:
    sigs = []
    for sig in mg.signatures.values():
        sigs.append(
            {
                "key": sig.key,
                "method": sig.method,
                "inputs": {k: str(v.type) for k, v in sig.inputs.items()},
                "outputs": {k: str(v.type) for k, v in sig.outputs.items()},
            }
        )
    return {"tags": sorted(mg.tags), "signatures": sigs}


def node_count(model: ir.Model) -> int:
    return sum(1 for g in model.graphs() for _ in g.all_nodes())


def written_opset(path: Path) -> int | None:
    from .converters.onnx.info import read_opset

    return read_opset(path)


def check_overwrite(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise ModelSaveError(f"{path} exists", hint="pass --overwrite to replace it")


def emit(progress: Progress | None, phase: str, done: int, total: int) -> None:
    if progress is not None:
        progress(ProgressEvent(phase, done, total))


def ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
