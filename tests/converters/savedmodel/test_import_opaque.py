"""TF ops with no import handler stay `tf`-domain nodes, typed from their OpDef (element type)
and `_output_shapes` (where recorded), so the ops that read them stay convertible: a SavedModel
with such ops converts SavedModel -> SavedModel and computes exactly what the source does."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import tf_fixtures  # noqa: E402

import tensorbridge as tb  # noqa: E402
from tensorbridge import ir  # noqa: E402
from tensorbridge.api import ConvertOptions  # noqa: E402

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tf


@pytest.fixture(scope="session")
def ops_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return tf_fixtures.build_import_tf2_ops(base / "tf_import_models" / "tf2_ops")


def test_opaque_nodes_carry_their_element_type(ops_dir):
    model = tb.load(ops_dir, signature="unsupported")
    opaque = [n for n in model.graph if n.domain == "tf"]
    assert sorted(n.op_type for n in opaque) == ["Digamma", "Lgamma", "Lgamma"]
    for n in opaque:
        assert n.outputs[0].dtype is ir.DType.FLOAT, (n.op_type, n.outputs[0].type)


def test_opaque_ops_round_trip_to_savedmodel_exactly(ops_dir, tmp_path):
    import tensorflow as tf

    out = tmp_path / "out"
    tb.convert(ops_dir, out, ConvertOptions(signature="unsupported"))
    got_fn = tf.saved_model.load(str(out)).signatures["unsupported"]
    want_fn = tf.saved_model.load(str(ops_dir)).signatures["unsupported"]
    x = tf.constant(np.random.default_rng(0).uniform(0.5, 3.0, (3, 4)).astype(np.float32))
    got, want = got_fn(x=x), want_fn(x=x)
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_array_equal(got[k].numpy(), want[k].numpy())
