"""Execution-provider selection: ``--device auto|cpu|cuda``.

ONNX Runtime lists ``CUDAExecutionProvider`` whenever the onnxruntime-gpu build is installed,
even where the CUDA libraries are missing, and then silently falls back to the CPU
(microsoft/onnxruntime#23372). So ``auto`` probes once per process: it builds a tiny session with
CUDA requested and looks at the providers it really got. The probe prints nothing: the session's
own logger is switched off and file descriptor 2 is redirected into a temporary file while the
native library runs (its provider-bridge errors go to stderr through the *default* logger). The
captured text is kept, to name the missing library when ``cuda`` was asked for explicitly.

Everything ORT-specific can be injected (``ort_module``, ``distributions``), so every branch is
testable without a GPU.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType

from tensorbridge.errors import RuntimeSessionError, UsageError

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")
# Distributions that all install the one `onnxruntime` module: two at once break each other.
ORT_DISTRIBUTIONS = (
    "onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino",
    "onnxruntime-qnn", "onnxruntime-training",
)  # fmt: skip
CUDA_HINT = "pip install tensorbridge[cuda] (the CUDA and cuDNN runtime wheels)"
_MISSING_LIB = re.compile(r"(lib[\w.+-]+?\.so[\w.]*|[\w.+-]+\.dll): cannot open shared object file")

_ERROR_LINE = re.compile(r"\[E:|error|fail", re.IGNORECASE)


@dataclass(frozen=True)
class CudaProbe:
    """What the probe found: CUDA listed by the build, CUDA really active, and why not."""

    listed: bool
    loads: bool
    detail: str = ""

    @property
    def missing_libraries(self) -> list[str]:
        """Shared libraries the loader could not open, in order, without duplicates."""
        return list(dict.fromkeys(_MISSING_LIB.findall(self.detail)))


def import_ort() -> ModuleType:
    """Import onnxruntime, checking first that exactly one ORT distribution is installed."""
    check_single_distribution()
    import onnxruntime

    return onnxruntime


def installed_ort_distributions() -> list[str]:
    """The ORT distributions present in this environment (by importlib.metadata)."""
    found = []
    for name in ORT_DISTRIBUTIONS:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def check_single_distribution(distributions: Sequence[str] | None = None) -> None:
    """Raise when several ORT distributions share (and break) the one `onnxruntime` module."""
    present = list(installed_ort_distributions() if distributions is None else distributions)
    if len(present) < 2:
        return
    wanted = "onnxruntime-gpu" if "onnxruntime-gpu" in present else present[0]
    raise RuntimeSessionError(
        f"several ONNX Runtime distributions are installed ({', '.join(present)}); they share "
        "the one `onnxruntime` module and overwrite each other's files",
        hint=f"run `pip uninstall -y {' '.join(present)}` then `pip install {wanted}` "
        "(or `pip install onnxruntime` for a CPU-only install)",
    )


@contextlib.contextmanager
def capture_fd2() -> Iterator[list[str]]:
    """Redirect file descriptor 2 (native stderr) into a temporary file; yield a list that
    receives the captured text on exit. Not thread-safe: fd 2 is process-wide."""
    captured: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode("utf-8", "replace"))


@functools.cache
def _probe_model_bytes() -> bytes:
    """A one-node Identity model that every ORT we support loads (ir_version 8, opset 13)."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "tensorbridge_cuda_probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def probe_cuda(ort_module: ModuleType | None = None) -> CudaProbe:
    """Build a tiny session with CUDA requested and report whether CUDA really became active."""
    ort = import_ort() if ort_module is None else ort_module
    if CUDA not in ort.get_available_providers():
        return CudaProbe(listed=False, loads=False, detail="")
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the session logger: silent; the default one is captured
    error = ""
    with capture_fd2() as captured:
        try:
            sess = ort.InferenceSession(_probe_model_bytes(), options, providers=[CUDA, CPU])
            active = list(sess.get_providers())
        except (RuntimeError, OSError, ValueError) as e:  # reported through `detail`
            active, error = [], str(e)
    detail = "\n".join(t for t in (captured[0], error) if t)
    probe = CudaProbe(listed=True, loads=CUDA in active, detail=detail)
    logger.debug("CUDA probe: active=%s detail=%r", active, detail)
    return probe


@functools.cache
def _cached_probe() -> CudaProbe:
    return probe_cuda()


def reset_probe_cache() -> None:
    """Forget the per-process probe result (tests; after installing CUDA libraries)."""
    _cached_probe.cache_clear()


def cuda_unavailable_error(probe: CudaProbe) -> RuntimeSessionError:
    """The error for ``--device cuda`` when CUDA cannot be used, naming what is missing."""
    if not probe.listed:
        return RuntimeSessionError(
            "--device cuda: this onnxruntime build has no CUDAExecutionProvider",
            hint="install onnxruntime-gpu: `pip uninstall -y onnxruntime` then "
            "`pip install onnxruntime-gpu`, or use --device cpu/auto",
        )
    missing = probe.missing_libraries
    why = f"missing {', '.join(missing)}" if missing else _first_line(probe.detail)
    return RuntimeSessionError(
        f"--device cuda: CUDAExecutionProvider is present but failed to load ({why or 'no GPU'})",
        hint=f"{CUDA_HINT}; or check the GPU driver; or use --device cpu/auto",
    )


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    error_lines = [ln for ln in lines if _ERROR_LINE.search(ln)] or lines
    return error_lines[0][:300] if error_lines else ""


def select_providers(
    device: str = "auto",
    *,
    ort_module: ModuleType | None = None,
    distributions: Sequence[str] | None = None,
) -> list[str]:
    """The providers to request for ``device``: ``auto`` -> CUDA (+CPU) only where CUDA really
    loads, else CPU; ``cpu`` -> CPU; ``cuda`` -> CUDA (+CPU fallback for unsupported ops), or a
    RuntimeSessionError naming what is missing. The probe runs once per process (when the real
    onnxruntime is used) and prints nothing."""
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    check_single_distribution(distributions)
    if device == "cpu":
        return [CPU]
    probe = _cached_probe() if ort_module is None else probe_cuda(ort_module)
    if probe.loads:
        logger.info("device %s: using CUDAExecutionProvider", device)
        return [CUDA, CPU]
    if device == "cuda":
        raise cuda_unavailable_error(probe)
    reason = ", ".join(probe.missing_libraries) or ("not in this build" if not probe.listed else "")
    logger.info("device auto: CUDA unavailable (%s); using CPUExecutionProvider",
                reason or "no GPU")  # fmt: skip
    return [CPU]
