"""Issue 4: keras-hub BERT-style and GPT-2-style backbones (small config, random weights,
`model.export()`) convert without TensorFlow and match TensorFlow on ONNX Runtime at several
batch sizes and sequence lengths (the signature's batch and sequence dims are dynamic).

Tolerance: atol = rtol = 1e-5 (float32 transformer blocks; measured max abs error 7e-7).
Inputs: token ids uniform in [0, vocabulary), segment ids in {0, 1}, a padding mask with the
last two positions masked (so the attention mask path is exercised).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

pytest.importorskip("tensorflow")
pytest.importorskip("keras_hub", reason="keras-hub: pip install --no-deps -r tests/requirements-nodeps.txt")
pytestmark = pytest.mark.tf

from keras_apps_helpers import convert_app_without_tf, max_errors  # noqa: E402
from keras_hub_fixtures import BACKBONES, CONFIG, build_keras_hub_backbone  # noqa: E402

TOL = 1e-5
SHAPES = ((1, 5), (3, 16), (2, 9))  # (batch, sequence length)


@pytest.fixture(scope="session")
def hub_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the xdist workers (the builders lock and cache)
    return base / "keras_hub"


def _feeds(names: list[str], batch: int, seq: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    feeds = {}
    for name in names:
        if "token" in name:
            feeds[name] = rng.integers(0, CONFIG["vocabulary_size"], (batch, seq)).astype(np.int32)
        elif "segment" in name:
            feeds[name] = rng.integers(0, 2, (batch, seq)).astype(np.int32)
        else:
            mask = np.ones((batch, seq), np.int32)
            mask[:, seq - 2:] = 0
            feeds[name] = mask
    return feeds


@pytest.mark.parametrize("name", BACKBONES)
def test_keras_hub_backbone_matches_tf(name: str, hub_dir: Path, tmp_path: Path) -> None:
    import onnxruntime as ort
    import tensorflow as tf

    src = build_keras_hub_backbone(hub_dir / name, name=name)
    dst = tmp_path / f"{name}.onnx"
    convert_app_without_tf(src, dst)

    fn = tf.saved_model.load(str(src)).signatures["serving_default"]
    sess = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    assert sorted(names) == sorted(fn.structured_input_signature[1]), names
    rng = np.random.default_rng(0)
    for batch, seq in SHAPES:
        feeds = _feeds(names, batch, seq, rng)
        want = {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in feeds.items()}).items()}
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
        assert set(got) == set(want)
        for k, w in want.items():
            assert got[k].shape == w.shape and got[k].dtype == w.dtype, (k, got[k].shape, w.shape)
            abs_err, rel_err = max_errors(got[k], w)
            assert np.allclose(got[k], w, atol=TOL, rtol=TOL), (
                f"{name}/{k} at batch {batch}, seq {seq}: max abs {abs_err:.3g}, max rel {rel_err:.3g}")
