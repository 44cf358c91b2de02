"""TF op -> IR handlers (``savedmodel->ir``), one small function per op, by family."""

from tensorbridge.converters.registry import Registry

TF_IMPORT = Registry("savedmodel->ir", version_axis="target ONNX opset")

# the family modules register their handlers on import
from . import array, conv, math, nn, slicing, variables  # noqa: E402,F401

__all__ = ["TF_IMPORT"]
