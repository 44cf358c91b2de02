"""What the installed ONNX Runtime loads: newest opset and IR version.

Probed by loading tiny models, once per installed runtime: the answers are kept in a small JSON
file in the user's cache directory ($TENSORBRIDGE_CACHE, else $XDG_CACHE_HOME/tensorbridge, else
~/.cache/tensorbridge), keyed by the onnx and onnxruntime distributions' names and versions, so a
conversion imports onnxruntime only the first time (its import and the probes took ~60 ms of a
0.6 s conversion). An unreadable or unwritable cache only means probing again.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import tempfile
from pathlib import Path

import onnx
from onnx import TensorProto, helper

logger = logging.getLogger(__name__)


def _tiny(opset: int, ir_version: int) -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model.SerializeToString()


def _loads(model: bytes) -> bool:
    import onnxruntime as ort  # local: only the probes need it

    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - any failure means "this version does not load"
        return False
    return True


@functools.cache
def max_runtime_ir_version() -> int:
    """The newest ModelProto.ir_version the installed ONNX Runtime accepts (>= 7)."""
    return _cached("ir_version", _probe_ir_version)


@functools.cache
def max_runtime_opset() -> int:
    """The newest default-domain opset the installed ONNX Runtime runs."""
    return _cached("opset", _probe_opset)


def _probe_ir_version() -> int:
    for v in range(onnx.IR_VERSION, 6, -1):
        if _loads(_tiny(13, v)):
            logger.debug("ONNX Runtime loads IR version %d", v)
            return v
    raise RuntimeError("the installed ONNX Runtime loads no IR version >= 7")


def _probe_opset() -> int:
    ir_version = max_runtime_ir_version()
    for v in range(onnx.defs.onnx_opset_version(), 12, -1):
        if _loads(_tiny(v, ir_version)):
            logger.debug("ONNX Runtime runs opset %d", v)
            return v
    raise RuntimeError("the installed ONNX Runtime runs no opset >= 13")


# ---- the cache ----------------------------------------------------------------------------
def _cached(key: str, probe) -> int:
    path = _cache_file()
    entries = _read(path) if path is not None else {}
    value = entries.get(key)
    if isinstance(value, int):
        return value
    value = probe()
    if path is not None:
        _write(path, {**entries, key: value})
    return value


def _cache_file() -> Path | None:
    """The cache file for the installed onnx and onnxruntime; None without onnxruntime. The
    runtime is named by its installed .dist-info directories (name and version; importlib.metadata
    would cost as much as the probe), else by its package file's modification time."""
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or spec.origin is None:
        return None
    package = Path(spec.origin)
    try:
        site = package.parent.parent
        infos = sorted(n.removesuffix(".dist-info") for n in os.listdir(site)
                       if n.lower().startswith("onnxruntime") and n.endswith(".dist-info"))
        ident = infos or [f"onnxruntime-{int(package.stat().st_mtime)}"]
    except OSError:
        return None
    root = os.environ.get("TENSORBRIDGE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "tensorbridge")
    key = "_".join([f"onnx-{onnx.__version__}", *ident]).replace(os.sep, "_")
    return Path(root) / f"ort-caps_{key}.json"


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict) -> None:
    """Atomically (parallel processes may write the same answers)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError as e:
        logger.debug("not caching the ONNX Runtime probe in %s: %s", path, e)
