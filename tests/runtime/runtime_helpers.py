"""Helpers for the runtime tests: tiny ONNX models built with onnx.helper, and a fake
onnxruntime module whose CUDA behaviour each test chooses. (A plain module, not a conftest,
so that it never collides with other test directories' conftest.py.)"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tensorbridge.converters.savedmodel.bundle import BundleReader, BundleWriter

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def identity_model(elem: int = TensorProto.FLOAT, shape=("N", 3), opset: int = 21):
    x = helper.make_tensor_value_info("x", elem, list(shape))
    y = helper.make_tensor_value_info("y", elem, list(shape))
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "ident", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model


def add_const_model(n: int = 64):
    """y = x + w with a float32 initializer w of n elements (big enough for external data)."""
    w = numpy_helper.from_array(np.arange(n, dtype=np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])
    node = helper.make_node("Add", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "addw", [x], [y], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


class FakeSession:
    def __init__(self, ort: FakeOrt, providers: list[str]):
        if ort.stderr_text:
            os.write(2, ort.stderr_text.encode())  # what the native library does
        if ort.raises is not None:
            raise ort.raises
        self._active = [p for p in providers if p in ort.loadable]

    def get_providers(self):
        return self._active


class FakeOrt:
    """Stands in for the onnxruntime module in providers.probe_cuda."""

    def __init__(self, available, loadable=(CPU,), stderr_text="", raises=None):
        self.available = list(available)
        self.loadable = list(loadable)
        self.stderr_text = stderr_text
        self.raises = raises
        self.sessions = 0

    def get_available_providers(self):
        return self.available

    def SessionOptions(self):  # noqa: N802 - mirrors onnxruntime
        return SimpleNamespace(log_severity_level=2)

    def InferenceSession(self, model, options, providers):  # noqa: N802
        self.sessions += 1
        return FakeSession(self, providers)


def altered_copy(src: Path, dst: Path, key: str, scale: float) -> Path:
    """A copy of the SavedModel ``src`` with variable ``key`` multiplied by ``scale``, written
    with tensorbridge's own bundle writer."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("variables.*"))
    reader = BundleReader(src / "variables" / "variables")
    with BundleWriter(dst / "variables" / "variables") as writer:
        for k in reader.keys():
            value = reader.tensor(k).numpy()
            writer.add(k, value * np.float32(scale) if k == key else value)
    return dst
