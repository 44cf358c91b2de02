"""The three real exported ONNX files of issue 3 ("Must show"), shared by the optimizer tests
(tests/passes/test_real_models.py) and bench/optimize_bench.py.

- ``transformer``: ``torch.nn.TransformerEncoder`` (d_model 32, nhead 4, dim_feedforward 64,
  2 layers, batch_first), exported with ``torch.onnx.export(dynamo=False, opset_version=17)``
  and dynamic batch and sequence axes, so the file keeps its shape arithmetic
  (Shape/Gather/Unsqueeze/Concat/Reshape around the attention heads). One workaround: torch
  2.13's TorchScript exporter bakes the export-time sequence length into the key/value
  ``view`` of ``F.multi_head_attention_forward`` (``k.view(k.shape[0], ...)`` traces
  ``k.shape[0]`` as the constant 5 after ``_in_projection_packed``'s unflatten/transpose/squeeze,
  pytorch/pytorch#110347 and #117209), so the file fails on ORT for any other sequence
  length. During the export only, ``_in_projection_packed``'s self-attention case is replaced by
  the equivalent ``linear(x, w, b).chunk(3, -1)`` (what torch itself did before 2.0); the
  weights and the math are the same, and the file is dynamic in both axes.
- ``cnn``: three Conv-BatchNorm-ReLU blocks with MaxPool, global average pooling, Flatten and a
  Linear head, dynamic batch. Exported with ``do_constant_folding=False``: with folding on, the
  TorchScript exporter's eval peephole already folds every BatchNorm into its Conv, and the file
  would not show BatchNorm at all.
- ``sklearn``: ``StandardScaler -> PCA(8) -> LogisticRegression`` on a seeded 20-feature,
  3-class ``make_classification`` set, converted by skl2onnx (opset 17, ai.onnx.ml 3) with
  ``zipmap=False`` so that the probabilities are a plain float tensor.

Everything is seeded: a given library version writes the same file every time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OPSET = 17
SEED = 0


@dataclass(frozen=True)
class RealModel:
    name: str
    build: Callable[[Path], None]  # writes the .onnx file at the given path
    # (batch, seq) cases; seq is None for inputs without a sequence axis
    sizes: tuple[tuple[int, int | None], ...]
    make_input: Callable[[int, int | None, int], dict[str, np.ndarray]]  # (batch, seq, seed)


def build_transformer(path: Path) -> None:
    import torch

    torch.manual_seed(SEED)
    layer = torch.nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64,
                                             dropout=0.1, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    x = torch.randn(2, 5, 32)
    with _dynamic_self_attention():
        torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch", 1: "seq"}, "y": {0: "batch", 1: "seq"}},
                          opset_version=OPSET, dynamo=False)


@contextlib.contextmanager
def _dynamic_self_attention():
    """See the module docstring (the transformer): chunk the packed q/k/v projection."""
    import torch.nn.functional as F

    original = F._in_projection_packed

    def packed(q, k, v, w, b=None):
        if q is k and k is v:
            return tuple(t.contiguous() for t in F.linear(q, w, b).chunk(3, dim=-1))
        return original(q, k, v, w, b)

    F._in_projection_packed = packed
    try:
        yield
    finally:
        F._in_projection_packed = original


def transformer_input(batch: int, seq: int | None, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((batch, seq, 32)).astype(np.float32)}


def build_cnn(path: Path) -> None:
    import torch
    from torch import nn

    torch.manual_seed(SEED)

    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    model = nn.Sequential(
        *block(3, 16), nn.MaxPool2d(2),
        *block(16, 32), nn.MaxPool2d(2),
        *block(32, 64),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )
    with torch.no_grad():  # non-trivial running statistics, so that folding BN matters
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.eval()
    x = torch.randn(1, 3, 32, 32)
    torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                      opset_version=OPSET, dynamo=False, do_constant_folding=False)


def cnn_input(batch: int, seq: int | None, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)}


def _sklearn_data():
    from sklearn.datasets import make_classification

    return make_classification(n_samples=300, n_features=20, n_informative=8, n_classes=3,
                               random_state=SEED)


def build_sklearn(path: Path) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _sklearn_data()
    clf = LogisticRegression(max_iter=1000)
    pipe = make_pipeline(StandardScaler(), PCA(n_components=8, random_state=SEED), clf).fit(X, y)
    proto = convert_sklearn(pipe, initial_types=[("input", FloatTensorType([None, 20]))],
                            target_opset={"": OPSET, "ai.onnx.ml": 3},
                            options={id(clf): {"zipmap": False}})
    path.write_bytes(proto.SerializeToString())


def sklearn_input(batch: int, seq: int | None, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"input": (rng.standard_normal((batch, 20)) * 2.0).astype(np.float32)}


MODELS: dict[str, RealModel] = {
    "transformer": RealModel("transformer", build_transformer, ((1, 1), (2, 5), (3, 17)),
                             transformer_input),
    "cnn": RealModel("cnn", build_cnn, ((1, None), (4, None)), cnn_input),
    "sklearn": RealModel("sklearn", build_sklearn, ((1, None), (7, None), (64, None)),
                         sklearn_input),
}


def build_all(out_dir: Path, names: tuple[str, ...] = tuple(MODELS)) -> dict[str, Path]:
    """Write ``out_dir/NAME.onnx`` for every name; returns name -> path."""
    import warnings

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names:
        path = out_dir / f"{name}.onnx"
        with warnings.catch_warnings():  # torch's TracerWarnings and deprecation notices
            warnings.simplefilter("ignore")
            MODELS[name].build(path)
        paths[name] = path
    return paths
