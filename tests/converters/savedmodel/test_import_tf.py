"""SavedModels written by TensorFlow 2.21 inside the suite, converted to ONNX in a child process
where importing TensorFlow raises, run on ONNX Runtime and compared with TF's own outputs."""

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
    tf1_signature_outputs,
    tf_signature_outputs,
)

from tensorbridge import ir  # noqa: E402
from tensorbridge.converters.onnx import export_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.importer import import_savedmodel  # noqa: E402
from tensorbridge.errors import ModelLoadError, UnsupportedOpError, UsageError  # noqa: E402
from tensorbridge.runtime import Session  # noqa: E402

F32 = np.float32
I32 = np.int32

# name -> (builder, tags, signature, {input: (shape with B for the batch, dtype)}, dynamic)
CASES = {
    "tf2_mlp": (tf_fixtures.build_import_tf2_mlp, None, "serving_default",
                {"x": (("B", 4), F32)}, True),
    "keras_export": (tf_fixtures.build_import_keras_dense_export, None, "serving_default",
                     {"features": (("B", 6), F32)}, True),
    "keras_export_serve": (tf_fixtures.build_import_keras_dense_export, None, "serve",
                           {"features": (("B", 6), F32)}, True),
    "keras_tfsave": (tf_fixtures.build_import_keras_dense_tfsave, None, "serving_default",
                     {"features": (("B", 6), F32)}, True),
    "tf1_serve": (tf_fixtures.build_tf1_builder, ["serve"], "serving_default",
                  {"x": (("B", 3), F32)}, True),
    "tf1_gpu": (tf_fixtures.build_tf1_builder, ["serve", "gpu"], "double",
                {"x": (("B", 3), F32)}, True),
    "tf1_pbtxt": (tf_fixtures.build_tf1_builder_text, ["serve"], "serving_default",
                  {"x": (("B", 3), F32)}, True),
    "tf2_pbtxt": (tf_fixtures.build_tf2_module_text, None, "serving_default",
                  {"x": (("B", 3), F32)}, True),
    "tf1m_serve": (tf_fixtures.build_import_tf1_multi, None, "serving_default",
                   {"x": (("B", 3), F32)}, True),
    "tf1m_serve_probs": (tf_fixtures.build_import_tf1_multi, ["serve"], "probs",
                         {"x": (("B", 3), F32)}, True),
    "tf1m_gpu_predict": (tf_fixtures.build_import_tf1_multi, ["gpu", "serve"], "predict",
                         {"x": (("B", 3), F32), "scale": ((), F32)}, True),
    "tf1m_gpu_both": (tf_fixtures.build_import_tf1_multi, ["serve", "gpu"], "both",
                      {"x": (("B", 3), F32)}, True),
    "tf1m_train_sq": (tf_fixtures.build_import_tf1_multi, ["train"], "sq",
                      {"x": (("B", 3), F32)}, True),
    "tf1m_train_probs": (tf_fixtures.build_import_tf1_multi, ["train"], "probs",
                         {"x": (("B", 3), F32)}, True),
    "keras_conv_export": (tf_fixtures.build_keras_export, None, "serving_default",
                          {"image": (("B", 8, 8, 3), F32)}, True),
    "cnn_conv": (tf_fixtures.build_import_tf2_cnn, None, "conv",
                 {"x": (("B", 9, 9, 3), F32)}, True),
    "cnn_slices": (tf_fixtures.build_import_tf2_cnn, None, "slices",
                   {"x": (("B", 4, 5, 6), F32)}, True),
    "ops_math": (tf_fixtures.build_import_tf2_ops, None, "math",
                 {"a": (("B", 4), F32), "b": (("B", 4), F32), "i": (("B", 4), I32),
                  "j": (("B", 4), I32)}, True),
    "ops_nn": (tf_fixtures.build_import_tf2_ops, None, "nn",
               {"x": (("B", 5), F32), "y": (("B", 3, 5), F32), "z": (("B", 3, 2, 4), F32)},
               True),
    "ops_array": (tf_fixtures.build_import_tf2_ops, None, "array",
                  {"x": (("B", 4), F32), "idx": ((3,), I32)}, True),
}  # fmt: skip


def _dir(base: Path, builder) -> Path:
    return builder(base / builder.__name__.removeprefix("build_"))


@pytest.fixture(scope="session")
def import_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / "tf_import_models"


@pytest.fixture(scope="session")
def converted(import_models_dir: Path, tmp_path_factory) -> dict[str, dict]:
    """Every case converted to ONNX by one TensorFlow-free child process."""
    out = tmp_path_factory.mktemp("onnx")
    jobs, names = [], []
    for name, (builder, tags, sig, _, _) in CASES.items():
        src = _dir(import_models_dir, builder)
        jobs.append({"src": str(src), "dst": str(out / f"{name}.onnx"), "tags": tags,
                     "signature": sig})
        names.append(name)
    results = convert_without_tf(jobs)
    return {n: {**j, **r} for n, j, r in zip(names, jobs, results)}


def _feeds(specs, batch: int, seed: int):
    shapes = {k: (tuple(batch if d == "B" else d for d in shape), dt)
              for k, (shape, dt) in specs.items()}
    return seeded_inputs(shapes, seed)


def _reference(name: str, src: Path, feeds):
    _, tags, sig, _, _ = CASES[name]
    if name.startswith("tf1"):
        return tf1_signature_outputs(src, tags or ["serve"], sig, feeds)
    return tf_signature_outputs(src, sig, feeds, tags=tags)


@pytest.mark.parametrize("name", list(CASES))
def test_converts_without_tf_and_matches_tf(name, converted):
    job = converted[name]
    assert job["ok"], job.get("error")
    sess = Session(job["dst"], "cpu")
    specs = CASES[name][3]
    for batch, seed in ((1, 0), (7, 1)):
        feeds = _feeds(specs, batch, seed)
        expected = _reference(name, Path(job["src"]), feeds)
        actual = sess.run(feeds)
        assert set(actual) == set(expected)
        for k, exp in expected.items():
            exp = np.asarray(exp)
            got = actual[k]
            assert got.shape == exp.shape, (k, got.shape, exp.shape)
            assert got.dtype == exp.dtype, (k, got.dtype, exp.dtype)
            if exp.dtype.kind == "f":
                np.testing.assert_allclose(got, exp, rtol=1e-4, atol=1e-5, err_msg=k)
            else:
                np.testing.assert_array_equal(got, exp, err_msg=k)


def test_dynamic_batch_stays_symbolic(converted):
    sess = Session(converted["tf2_mlp"]["dst"], "cpu")
    assert sess.inputs[0].shape == ("x_dim0", 4)  # named after the input (importer._named_dims)


def test_route_a_binds_keras_tfsave_to_the_restored_keys(import_models_dir):
    # the serving call reads handles nothing restores by name; the object graph is right
    model = import_savedmodel(_dir(import_models_dir, tf_fixtures.build_import_keras_dense_tfsave))
    assert sorted(model.variables) == [
        "_layers/1/_kernel/.ATTRIBUTES/VARIABLE_VALUE", "_layers/1/bias/.ATTRIBUTES/VARIABLE_VALUE",
        "_layers/2/_kernel/.ATTRIBUTES/VARIABLE_VALUE", "_layers/2/bias/.ATTRIBUTES/VARIABLE_VALUE",
    ]  # fmt: skip


def test_tf1_variables_keyed_by_op_name(import_models_dir):
    model = import_savedmodel(_dir(import_models_dir, tf_fixtures.build_tf1_builder))
    assert sorted(model.variables) == ["b", "w"]
    assert model.main.tags == frozenset({"serve"})
    assert sorted(model.main.signatures["serving_default"].inputs) == ["x"]


# ---- errors -----------------------------------------------------------------------------


def test_tf1_placeholder_with_default(import_models_dir):
    src = _dir(import_models_dir, tf_fixtures.build_import_tf1_multi)
    fed = import_savedmodel(src, tags=["serve", "gpu"], signature="predict")
    assert sorted(fed.main.signatures["predict"].inputs) == ["scale", "x"]
    default = import_savedmodel(src, tags=["serve", "gpu"], signature="both")
    assert sorted(v.name for v in default.graph.inputs) == ["x"]
    assert sorted(default.variables) == ["dense/b", "dense/w"]
    ir.verify(default)


def test_three_meta_graphs_need_exact_tags(import_models_dir):
    src = _dir(import_models_dir, tf_fixtures.build_import_tf1_multi)
    assert import_savedmodel(src).main.tags == frozenset({"serve"})
    with pytest.raises(UsageError) as e:
        import_savedmodel(src, tags=["gpu"])
    assert "tag sets present: {serve}, {gpu,serve}, {train}" in str(e.value)
    with pytest.raises(UsageError) as e:
        import_savedmodel(src, tags=["train"])  # two signatures, no serving_default
    assert "probs(x: float32[?,3]) -> (s: float32[?], z: float32[?,2])" in str(e.value)


def test_wrong_tags_lists_tag_sets(import_models_dir):
    src = _dir(import_models_dir, tf_fixtures.build_tf1_builder)
    with pytest.raises(UsageError) as e:
        import_savedmodel(src, tags=["train"])
    assert "{train}" in str(e.value) and "{serve}, {gpu,serve}" in str(e.value)


def test_wrong_signature_lists_signatures(import_models_dir):
    src = _dir(import_models_dir, tf_fixtures.build_import_tf2_ops)
    with pytest.raises(UsageError) as e:
        import_savedmodel(src)  # no serving_default and several signatures
    msg = str(e.value)
    for key in ("math(", "nn(", "array(", "unsupported(", "x: float32[?,4]"):
        assert key in msg
    assert "__saved_model_init_op" not in msg
    with pytest.raises(UsageError, match="no signature 'nope'"):
        import_savedmodel(src, signature="nope")


def test_not_a_protobuf(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"this is not a protobuf \xff\xfe\xfd")
    with pytest.raises(ModelLoadError, match=r"saved_model\.pb: not a SavedModel protobuf"):
        import_savedmodel(tmp_path)


def test_unsupported_ops_one_error_listing_all(import_models_dir, tmp_path):
    src = _dir(import_models_dir, tf_fixtures.build_import_tf2_ops)
    model = import_savedmodel(src, signature="unsupported")  # kept as tf-domain nodes
    assert {n.op_type for n in model.graph if n.domain == "tf"} == {"Digamma", "Lgamma"}
    out = tmp_path / "u.onnx"
    with pytest.raises(UnsupportedOpError) as e:
        export_onnx(model, out)
    msg = str(e.value)
    assert "tf::Digamma x1" in msg and "tf::Lgamma x2" in msg
    assert not out.exists()
    with pytest.raises(UnsupportedOpError, match=r"Digamma x1 .*; Lgamma x2 "):
        import_savedmodel(src, signature="unsupported", unsupported="error")


# ---- TensorProto decoding against tf.make_tensor_proto ------------------------------------

_DTYPES = ["float32", "float64", "float16", "bfloat16", "int8", "int16", "int32", "int64",
           "uint8", "uint16", "uint32", "uint64", "bool", "complex64", "complex128", "string"]


@pytest.mark.parametrize("dtype", _DTYPES)
@pytest.mark.parametrize("kind", ["array", "scalar", "splat"])
def test_tensor_proto_matches_tf(dtype, kind):
    import tensorflow as tf

    from tensorbridge.converters.savedmodel.attrs import tensor_to_numpy
    from tensorbridge.protos import tensor_pb2

    tfdt = tf.as_dtype(dtype)
    rng = np.random.default_rng(0)
    if dtype == "string":
        values = np.array([b"a", b"", b"xyz", b"\x00\xff", b"q", b"r"], dtype=object)
    elif dtype == "bool":
        values = rng.integers(0, 2, 6).astype(bool)
    elif dtype.startswith("complex"):
        values = (rng.standard_normal(6) + 1j * rng.standard_normal(6)).astype(dtype)
    else:
        values = (rng.standard_normal(6) * 10).astype(tfdt.as_numpy_dtype)
    if kind == "array":
        proto = tf.make_tensor_proto(values.reshape(2, 3), dtype=tfdt)
    elif kind == "scalar":
        proto = tf.make_tensor_proto(values[1], dtype=tfdt)
    else:
        proto = tf.make_tensor_proto(values[2], dtype=tfdt, shape=[4, 5])
    ours = tensor_pb2.TensorProto.FromString(proto.SerializeToString())
    got = tensor_to_numpy(ours)
    want = tf.make_ndarray(proto)
    assert got.shape == want.shape
    if dtype == "string":
        assert list(got.reshape(-1)) == list(want.reshape(-1))
    else:
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got.reshape(-1).view(np.uint8), want.reshape(-1).view(np.uint8))
