"""export_onnx: write an ONNX file (and its external data file) atomically."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import onnx

from tensorbridge import ir
from tensorbridge.errors import ModelSaveError

from ._build import initializer_tensor
from ._tensors import raw_data, tensor_to_proto
from .exporter import build_model_proto, check_model

logger = logging.getLogger(__name__)

PROTOBUF_LIMIT = 2**31 - 1
ALIGN = 64


class ExternalPlan:
    """Places large initializers in one data file; ``entries`` are written later, in order."""

    def __init__(self, location: str, threshold: int) -> None:
        self.location = location
        self.threshold = threshold
        self.entries: list[tuple[ir.Tensor, int]] = []
        self.size = 0

    def __call__(self, t: ir.Tensor, name: str) -> onnx.TensorProto | None:
        n = ir.nbytes(t)
        if t.dtype is ir.DType.STRING or n < self.threshold:
            return None
        offset = -(-self.size // ALIGN) * ALIGN
        tp = tensor_to_proto(t, name, with_data=False)
        tp.data_location = onnx.TensorProto.EXTERNAL
        for k, v in (("location", self.location), ("offset", offset), ("length", n)):
            tp.external_data.add(key=k, value=str(v))
        self.entries.append((t, offset))
        self.size = offset + n
        return tp

    def write(self, path: Path) -> None:
        with open(path, "wb") as f:
            for t, offset in self.entries:
                f.write(b"\0" * (offset - f.tell()))
                f.write(raw_data(t))


def _initializer_bytes(model: ir.Model, mg: ir.MetaGraph) -> int:
    return sum(ir.nbytes(initializer_tensor(v)) for v in mg.graph.initializers.values())


def export_onnx(model: ir.Model, path: str | Path, *, opset: int | None = None,
                external_data: bool | None = None, size_threshold: int = 1024 * 1024,
                meta_graph: ir.MetaGraph | None = None, check: bool = True) -> Path:
    """Write ``model`` to ``path`` (and ``<stem>.data`` next to it when tensors go external).

    ``external_data``: True puts every initializer of at least ``size_threshold`` bytes in the
    data file; None does so only when the file would pass protobuf's 2 GB limit; False never.
    """
    path = Path(path)
    mg = meta_graph or model.meta_graph()
    total = _initializer_bytes(model, mg)
    if external_data is None:
        external_data = total > PROTOBUF_LIMIT - (64 << 20)
    plan = ExternalPlan(f"{path.stem}.data", size_threshold) if external_data else None
    proto = build_model_proto(model, opset=opset, meta_graph=mg, place=plan)
    if proto.ByteSize() > PROTOBUF_LIMIT:
        raise ModelSaveError(f"{path}: the model is over protobuf's 2 GB limit",
                             hint="use external_data=True")
    _atomic_write(proto, path, plan, check)
    logger.info("wrote %s (%d initializer bytes%s)", path, total,
                f", {len(plan.entries)} external" if plan else "")
    return path


def _atomic_write(proto: onnx.ModelProto, path: Path, plan: ExternalPlan | None,
                  check: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        data = tmp / plan.location if plan and plan.entries else None
        if data is not None:
            plan.write(data)  # type: ignore[union-attr]
        with open(tmp / path.name, "wb") as f:
            f.write(proto.SerializeToString(deterministic=True))
        if check:
            check_model(str(tmp / path.name))
        if data is not None:
            os.replace(data, path.parent / data.name)
        os.replace(tmp / path.name, path)
    except OSError as e:
        raise ModelSaveError(f"{path}: cannot write the ONNX file: {e}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
