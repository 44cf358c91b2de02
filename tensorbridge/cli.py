"""The `tensorbridge` command: parse options, call tensorbridge.api, render the report.

Errors print one line (no traceback unless --debug) and exit with the error's code:
2 usage, 3 unsupported op, 4 numeric mismatch, 5 runtime/execution provider, 1 anything else.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import click

from . import api
from .errors import NumericMismatchError, TensorbridgeError

_DEVICE = click.Choice(["auto", "cpu", "cuda"])
_BIG_VARIABLES = 64 << 20  # bytes of weights worth a progress bar


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Full tracebacks and DEBUG logs.")
@click.option("-v", "--verbose", is_flag=True, help="INFO logs: one line per phase.")
@click.version_option(package_name="tensorbridge")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Convert between TensorFlow SavedModel and ONNX without TensorFlow, and check the result."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"debug": debug}


def _check_options(f: Callable) -> Callable:
    opts = [
        click.option("--device", type=_DEVICE, default="auto", show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--runs", type=int, default=1, show_default=True, help="Seeds to try."),
        click.option("--shape", "shapes", multiple=True, metavar="NAME=D1,D2,...",
                     help="Size of an input's dynamic dims, e.g. x=1,224,224,3."),
        click.option("--inputs", type=click.Path(exists=True, dir_okay=False),
                     help="An .npz file with real inputs, by input name."),
        click.option("--atol", type=float), click.option("--rtol", type=float),
        click.option("--savedmodel-runtime", type=click.Choice(["auto", "tensorflow", "ir"]),
                     default="auto", show_default=True,
                     help="Run a SavedModel side in TensorFlow, or through the IR on ONNX Runtime "
                     "(auto: TensorFlow when importable)."),
        click.option("--bisect", is_flag=True,
                     help="On mismatch, name the first node whose output diverges."),
        click.option("--bisect-batch", type=click.IntRange(min=1), metavar="K",
                     help="Intermediate values compared per bisection batch (memory bound; 8)."),
    ]  # fmt: skip
    for o in reversed(opts):
        f = o(f)
    return f


def _make_check_options(kw: dict[str, Any]) -> api.CheckOptions:
    keys = ("device", "seed", "runs", "shapes", "inputs", "atol", "rtol", "savedmodel_runtime",
            "bisect", "bisect_batch")  # fmt: skip
    return api.CheckOptions(**{k: kw.pop(k) for k in keys}, progress=_bisect_progress())


@cli.command()
@click.argument("src", type=click.Path(exists=True))
@click.argument("dst", type=click.Path())
@click.option("--opset", type=int, help="Target ONNX opset (13 up to what ONNX Runtime runs).")
@click.option("--tags", help="Meta graph tag set, comma-separated: the one to read from a SavedModel "
              "input, or the output's for an ONNX input (default serve).")
@click.option("--signature", help="Signature key (SavedModel input).")
@click.option("--external-data/--no-external-data", default=None,
              help="Weights in a separate file (always past 2 GB).")
@click.option("--freeze", is_flag=True,
              help="SavedModel output: weights as constants, no variables/ (refused past 2 GB).")
@click.option("--pbtxt", is_flag=True, help="SavedModel output: saved_model.pbtxt (text format).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--optimize/--no-optimize", default=True, show_default=True,
              help="Run the default pass pipeline (freeze, fold, simplify, cse, prune).")
@click.option("--inputs-as-nchw", metavar="NAME[,NAME]",
              help="Image inputs to take in NCHW layout (no entry Transpose left for them).")
@click.option("--check", "run_check", is_flag=True,
              help="Run both models and compare outputs; on mismatch exit 4 (output kept).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_check_options
def convert(src, dst, opset, tags, signature, external_data, freeze, pbtxt, overwrite, optimize,
            inputs_as_nchw, run_check, as_json, **kw):
    """Convert SRC to DST (the format follows DST: .onnx is ONNX, anything else a SavedModel
    directory)."""
    options = api.ConvertOptions(
        opset=opset,
        tags=_split(tags),
        signature=signature,
        external_data=external_data,
        freeze=freeze,
        pbtxt=pbtxt,
        overwrite=overwrite,
        optimize=optimize,
        inputs_as_nchw=tuple(inputs_as_nchw.split(",")) if inputs_as_nchw else (),
        debug=click.get_current_context().obj["debug"],
        check=run_check,
        check_options=_make_check_options(kw),
        progress=_progress_renderer(),
    )
    report = _call(lambda: api.convert(src, dst, options), as_json)
    _emit(report, as_json)


@cli.command()
@click.argument("src", type=click.Path(exists=True))
@click.argument("dst", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_check_options
def check(src, dst, as_json, **kw):
    """Run SRC and DST on the same inputs and compare outputs (ONNX or SavedModel, either side).

    Exit 0 when every output matches, 4 on mismatch, 5 on a runtime/device error, 2 on bad
    options, 1 on other errors. --bisect names the first diverging node on mismatch."""
    report = _call(lambda: api.check(src, dst, _make_check_options(kw)), as_json)
    _emit(report, as_json)
    if not report.ok:
        sys.exit(NumericMismatchError.exit_code)


@cli.command()
@click.argument("src", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def inspect(src, as_json):
    """Show inputs, outputs, opsets, op histogram and weight sizes."""
    _emit(_call(lambda: api.inspect(src), as_json), as_json)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def ops(as_json):
    """List the ops each conversion direction supports."""
    table = _call(api.supported_ops, as_json)
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    for direction, names in table.items():
        click.echo(f"{direction}: {len(names)} ops")
        for i in range(0, len(names), 8):
            click.echo("  " + " ".join(names[i : i + 8]))


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), help="Where to write (default: a temp dir).")
def example(out):
    """Convert the bundled example model, check it on ONNX Runtime and print the report."""
    workdir = out or tempfile.mkdtemp(prefix="tensorbridge-example-")
    _emit(_call(lambda: api.example(workdir), False), False)


@cli.command()
@click.argument("src", type=click.Path(exists=True))
@click.argument("dst", type=click.Path())
@click.option("--passes", "pass_names", metavar="A,B,C",
              help="Passes to run, in order (default: the default pipeline; see `passes`).")
@click.option("--keep-signatures", metavar="A,B", help="Keep only these signatures.")
@click.option("--opset", type=int, help="Target ONNX opset of DST.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def optimize(ctx, src, dst, pass_names, keep_signatures, opset, overwrite, as_json):
    """Run optimization passes on SRC and write DST (.onnx, or else a SavedModel directory)."""
    names = _split(pass_names)
    keep = _split(keep_signatures)
    debug = bool(ctx.obj["debug"])
    report = _call(
        lambda: api.optimize(src, dst, names, keep, overwrite, opset, debug=debug), as_json
    )
    _emit(report, as_json)


@cli.command(name="passes")
def list_passes():
    """List the optimization passes, one line each."""
    for name, description in _call(api.list_passes, False):
        click.echo(f"{name:20s} {description}")


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


# ---- plumbing -----------------------------------------------------------------------------
def _call(fn: Callable[[], Any], as_json: bool) -> Any:
    ctx = click.get_current_context()
    try:
        return fn()
    except TensorbridgeError as e:
        if ctx.obj["debug"]:
            raise
        if isinstance(e, NumericMismatchError) and e.report is not None:
            _emit(e.report, as_json)
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except OSError as e:
        if ctx.obj["debug"]:
            raise
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except Exception as e:  # a bug: still one line, the traceback only with --debug
        if ctx.obj["debug"]:
            raise
        click.echo(f"internal error: {type(e).__name__}: {e} (rerun with --debug)", err=True)
        sys.exit(1)


def _emit(report: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=False))
    else:
        click.echo(report.summary())


def _progress_renderer() -> Callable[[api.ProgressEvent], None] | None:
    """A click progress bar on a terminal; None (quiet) when stderr is piped. Writing the
    variables of a big model (``variables`` events, in bytes) gets a bar of its own."""
    if not sys.stderr.isatty():
        return None
    bar: dict[str, Any] = {}

    def render(ev: api.ProgressEvent) -> None:
        if ev.phase == "variables":
            _variables_bar(bar, ev)
            return
        if "bar" not in bar:
            bar["bar"] = click.progressbar(length=ev.total, label="converting", file=sys.stderr)
            bar["bar"].__enter__()
        b = bar["bar"]
        b.label = ev.phase
        b.update(ev.done - b.pos)
        if ev.done >= ev.total:
            b.__exit__(None, None, None)

    return render


def _variables_bar(bars: dict[str, Any], ev: api.ProgressEvent) -> None:
    if ev.total < _BIG_VARIABLES and "variables" not in bars:
        return
    if "variables" not in bars:
        bars["variables"] = click.progressbar(length=ev.total, label="writing variables",
                                              file=sys.stderr)
        bars["variables"].__enter__()
    b = bars["variables"]
    b.update(ev.done - b.pos)
    if ev.done >= ev.total:
        b.__exit__(None, None, None)


def _bisect_progress() -> Callable[[int, int], None] | None:
    """A click progress bar over bisection batches on a terminal; None when stderr is piped."""
    if not sys.stderr.isatty():
        return None
    bar: dict[str, Any] = {}

    def render(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = click.progressbar(length=total, label="bisecting", file=sys.stderr)
            bar["bar"].__enter__()
        b = bar["bar"]
        b.update(done - b.pos)
        if done >= total:
            b.__exit__(None, None, None)

    return render


def main() -> None:
    cli(prog_name="tensorbridge")


if __name__ == "__main__":
    main()
