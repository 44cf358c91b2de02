"""Which format a path is: an ONNX file or a SavedModel directory."""

from __future__ import annotations

from pathlib import Path

from .errors import ModelLoadError

ONNX = "onnx"
SAVEDMODEL = "savedmodel"


def detect_source(path: str | Path) -> str:
    """The format of an existing model at ``path``."""
    p = Path(path)
    if not p.exists():
        raise ModelLoadError("no such file or directory", path=p)
    if p.is_dir():
        if (p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file():
            return SAVEDMODEL
        raise ModelLoadError(
            "directory has no saved_model.pb or saved_model.pbtxt",
            path=p,
            hint="pass a SavedModel directory or an .onnx file",
        )
    return ONNX


def detect_target(path: str | Path) -> str:
    """The format to write at ``path``: ``.onnx`` is a file, anything else a SavedModel dir."""
    return ONNX if Path(path).suffix.lower() == ".onnx" else SAVEDMODEL

