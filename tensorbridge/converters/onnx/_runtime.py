"""What the installed ONNX Runtime loads: newest opset and IR version, probed once per process."""

from __future__ import annotations

import functools
import logging

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
    for v in range(onnx.IR_VERSION, 6, -1):
        if _loads(_tiny(13, v)):
            logger.debug("ONNX Runtime loads IR version %d", v)
            return v
    raise RuntimeError("the installed ONNX Runtime loads no IR version >= 7")


@functools.cache
def max_runtime_opset() -> int:
    """The newest default-domain opset the installed ONNX Runtime runs."""
    ir_version = max_runtime_ir_version()
    for v in range(onnx.defs.onnx_opset_version(), 12, -1):
        if _loads(_tiny(v, ir_version)):
            logger.debug("ONNX Runtime runs opset %d", v)
            return v
    raise RuntimeError("the installed ONNX Runtime runs no opset >= 13")
