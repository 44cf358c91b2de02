"""Models written by real exporters (PyTorch, skl2onnx) round-trip with identical ORT outputs."""

from __future__ import annotations

import numpy as np
import onnx_ort_helpers as _ort
import pytest

from tensorbridge.converters.onnx import export_onnx, import_onnx


def _round_trip_equal(src, tmp_path, inputs):
    out = export_onnx(import_onnx(src), tmp_path / "rt.onnx")
    a, b = _ort.run(str(src), inputs), _ort.run(str(out), inputs)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_torch_transformer_encoder(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64,
                                             batch_first=True)
    model = torch.nn.TransformerEncoder(layer, num_layers=2).eval()
    x = torch.randn(2, 5, 32)
    path = tmp_path / "enc.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"],
                      opset_version=17, dynamo=False)
    _round_trip_equal(path, tmp_path, [x.numpy()])


def test_sklearn_pipeline(tmp_path):
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    proto = skl2onnx.convert_sklearn(pipe, initial_types=[("input", FloatTensorType([None, 4]))],
                                     target_opset={"": 17, "ai.onnx.ml": 3})
    path = tmp_path / "skl.onnx"
    path.write_bytes(proto.SerializeToString())
    model = import_onnx(path)
    assert "ai.onnx.ml" in model.main.opset_imports
    _round_trip_equal(path, tmp_path, [X[:10].astype(np.float32)])
