"""ONNX <-> IR: the importer (ModelProto -> ir.Model) and the exporter (ir.Model -> ONNX file)."""

from ._runtime import max_runtime_ir_version, max_runtime_opset
from ._write import export_onnx
from .exporter import to_model_proto
from .importer import import_onnx

__all__ = [
    "export_onnx", "import_onnx", "max_runtime_ir_version", "max_runtime_opset",
    "to_model_proto",
]  # fmt: skip
