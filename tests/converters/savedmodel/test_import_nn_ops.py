"""The nn/conv/image import handlers (conv2.py, nn2.py, image.py) against TensorFlow 2.21: one
tf.Module SavedModel with a signature per family, converted to ONNX in a child process where
importing TensorFlow raises, run on ONNX Runtime and compared with TF's own outputs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/tf_fixtures.py

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tf

import tf_fixtures  # noqa: E402
from savedmodel_import_helpers import (  # noqa: E402
    convert_without_tf,
    seeded_inputs,
    tf_signature_outputs,
)

from tensorbridge.converters.savedmodel.importer import import_savedmodel  # noqa: E402
from tensorbridge.runtime import Session  # noqa: E402

F32 = np.float32

# signature -> {input: (shape with B for the batch, dtype)}
SIGNATURES = {
    "conv": {"x": (("B", 9, 9, 3), F32)},
    "conv3d": {"v": (("B", 5, 7, 6, 3), F32)},
    "norm": {"x": (("B", 5, 6, 4), F32)},
    "image": {"x": (("B", 5, 7, 3), F32), "d": (("B", 3, 4, 8), F32)},
}

# Every output must appear in these (a new fixture output without an ONNX op is a failure)
EXPECTED_OPS = {
    "conv": {"Conv", "ConvTranspose", "MaxPool", "LRN"},
    "conv3d": {"Conv", "MaxPool", "AveragePool"},
    "norm": {"BatchNormalization", "ReduceMean", "Softsign", "Erf"},
    "image": {"Resize", "SpaceToDepth", "DepthToSpace"},
}

# signature -> what the one-line error must say
REFUSED = {
    "reserve_used": "reserve_space_2_unsupported_training_output",
    "convt_dynamic": "Conv2DBackpropInput needs static spatial input_sizes",
}


@pytest.fixture(scope="session")
def nn_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return tf_fixtures.build_import_tf2_nn_ops(base / "tf_import_models" / "import_tf2_nn_ops")


@pytest.fixture(scope="session")
def nn_converted(nn_model_dir: Path, tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("onnx_nn")
    sigs = [*SIGNATURES, *REFUSED]
    jobs = [{"src": str(nn_model_dir), "dst": str(out / f"{sig}.onnx"), "signature": sig}
            for sig in sigs]
    return {sig: {**job, **res} for sig, job, res in zip(sigs, jobs, convert_without_tf(jobs))}


@pytest.mark.parametrize("sig", list(SIGNATURES))
def test_nn_ops_match_tf(sig, nn_converted, nn_model_dir):
    job = nn_converted[sig]
    assert job["ok"], job.get("error")
    sess = Session(job["dst"], "cpu")
    for batch, seed in ((1, 0), (3, 1)):
        shapes = {k: (tuple(batch if d == "B" else d for d in shape), dt)
                  for k, (shape, dt) in SIGNATURES[sig].items()}
        feeds = seeded_inputs(shapes, seed)
        expected = tf_signature_outputs(nn_model_dir, sig, feeds)
        actual = sess.run(feeds)
        assert set(actual) == set(expected)
        for k, exp in expected.items():
            got = actual[k]
            assert got.shape == exp.shape, (k, got.shape, exp.shape)
            assert got.dtype == exp.dtype, (k, got.dtype, exp.dtype)
            np.testing.assert_allclose(got, exp, rtol=1e-4, atol=1e-4, err_msg=f"{sig}/{k}")


@pytest.mark.parametrize("sig", list(SIGNATURES))
def test_nn_ops_all_handled(sig, nn_model_dir):
    model = import_savedmodel(nn_model_dir, signature=sig, unsupported="error")
    ops = {n.op_type for n in model.graph}
    assert EXPECTED_OPS[sig] <= ops, EXPECTED_OPS[sig] - ops


@pytest.mark.parametrize("sig", list(REFUSED))
def test_nn_ops_refused_clearly(sig, nn_converted):
    job = nn_converted[sig]
    assert not job["ok"]
    assert REFUSED[sig] in job["error"], job["error"]
    assert not Path(job["dst"]).exists()
