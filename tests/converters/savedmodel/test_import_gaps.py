"""Import gaps the Keras applications found, against TensorFlow 2.21: Keras Conv2D(groups=g)
(a TF Conv2D whose filter holds C_in/g input channels: ONNX Conv needs ``group``, inferred from
the input's channels, ops/_dims.py) and GatherV2 with batch_dims != 0 (ops/gather.py).
Converted in a child process where importing TensorFlow raises, run on ONNX Runtime and
compared with TF's own outputs (float32: atol = rtol = 1e-5; gathers are exact)."""

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
from savedmodel_import_helpers import convert_without_tf, tf_signature_outputs  # noqa: E402

from tensorbridge.converters.savedmodel.importer import import_savedmodel  # noqa: E402
from tensorbridge.runtime import Session  # noqa: E402

GATHERS = ["b1_axis1", "b1_axis2", "b2_axis2", "b1_axis3", "bneg_axisneg"]
GATHER_INDICES = {"b1_axis1": [2, 6], "b1_axis2": [2, 2, 3], "b2_axis2": [2, 3, 7],
                  "b1_axis3": [2, 4], "bneg_axisneg": [2, 3, 4, 2]}  # fmt: skip


@pytest.fixture(scope="session")
def gaps_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / "tf_import_models"


@pytest.fixture(scope="session")
def converted(gaps_dir: Path, tmp_path_factory) -> dict[str, dict]:
    conv = tf_fixtures.build_keras_grouped_conv(gaps_dir / "keras_grouped_conv")
    gather = tf_fixtures.build_batched_gather(gaps_dir / "batched_gather")
    out = tmp_path_factory.mktemp("onnx_gaps")
    jobs = {"grouped_conv": {"src": str(conv), "dst": str(out / "grouped_conv.onnx")}}
    for sig in GATHERS:
        jobs[sig] = {"src": str(gather), "dst": str(out / f"{sig}.onnx"), "signature": sig}
    results = convert_without_tf(list(jobs.values()))
    return {k: {**job, **res} for (k, job), res in zip(jobs.items(), results)}


def test_keras_grouped_conv_matches_tf(converted):
    job = converted["grouped_conv"]
    assert job["ok"], job.get("error")
    model = import_savedmodel(job["src"])
    groups = sorted(int(n.attr("group", 1)) for n in model.graph if n.op_type == "Conv")
    assert groups == [1, 2, 4, 12]
    sess = Session(job["dst"], "cpu")
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        feeds = {"image": rng.standard_normal((batch, 6, 6, 3)).astype(np.float32)}
        want = tf_signature_outputs(Path(job["src"]), "serving_default", feeds)
        got = sess.run(feeds)
        assert set(got) == set(want)
        for k, w in want.items():
            assert got[k].shape == w.shape
            np.testing.assert_allclose(got[k], w, atol=1e-5, rtol=1e-5, err_msg=k)


@pytest.mark.parametrize("sig", GATHERS)
def test_gather_batch_dims_matches_tf(sig, converted):
    job = converted[sig]
    assert job["ok"], job.get("error")
    rng = np.random.default_rng(1)
    feeds = {"p": rng.standard_normal((2, 3, 4, 5)).astype(np.float32),
             "i": rng.integers(-20, 20, GATHER_INDICES[sig]).astype(np.int32)}  # fmt: skip
    want = tf_signature_outputs(Path(job["src"]), sig, feeds)
    got = Session(job["dst"], "cpu").run(feeds)
    assert got["y"].shape == want["y"].shape
    np.testing.assert_array_equal(got["y"], want["y"])
