"""tensorbridge: convert between TensorFlow SavedModel and ONNX without TensorFlow.

Library API (the CLI is a thin layer over it)::

    import tensorbridge as tb
    model = tb.load("model.onnx")                  # -> tb.ir.Model
    tb.save(model, "model13.onnx", opset=13)
    report = tb.convert("model.onnx", "out.onnx", tb.ConvertOptions(check=True))
    report = tb.check("a.onnx", "b.onnx")          # report.ok, report.to_dict()
"""

import logging

from . import ir
from .api import (
    CheckOptions,
    ConvertOptions,
    ProgressEvent,
    check,
    convert,
    example,
    inspect,
    load,
    save,
    supported_ops,
)
from .errors import TensorbridgeError

__version__ = "0.1.0"
__all__ = [
    "CheckOptions", "ConvertOptions", "ProgressEvent", "TensorbridgeError", "check", "convert",
    "example", "inspect", "ir", "load", "save", "supported_ops",
]  # fmt: skip

logging.getLogger(__name__).addHandler(logging.NullHandler())
