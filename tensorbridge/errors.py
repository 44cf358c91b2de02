"""Exception types. One base class; each carries the process exit code the CLI maps it to.

Context is added at exactly three boundaries (op handler, pass, runtime session) with
``raise ... from e``; everywhere else errors propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

EXIT_OTHER = 1
EXIT_USAGE = 2
EXIT_UNSUPPORTED = 3
EXIT_MISMATCH = 4
EXIT_RUNTIME = 5


class TensorbridgeError(Exception):
    """Base class. ``hint`` tells the user what to do; ``exit_code`` is the CLI's exit status."""

    exit_code = EXIT_OTHER

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(TensorbridgeError):
    """A bad option or argument: wrong tag set, unknown signature, bad --shape syntax ..."""

    exit_code = EXIT_USAGE


class ModelLoadError(TensorbridgeError):
    """The input model cannot be read: corrupt protobuf, missing file, bad tensor data ..."""

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        where = f"{path}: " if path is not None else ""
        super().__init__(f"{where}{message}", hint=hint)
        self.path = None if path is None else Path(path)


class ModelSaveError(TensorbridgeError):
    """The output cannot be written (existing folder, 2 GB limit, I/O error ...)."""


class UnsupportedOpError(TensorbridgeError):
    """Ops with no handler for the target. Lists every such op, with counts and sample nodes."""

    exit_code = EXIT_UNSUPPORTED

    def __init__(
        self,
        direction: str,
        missing: Mapping[tuple[str, str], Sequence[str]],
        *,
        hint: str | None = None,
    ) -> None:
        self.direction = direction
        self.missing = {k: list(v) for k, v in missing.items()}
        parts = []
        for (domain, op), nodes in sorted(self.missing.items()):
            qual = f"{domain}::{op}" if domain else op
            if not nodes:
                parts.append(qual)
                continue
            sample = ", ".join(repr(n) for n in nodes[:3])
            more = ", ..." if len(nodes) > 3 else ""
            parts.append(f"{qual} x{len(nodes)} (e.g. {sample}{more})")
        super().__init__(f"{direction}: unsupported ops: " + "; ".join(parts), hint=hint)


class ConversionError(TensorbridgeError):
    """An op handler failed. Names the node, the op, the handler and the target version."""


class IRInvariantError(TensorbridgeError):
    """The IR is inconsistent (dangling use, cycle, duplicate name, unknown opset ...)."""


class PassError(TensorbridgeError):
    """A pass raised, or broke an IR invariant under verify-each."""

    def __init__(self, pass_name: str, previous: Sequence[str], iteration: int, message: str):
        self.pass_name = pass_name
        self.previous = list(previous)
        self.iteration = iteration
        before = ", ".join(previous) if previous else "none"
        super().__init__(
            f"pass {pass_name!r} failed (iteration {iteration}; passes before it: {before}): {message}"
        )


class RuntimeSessionError(TensorbridgeError):
    """ONNX Runtime (or TensorFlow) could not create or run a session, or the EP is not active."""

    exit_code = EXIT_RUNTIME


class NumericMismatchError(TensorbridgeError):
    """Outputs differ beyond tolerance. Carries the comparison report."""

    exit_code = EXIT_MISMATCH

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report
