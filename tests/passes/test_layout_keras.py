"""layout end to end: a Keras 3 CNN written by TensorFlow 2.21 in the session, imported, run
through the default pipeline, exported to ONNX: one Transpose left (the image input), and ONNX
Runtime matches TensorFlow."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tf

from tensorbridge.converters.onnx import export_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.importer import import_savedmodel  # noqa: E402
from tensorbridge.passes import PassContext, default_pipeline, op_counts  # noqa: E402
from tensorbridge.runtime import Session  # noqa: E402


@pytest.fixture(scope="session")
def keras_cnn(tmp_path_factory):
    """(SavedModel dir, input, TF output) of Conv2D/BN/ReLU/MaxPool/residual Add/Concatenate/
    GlobalAveragePooling2D/Dense, input (None, 16, 16, 3)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D(2)(x)
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    b = keras.layers.Conv2D(8, 1, strides=1)(x)
    r = keras.layers.Add()([a, b])
    c = keras.layers.Concatenate()([r, x])
    c = keras.layers.GlobalAveragePooling2D()(c)
    out = keras.layers.Dense(5)(c)
    model = keras.Model(inp, out)
    # non-trivial BN statistics, so the folded scale/offset matter
    bn = model.layers[2]
    rng = np.random.default_rng(1)
    bn.moving_mean.assign(rng.standard_normal(8).astype(np.float32))
    bn.moving_variance.assign(rng.random(8).astype(np.float32) + 0.5)
    path = tmp_path_factory.mktemp("keras_cnn") / "saved"
    model.export(str(path), verbose=False)
    x_in = rng.standard_normal((3, 16, 16, 3)).astype(np.float32)
    return path, x_in, np.asarray(model(x_in, training=False))


def _transposes(model) -> int:
    return op_counts(model).get("Transpose", 0)


def test_keras_cnn_keeps_one_transpose_and_matches_tf(keras_cnn, tmp_path):
    path, x_in, want = keras_cnn
    model = import_savedmodel(path)
    before = _transposes(model)
    assert before >= 8  # every conv and pool wrapped in NHWC<->NCHW Transposes
    default_pipeline()(model, PassContext(verify_each=True))
    dst = tmp_path / "cnn.onnx"
    export_onnx(model, dst)
    proto = onnx.load(str(dst))
    onnx.checker.check_model(proto, full_check=True)
    assert [n.op_type for n in proto.graph.node].count("Transpose") <= 1
    assert default_pipeline()(model, PassContext(verify_each=True)).changed is False
    got = list(Session(model).run({"image": x_in}).values())[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_keras_cnn_inputs_as_nchw_has_no_transpose(keras_cnn):
    path, x_in, want = keras_cnn
    model = import_savedmodel(path)
    ctx = PassContext(verify_each=True)
    ctx.inputs_as_nchw = ("image",)
    default_pipeline()(model, ctx)
    assert _transposes(model) == 0
    assert tuple(model.graph.inputs[0].shape)[1:] == (3, 16, 16)
    got = list(Session(model).run({"image": x_in.transpose(0, 3, 1, 2)}).values())[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
