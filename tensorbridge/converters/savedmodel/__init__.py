"""SavedModel <-> IR without TensorFlow: ``import_savedmodel`` (importer.py) and
``export_savedmodel`` (writer.py). Loaded lazily, so importing one side does not import the
other's handler families."""

from __future__ import annotations

from typing import Any

__all__ = ["export_savedmodel", "import_savedmodel"]


def __getattr__(name: str) -> Any:
    if name == "export_savedmodel":
        from .writer import export_savedmodel

        return export_savedmodel
    if name == "import_savedmodel":
        from .importer import import_savedmodel

        return import_savedmodel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
