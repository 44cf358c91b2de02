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
from ._formats import ONNX, detect_source, detect_target, require_onnx
from .errors import ModelSaveError, NumericMismatchError, UsageError
from .reports import CheckReport, ConversionReport, InspectReport, SideInfo

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressEvent:
    phase: str
    done: int
    total: int


Progress = Callable[[ProgressEvent], None]


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
    logger.info("load %s: %d nodes in %.0f ms", path, _node_count(model), _ms(t0))
    return model


def save(
    model: ir.Model,
    path: str | Path,
    *,
    opset: int | None = None,
    external_data: bool | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the IR model (as an .onnx file now; SavedModel directories with issue 5)."""
    fmt = detect_target(path)
    require_onnx(fmt, path, "writing")
    _check_overwrite(Path(path), overwrite)
    from .converters.onnx import export_onnx

    t0 = time.perf_counter()
    out = export_onnx(model, Path(path), opset=opset, external_data=external_data)
    logger.info("save %s in %.0f ms", path, _ms(t0))
    return out


def convert(
    src: str | Path, dst: str | Path, options: ConvertOptions | None = None
) -> ConversionReport:
    """Load ``src``, write ``dst``; with ``options.check`` run both and compare outputs.

    Raises NumericMismatchError (after writing) when the check fails, carrying the report.
    """
    opts = options or ConvertOptions()
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise UsageError(f"{dst}: the output would overwrite the source")
    _emit(opts.progress, "load", 0, 4)
    t0 = time.perf_counter()
    model = load(src, tags=opts.tags, signature=opts.signature)
    notes = []
    if opts.optimize:
        _emit(opts.progress, "optimize", 1, 4)
        model, notes = _run_default_pipeline(model, opts.debug, opts.inputs_as_nchw)
    _emit(opts.progress, "save", 2, 4)
    save(model, dst, opset=opts.opset, external_data=opts.external_data, overwrite=opts.overwrite)
    report = ConversionReport(
        SideInfo(str(src), detect_source(src)),
        SideInfo(str(dst), detect_target(dst)),
        opset=_written_opset(dst),
        node_count=_node_count(model),
        seconds=time.perf_counter() - t0,
        notes=notes,
    )
    if opts.check:
        _emit(opts.progress, "check", 3, 4)
        copts = opts.check_options
        copts.tags = copts.tags if copts.tags is not None else opts.tags
        copts.signature = copts.signature or opts.signature
        report.check = check(src, dst, copts)
        if not report.check.ok:
            raise NumericMismatchError(f"{dst}: outputs differ from {src}", report=report)
    _emit(opts.progress, "done", 4, 4)
    return report


def check(
    src: str | Path, dst: str | Path, options: CheckOptions | None = None
) -> CheckReport:
    """Run ``src`` and ``dst`` on the same inputs and compare every output."""
    from .runtime import compare_outputs, load_npz, make_inputs, parse_shape_overrides

    opts = options or CheckOptions()
    (a, side_a), (b, side_b) = _side(src, opts), _side(dst, opts)
    specs = [tuple(i) for i in a.inputs]
    feeds_list: list[tuple[int | None, dict]] = []
    if opts.inputs is not None:
        feeds_list.append((None, load_npz(opts.inputs, [s[0] for s in specs])))
    else:
        shapes = parse_shape_overrides(opts.shapes, [s[0] for s in specs])
        for k in range(max(1, opts.runs)):
            feeds_list.append((opts.seed + k, make_inputs(specs, seed=opts.seed + k, shapes=shapes)))
    runs = [
        compare_outputs(a.run(feeds), b.run(feeds), atol=opts.atol, rtol=opts.rtol)
        for _, feeds in feeds_list
    ]
    side_a.provider, side_b.provider = a.provider, b.provider
    return CheckReport(
        side_a,
        side_b,
        runs,
        [seed for seed, _ in feeds_list],
    )


def _side(path: str | Path, opts: CheckOptions):
    """A runtime session for one side of a check, and what runs it. A SavedModel runs
    through the IR on ONNX Runtime (natively in TensorFlow arrives with issue 6)."""
    from .runtime import Session

    fmt = detect_source(path)
    if fmt == ONNX:
        return Session(Path(path), device=opts.device), SideInfo(str(path), fmt, "onnxruntime")
    model = load(path, tags=opts.tags, signature=opts.signature)
    session = Session(model, device=opts.device)
    return session, SideInfo(str(path), fmt, "onnxruntime (via the IR)")


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
        meta_graphs=[_describe_meta_graph(mg) for mg in model.meta_graphs],
        op_histogram=dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))),
        initializer_count=init_count,
        initializer_bytes=init_bytes,
        variable_count=len(model.variables),
        variable_bytes=sum(ir.nbytes(v.tensor) for v in model.variables.values()),
    )


def supported_ops() -> dict[str, list[str]]:
    """What each direction supports, by op type."""
    from .converters.onnx.info import supported_onnx_ops

    onnx_ops = supported_onnx_ops()
    return {
        "onnx->ir": onnx_ops,
        "ir->onnx": onnx_ops,
        "savedmodel->ir": [],  # issue 4
        "ir->savedmodel": [],  # issue 5
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
    """Load ``src`` (ONNX), run the named passes (default: the default pipeline), save ``dst``.

    Unknown pass names raise UsageError before anything is read. With ``debug`` the IR is
    verified after every pass.
    """
    from .passes import PassContext, Pipeline, default_pipeline, get_pass, op_counts

    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise UsageError(f"{dst}: the output would overwrite the source")
    pipeline = default_pipeline() if passes is None else Pipeline(
        "optimize", [get_pass(n) for n in passes])
    require_onnx(detect_target(dst), dst, "writing")
    _check_overwrite(dst, overwrite)
    t0 = time.perf_counter()
    model = load(src)
    before = dict(sorted(op_counts(model).items()))
    ctx = PassContext(debug=debug, verify_each=debug,
                      keep_signatures=list(keep_signatures) if keep_signatures else None)
    result = pipeline(model, ctx)
    out = save(result.model, dst, opset=opset, overwrite=overwrite)
    return OptimizeReport(
        str(src), str(dst), _pass_names(pipeline),
        before, dict(sorted(op_counts(result.model).items())),
        _file_bytes(src), _file_bytes(out), result.changed, time.perf_counter() - t0,
    )  # fmt: skip


def _run_default_pipeline(
    model: ir.Model, debug: bool, inputs_as_nchw: Sequence[str] = ()
) -> tuple[ir.Model, list[str]]:
    from .passes import PassContext, default_pipeline, op_counts

    before = sum(op_counts(model).values())
    ctx = PassContext(debug=debug, verify_each=debug, inputs_as_nchw=tuple(inputs_as_nchw))
    result = default_pipeline()(model, ctx)
    after = sum(op_counts(result.model).values())
    return result.model, [f"optimized: {before} -> {after} nodes"]


def _pass_names(p) -> list[str]:
    inner = getattr(p, "passes", None)
    return [p.name] if inner is None else [n for q in inner for n in _pass_names(q)]


def _file_bytes(path: Path) -> int:
    """The model file plus ``<stem>.data`` next to it (where export_onnx puts external data).

    Approximate for inputs written by other tools with other external-data names."""
    data = path.with_name(f"{path.stem}.data")
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0)


# ---- helpers -----------------------------------------------------------------------------
def _describe_meta_graph(mg: ir.MetaGraph) -> dict:
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


def _node_count(model: ir.Model) -> int:
    return sum(1 for g in model.graphs() for _ in g.all_nodes())


def _written_opset(path: Path) -> int | None:
    from .converters.onnx.info import read_opset

    return read_opset(path)


def _check_overwrite(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise ModelSaveError(f"{path} exists", hint="pass --overwrite to replace it")


def _emit(progress: Progress | None, phase: str, done: int, total: int) -> None:
    if progress is not None:
        progress(ProgressEvent(phase, done, total))


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
