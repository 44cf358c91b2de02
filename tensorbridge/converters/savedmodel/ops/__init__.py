"""TF op -> IR handlers (``savedmodel->ir``), one small function per op, by family."""

from tensorbridge.converters.registry import Registry

TF_IMPORT = Registry("savedmodel->ir", version_axis="target ONNX opset")

# the family modules register their handlers on import
from . import (  # noqa: E402,F401
    array,
    conv,
    conv2,
    gather,
    image,
    indexing,
    math,
    nn,
    nn2,
    scan,
    shaping,
    slicing,
    variables,
)

__all__ = ["TF_IMPORT"]
