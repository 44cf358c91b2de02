"""The model tests shipped as files in onnx/backend/test/data (pytorch-converted,
pytorch-operator, simple): every model ORT runs as given must round-trip to the same outputs.
("light" and "real" hold no test_data_set folders here, so they are not collected.)"""

from __future__ import annotations

from pathlib import Path

import onnx
import onnx_ort_helpers as _ort
import pytest
from onnx import numpy_helper

from tensorbridge.converters.onnx import export_onnx, import_onnx

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
MODELS = sorted(p.parent for p in DATA.glob("*/*/model.onnx")
                if p.parent.parent.name in ("pytorch-converted", "pytorch-operator", "simple"))


def _tensors(folder: Path, prefix: str) -> list:
    out = []
    for f in sorted(folder.glob(f"{prefix}_*.pb"), key=lambda p: int(p.stem.split("_")[-1])):
        t = onnx.TensorProto()
        t.ParseFromString(f.read_bytes())
        out.append(numpy_helper.to_array(t))
    return out


def _check(model_path: Path, folder: Path) -> str | None:
    for ds in sorted(folder.glob("test_data_set_*")):
        got = _ort.run(str(model_path), _tensors(ds, "input"))
        why = _ort.match_all(_tensors(ds, "output"), got, 1e-3, 1e-7)
        if why:
            return why
    return None


@pytest.mark.parametrize("folder", MODELS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_backend_model(folder: Path, tmp_path, record_property):
    try:
        runnable = _check(folder / "model.onnx", folder) is None
    except Exception:  # noqa: BLE001 - ORT cannot run it as given
        runnable = False
    if not runnable:
        record_property("conformance-files", ("not-runnable",))
        return
    out = export_onnx(import_onnx(folder / "model.onnx"), tmp_path / "model.onnx")
    assert _check(out, folder) is None
    record_property("conformance-files", ("pass",))
