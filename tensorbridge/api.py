"""The library entry points. They compose importers, passes, exporters and the runtime; the CLI
is a thin layer over exactly these calls.

    model = tensorbridge.load("model.onnx")
    tensorbridge.save(model, "model13.onnx", opset=13)
    report = tensorbridge.convert("model.onnx", "out.onnx", ConvertOptions(check=True))
    report = tensorbridge.check("a.onnx", "b.onnx")
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import ir
from ._formats import ONNX, SAVEDMODEL, detect_source, detect_target
from ._stages import (
    Progress,
    ProgressEvent,  # noqa: F401 - part of the API
    check_overwrite,
    check_savedmodel_destination,
    describe_meta_graph,
    emit,
    export_savedmodel,
    file_bytes,
    ms,
    node_count,
    pass_names,
    run_default_pipeline,
    save_savedmodel,
    to_tf_layout,
    written_opset,
)
from .errors import NumericMismatchError, UsageError
from .reports import CheckReport, ConversionReport, InspectReport, SideInfo

logger = logging.getLogger(__name__)


@dataclass
class CheckOptions:
    device: str = "auto"
    seed: int = 0
    runs: int = 1
    shapes: Sequence[str] = ()  # "name=1,224,224,3"
    inputs: str | Path | None = None  # an .npz file of real inputs
    atol: float | None = None
    rtol: float | None = None
    signature: str | None = None  # SavedModel sides
    tags: Sequence[str] | None = None  # SavedModel sides
    savedmodel_runtime: str = "auto"  # auto (TensorFlow when importable) | tensorflow | ir
    bisect: bool = False  # on mismatch, find the first diverging node
    bisect_batch: int | None = None  # intermediate values per bisection batch (default 8)
    progress: Callable[[int, int], None] | None = None  # bisection batches: (done, total)


@dataclass
class ConvertOptions:
    opset: int | None = None
    tags: Sequence[str] | None = None
    signature: str | None = None
    external_data: bool | None = None
    overwrite: bool = False
    optimize: bool = True  # run the default pass pipeline (--no-optimize skips it)
    inputs_as_nchw: Sequence[str] = ()  # image inputs to make NCHW (no entry Transpose)
    debug: bool = False  # verify the IR after every pass
    freeze: bool = False  # SavedModel output: every weight as a Const (no variables/)
    pbtxt: bool = False  # SavedModel output: saved_model.pbtxt (text format)
    check: bool = False
    check_options: CheckOptions = field(default_factory=CheckOptions)
    progress: Progress | None = None


def load(
    path: str | Path, *, tags: Sequence[str] | None = None, signature: str | None = None
) -> ir.Model:
    """Read a model into the IR: an .onnx file, or one signature of a SavedModel directory
    (meta graph by exact tag-set match, signature by key; defaults as TF's loaders choose)."""
    fmt = detect_source(path)
    t0 = time.perf_counter()
    if fmt == ONNX:
        from .converters.onnx import import_onnx

        model = import_onnx(Path(path))
    else:
        from .converters.savedmodel.importer import import_savedmodel

        model = import_savedmodel(Path(path), tags=tags, signature=signature)
    logger.info("load %s: %d nodes in %.0f ms", path, node_count(model), ms(t0))
    return model


def save(
    model: ir.Model,
    path: str | Path,
    *,
    opset: int | None = None,
    external_data: bool | None = None,
    overwrite: bool = False,
    freeze: bool = False,
    pbtxt: bool = False,
    tags: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the IR model: an .onnx file, or else a SavedModel directory.

    SavedModel options: ``freeze`` (weights as Consts, no variables/), ``pbtxt`` (text
    format), ``tags`` (the tag set of a one-meta-graph model; default its own), ``progress``
    (ProgressEvent("variables", bytes done, bytes total) while weights are written). ``model``
    is left untouched (written from a copy with TF's NHWC conv/pool layout)."""
    fmt = detect_target(path)
    if fmt == SAVEDMODEL:
        return save_savedmodel(ir.clone_model(model), Path(path), overwrite=overwrite,
                                freeze=freeze, pbtxt=pbtxt, tags=tags, progress=progress)
    check_overwrite(Path(path), overwrite)
    from .converters.onnx import export_onnx

    t0 = time.perf_counter()
    out = export_onnx(model, Path(path), opset=opset, external_data=external_data)
    logger.info("save %s in %.0f ms", path, ms(t0))
    return out


def convert(
    src: str | Path, dst: str | Path, options: ConvertOptions | None = None
) -> ConversionReport:
    """Load ``src``, write ``dst``; with ``options.check`` run both and compare outputs.

    Raises NumericMismatchError (exit code 4) when the check fails, carrying the report; the
    output stays written (to inspect or bisect it) and the message says so.
    """
    opts = options or ConvertOptions()
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise UsageError(f"{dst}: the output would overwrite the source")
    emit(opts.progress, "load", 0, 4)
    t0 = time.perf_counter()
    model = load(src, tags=opts.tags, signature=opts.signature)
    notes = []
    to_savedmodel = detect_target(dst) == SAVEDMODEL
    if to_savedmodel:
        check_savedmodel_destination(dst, opts.overwrite)
        if opts.optimize:  # first at ONNX level: BatchNormalization folds into Conv, Identity goes
            model, _ = run_default_pipeline(model, opts.debug, opts.inputs_as_nchw)
        to_tf_layout(model)  # TF CPU runs conv/pool only NHWC; the pipeline cancels Transposes
    if opts.optimize:
        emit(opts.progress, "optimize", 1, 4)
        model, notes = run_default_pipeline(model, opts.debug, opts.inputs_as_nchw)
    emit(opts.progress, "save", 2, 4)
    if to_savedmodel:
        # --tags picks a SavedModel source's meta graph (whose tags the output keeps), or tags
        # the output of an ONNX source
        export_savedmodel(model, dst, overwrite=opts.overwrite, freeze=opts.freeze,
                           pbtxt=opts.pbtxt, tags=None if detect_source(src) == SAVEDMODEL else opts.tags,
                           progress=opts.progress)
    else:
        save(model, dst, opset=opts.opset, external_data=opts.external_data,
             overwrite=opts.overwrite)
    report = ConversionReport(
        SideInfo(str(src), detect_source(src)),
        SideInfo(str(dst), detect_target(dst)),
        opset=None if to_savedmodel else written_opset(dst),
        node_count=node_count(model),
        seconds=time.perf_counter() - t0,
        notes=notes,
    )
    if opts.check:
        emit(opts.progress, "check", 3, 4)
        copts = opts.check_options
        copts.tags = copts.tags if copts.tags is not None else opts.tags
        copts.signature = copts.signature or opts.signature
        report.check = check(src, dst, copts)
        if not report.check.ok:
            raise NumericMismatchError(
                f"{dst}: outputs differ from {src}; the output is kept for inspection", report=report
            )
    emit(opts.progress, "done", 4, 4)
    return report


def check(
    src: str | Path, dst: str | Path, options: CheckOptions | None = None
) -> CheckReport:
    """Run ``src`` and ``dst`` on the same inputs and compare every output.

    Each side runs on its own runtime (ONNX on ONNX Runtime; a SavedModel in TensorFlow when it
    is importable, else through the IR on ONNX Runtime; see ``options.savedmodel_runtime``).
    With ``options.bisect`` a mismatch also names the first diverging node (``report.bisect``).
    The report is data: ``report.ok``, ``report.to_dict()`` (JSON schema: reports.CheckReport).
    """
    from .runtime.check import run_check

    return run_check(src, dst, options or CheckOptions(), load=load, detect=detect_source)


def inspect(path: str | Path) -> InspectReport:
    """What a model holds: meta graphs, signatures, opsets, op histogram, weight bytes (and,
    for a SavedModel, the ops with no import handler yet)."""
    fmt = detect_source(path)
    if fmt != ONNX:
        from .converters.savedmodel.inspect import describe_savedmodel

        d = describe_savedmodel(path)
        return InspectReport(
            path=str(path), format=fmt, producer=d["producer"], opsets={},
            meta_graphs=d["meta_graphs"], op_histogram=d["op_histogram"],
            initializer_count=0, initializer_bytes=0, variable_count=d["variable_count"],
            variable_bytes=d["variable_bytes"], unsupported_ops=d["unsupported_ops"],
        )  # fmt: skip
    model = load(path)
    hist: Counter[str] = Counter()
    init_count = init_bytes = 0
    for g in model.graphs():
        for tree in g.subgraph_tree():
            hist.update(n.qualified_op for n in tree)
            for v in tree.initializers.values():
                if v.const is not None:
                    init_count += 1
                    init_bytes += ir.nbytes(v.const)
    from .converters.onnx.info import read_opsets

    opsets = read_opsets(path)
    return InspectReport(
        path=str(path),
        format=fmt,
        producer=" ".join(x for x in (model.producer_name, model.producer_version) if x),
        opsets=opsets,
        meta_graphs=[describe_meta_graph(mg) for mg in model.meta_graphs],
        op_histogram=dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))),
        initializer_count=init_count,
        initializer_bytes=init_bytes,
        variable_count=len(model.variables),
        variable_bytes=sum(ir.nbytes(v.tensor) for v in model.variables.values()),
    )


def supported_ops() -> dict[str, list[str]]:
    """What each direction supports, by op type."""
    from .converters.onnx.info import supported_onnx_ops
    from .converters.savedmodel.lift import TF_LIFT

    onnx_ops = supported_onnx_ops()
    return {
        "onnx->ir": onnx_ops,
        "ir->onnx": onnx_ops,
        "savedmodel->ir": [],  # issue 4
        "ir->savedmodel": TF_LIFT.op_types(ir.CANONICAL_OPSET),
    }


def example(workdir: str | Path) -> ConversionReport:
    """The bundled example: convert a small real ONNX model to opset 13 and check it."""
    src = Path(__file__).parent / "examples" / "small_cnn.onnx"
    dst = Path(workdir) / "small_cnn.opset13.onnx"
    return convert(src, dst, ConvertOptions(opset=13, overwrite=True, check=True))


@dataclass
class OptimizeReport:
    """What ``optimize`` did: passes run, node counts per op type and file sizes, before/after."""

    src: str
    dst: str
    passes: list[str]
    ops_before: dict[str, int]
    ops_after: dict[str, int]
    bytes_before: int
    bytes_after: int
    changed: bool
    seconds: float

    @property
    def nodes_before(self) -> int:
        return sum(self.ops_before.values())

    @property
    def nodes_after(self) -> int:
        return sum(self.ops_after.values())

    def to_dict(self) -> dict:
        return {
            "src": self.src, "dst": self.dst, "passes": self.passes, "changed": self.changed,
            "nodes_before": self.nodes_before, "nodes_after": self.nodes_after,
            "ops_before": self.ops_before, "ops_after": self.ops_after,
            "bytes_before": self.bytes_before, "bytes_after": self.bytes_after,
            "seconds": round(self.seconds, 3),
        }  # fmt: skip

    def summary(self) -> str:
        lines = [
            f"{self.src} -> {self.dst}",
            f"passes: {', '.join(self.passes)}",
            f"nodes: {self.nodes_before} -> {self.nodes_after}",
            f"file bytes: {self.bytes_before} -> {self.bytes_after}",
        ]
        for op in sorted(set(self.ops_before) | set(self.ops_after)):
            b, a = self.ops_before.get(op, 0), self.ops_after.get(op, 0)
            lines.append(f"  {op:24s} {b:6d} -> {a:6d}" + ("" if a == b else f"  ({a - b:+d})"))
        return "\n".join(lines)


def list_passes() -> list[tuple[str, str]]:
    """(name, one-line description) of every registered pass."""
    from .passes import describe_passes

    return describe_passes()


def optimize(
    src: str | Path,
    dst: str | Path,
    passes: list[str] | None = None,
    keep_signatures: Sequence[str] | None = None,
    overwrite: bool = False,
    opset: int | None = None,
    *,
    debug: bool = False,
) -> OptimizeReport:
    """Load ``src``, run the named passes (default: the default pipeline), save ``dst`` (an
    .onnx file, or else a SavedModel directory).

    Unknown pass names raise UsageError before anything is read. With ``debug`` the IR is
    verified after every pass.
    """
    from .passes import PassContext, Pipeline, default_pipeline, get_pass, op_counts

    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise UsageError(f"{dst}: the output would overwrite the source")
    pipeline = default_pipeline() if passes is None else Pipeline(
        "optimize", [get_pass(n) for n in passes])
    to_savedmodel = detect_target(dst) == SAVEDMODEL
    if to_savedmodel:
        check_savedmodel_destination(dst, overwrite)
    else:
        check_overwrite(dst, overwrite)
    t0 = time.perf_counter()
    model = load(src)
    before = dict(sorted(op_counts(model).items()))
    ctx = PassContext(debug=debug, verify_each=debug,
                      keep_signatures=list(keep_signatures) if keep_signatures else None)
    if to_savedmodel:
        # the passes at ONNX level first (BatchNormalization folds into Conv), then TF's layout,
        # then the passes again so the layout pass cancels the Transposes
        model = pipeline(model, ctx).model
        to_tf_layout(model)
    result = pipeline(model, ctx)
    if to_savedmodel:
        out = export_savedmodel(result.model, dst, overwrite=overwrite, freeze=False, pbtxt=False,
                                 tags=None, progress=None)
    else:
        out = save(result.model, dst, opset=opset, overwrite=overwrite)
    return OptimizeReport(
        str(src), str(dst), pass_names(pipeline),
        before, dict(sorted(op_counts(result.model).items())),
        file_bytes(src), file_bytes(out), result.changed, time.perf_counter() - t0,
    )  # fmt: skip
