"""Tiny TensorFlow-written SavedModels for tests (needs the test extra: tensorflow-cpu).

Each `build_*` function writes one model into the directory it is given and returns that
directory. A marker file makes a second call on the same directory a no-op, so session
fixtures can cache models on disk. TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no cross-process lock
    fcntl = None

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MARKER = ".tb_fixture_done"
TF1_VOCAB = "hello\nworld\n"


@contextlib.contextmanager
def _locked(lock_path: Path):
    """An exclusive file lock, so pytest-xdist workers sharing a directory build once."""
    with open(lock_path, "w") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _cached(build: Callable[..., None]) -> Callable[..., Path]:
    """Wrap build(dir, **options) so it runs at most once per directory."""

    def wrapper(out_dir: str | os.PathLike, **options) -> Path:
        out = Path(out_dir)
        out.parent.mkdir(parents=True, exist_ok=True)
        with _locked(out.parent / f".{out.name}.lock"):
            if (out / MARKER).exists():
                return out
            if out.exists():
                shutil.rmtree(out)  # a half-built leftover
            build(out, **options)
            (out / MARKER).write_text("ok\n")
        return out

    wrapper.__name__ = build.__name__
    wrapper.__doc__ = build.__doc__
    return wrapper


@_cached
def build_keras_export(out: Path) -> None:
    """Keras 3 `model.export()` of a small Conv2D/Dense model, input (None, 8, 8, 3)."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 3), name="image"),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(2),
    ])  # fmt: skip
    model.export(str(out), verbose=False)


@_cached
def build_tf2_module(out: Path) -> None:
    """`tf.saved_model.save` of a tf.Module: y = x @ w + b, x is float32 [None, 3]."""
    import tensorflow as tf

    class Affine(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable([[1.0], [2.0], [3.0]], name="w")
            self.b = tf.Variable([0.5], name="b")

        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.matmul(x, self.w) + self.b}

    module = Affine()
    tf.saved_model.save(module, str(out), signatures={"serving_default": module.__call__})


def _tf1_graph(tf, vocab: Path):
    """Build the TF1 graph in the current default graph; return (x, y, y2, asset tensor)."""
    v1 = tf.compat.v1
    x = v1.placeholder(tf.float32, [None, 3], name="x")
    w = v1.Variable([[1.0], [2.0], [3.0]], name="w", use_resource=False)
    b = v1.Variable([0.5], name="b", use_resource=True)
    y = tf.identity(tf.matmul(x, w) + b, name="y")
    y2 = tf.identity(y * 2.0, name="y2")
    asset = tf.constant(str(vocab), name="vocab_path")
    v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, asset)
    return x, y, y2, asset


@_cached
def build_tf1_builder(out: Path, as_text: bool = False) -> None:
    """TF1 `SavedModelBuilder`: meta graphs tagged [serve] and [serve, gpu], variables w
    (ref) and b (resource), an asset vocab.txt in the assets collection; signatures
    `serving_default` (x:0 -> y:0) and `double` (x:0 -> y2:0)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    vocab = out.parent / f"{out.name}_src" / "vocab.txt"
    vocab.parent.mkdir(parents=True, exist_ok=True)
    vocab.write_text(TF1_VOCAB)
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        x, y, y2, asset = _tf1_graph(tf, vocab)
        sess.run(v1.global_variables_initializer())
        sig = v1.saved_model.predict_signature_def
        builder = v1.saved_model.Builder(str(out))
        builder.add_meta_graph_and_variables(
            sess, ["serve"], signature_def_map={"serving_default": sig({"x": x}, {"y": y})},
            assets_collection=[asset])
        builder.add_meta_graph(
            ["serve", "gpu"], signature_def_map={"double": sig({"x": x}, {"y": y2})},
            assets_collection=[asset])
        builder.save(as_text=as_text)


def build_tf1_builder_text(out_dir: str | os.PathLike) -> Path:
    """The TF1 Builder model written as saved_model.pbtxt (`builder.save(as_text=True)`)."""
    return build_tf1_builder(out_dir, as_text=True)


@_cached
def build_tf2_module_text(out: Path) -> None:
    """The tf2_module model with saved_model.pb replaced by TF's own text rendering
    (`text_format.MessageToString` of TF's SavedModel message) as saved_model.pbtxt.
    fingerprint.pb is left out: its checksum describes the binary file."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    src = build_tf2_module(out.parent / f"{out.name}_src")
    skip = shutil.ignore_patterns("saved_model.pb", "fingerprint.pb", MARKER)
    shutil.copytree(src, out, ignore=skip)
    proto = saved_model_pb2.SavedModel.FromString((src / "saved_model.pb").read_bytes())
    (out / "saved_model.pbtxt").write_text(text_format.MessageToString(proto))


BUILDERS: dict[str, Callable[[str | os.PathLike], Path]] = {
    "keras_export": build_keras_export,
    "tf2_module": build_tf2_module,
    "tf1_builder": build_tf1_builder,
    "tf1_builder_text": build_tf1_builder_text,
    "tf2_module_text": build_tf2_module_text,
}


# ---- models for tests/converters/savedmodel/test_import*.py ---------------------------------


@_cached
def build_import_tf2_mlp(out: Path) -> None:
    """`tf.saved_model.save` of a tf.Module with variables: MatMul + BiasAdd + Relu + Softmax
    and a Mean reduction; x is float32 [None, 4]; outputs `probs` [None, 3] and `mean` [None]."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)

    class Mlp(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w1 = tf.Variable(rng.standard_normal((4, 5)).astype(np.float32), name="w1")
            self.b1 = tf.Variable(rng.standard_normal(5).astype(np.float32), name="b1")
            self.w2 = tf.Variable(rng.standard_normal((5, 3)).astype(np.float32), name="w2")
            self.b2 = tf.Variable(rng.standard_normal(3).astype(np.float32), name="b2")

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x):
            h = tf.nn.relu(tf.nn.bias_add(tf.matmul(x, self.w1), self.b1))
            logits = tf.nn.bias_add(tf.matmul(h, self.w2), self.b2)
            probs = tf.nn.softmax(logits)
            return {"probs": probs, "mean": tf.reduce_mean(h, axis=1)}

    module = Mlp()
    tf.saved_model.save(module, str(out), signatures={"serving_default": module.__call__})


def _import_keras_dense():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((6,), name="features"),
        keras.layers.Dense(8, activation="relu", name="d1"),
        keras.layers.Dense(4, activation="softmax", name="d2"),
    ])  # fmt: skip


@_cached
def build_import_keras_dense_export(out: Path) -> None:
    """Keras 3 `model.export()` of Sequential(Dense(8, relu), Dense(4, softmax)), input (None, 6)."""
    _import_keras_dense().export(str(out), verbose=False)


@_cached
def build_import_keras_dense_tfsave(out: Path) -> None:
    """`tf.saved_model.save(keras3_model)` of the same Dense model (FORMATS.md 4.2 route-A trap)."""
    import tensorflow as tf

    model = _import_keras_dense()

    @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="features")])
    def serve(features):
        return {"output_0": model(features)}

    tf.saved_model.save(model, str(out), signatures={"serving_default": serve})


@_cached
def build_import_tf2_ops(out: Path) -> None:
    """A tf.Module with signatures `math`, `nn` and `array`, each a dict of many outputs that
    exercise one import handler family (inputs have a None batch dim)."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(1)
    f32 = tf.float32

    class Ops(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(rng.standard_normal((3, 5)).astype(np.float32), name="w")
            self.table = tf.Variable(rng.standard_normal((6, 2)).astype(np.float32), name="t")
            self.bias3 = tf.Variable(rng.standard_normal(3).astype(np.float32), name="bias3")
            self.bias5 = tf.Variable(rng.standard_normal(5).astype(np.float32), name="bias5")

        @tf.function(input_signature=[
            tf.TensorSpec([None, 4], f32, name="a"), tf.TensorSpec([None, 4], f32, name="b"),
            tf.TensorSpec([None, 4], tf.int32, name="i"),
            tf.TensorSpec([None, 4], tf.int32, name="j")])  # fmt: skip
        def math(self, a, b, i, j):
            j = tf.where(tf.equal(j, 0), tf.ones_like(j), j)
            pos = tf.abs(a) + 1.0
            return {
                "add": a + b, "sub": a - b, "mul": a * b, "realdiv": a / (tf.abs(b) + 1.0),
                "floordiv_f": tf.math.floordiv(a * 5.0, b), "floormod_f": tf.math.floormod(a * 5.0, b),
                "floordiv_i": tf.math.floordiv(i, j), "floormod_i": tf.math.floormod(i, j),
                "div_i": tf.raw_ops.Div(x=i, y=j), "truncatediv_i": tf.truncatediv(i, j),
                "truncatemod_i": tf.truncatemod(i, j),
                "max": tf.maximum(a, b), "min": tf.minimum(a, b), "neg": -a, "abs": tf.abs(i),
                "exp": tf.exp(a), "log": tf.math.log(pos), "sqrt": tf.sqrt(pos),
                "rsqrt": tf.math.rsqrt(pos), "square": tf.square(a), "pow": tf.pow(pos, b),
                "tanh": tf.tanh(a), "sigmoid": tf.sigmoid(a), "erf": tf.math.erf(a),
                "floor": tf.floor(a * 3.0), "ceil": tf.math.ceil(a * 3.0),
                "round": tf.round(tf.floor(a * 4.0) / 2.0), "sign": tf.sign(a),
                "reciprocal": tf.math.reciprocal(pos),
                "sqdiff": tf.math.squared_difference(a, b),
                "eq": tf.equal(i, j), "ne": tf.not_equal(i, j), "lt": a < b, "le": i <= j,
                "gt": a > b, "ge": i >= j,
                "and": tf.logical_and(a > 0, b > 0), "or": tf.logical_or(a > 0, b > 0),
                "not": tf.logical_not(a > 0), "cast_i": tf.cast(a * 3.0, tf.int32),
                "cast_b": tf.cast(i, tf.bool), "cast_f": tf.cast(i, f32),
                "select_v1": tf.raw_ops.Select(condition=tf.reduce_sum(a, axis=1) > 0, x=a, y=b),
                "select_v2": tf.where(a > b, a, b * 2.0), "addn": tf.add_n([a, b, a]),
                "clip": tf.clip_by_value(a, -0.5, b),
            }

        @tf.function(input_signature=[
            tf.TensorSpec([None, 5], f32, name="x"), tf.TensorSpec([None, 3, 5], f32, name="y"),
            tf.TensorSpec([None, 3, 2, 4], f32, name="z")])  # fmt: skip
        def nn(self, x, y, z):
            return {
                "matmul_tb": tf.matmul(x, self.w, transpose_b=True),
                "matmul_ta": tf.matmul(x, x, transpose_a=True),
                "bmm": tf.matmul(y, tf.transpose(y, [0, 2, 1])),
                "bmm_adj_y": tf.linalg.matmul(y, y, adjoint_b=True),
                "bmm_adj_x": tf.linalg.matmul(y, y, adjoint_a=True),
                "bias_nhwc": tf.nn.bias_add(y, self.bias5),
                "bias_nchw": tf.nn.bias_add(z, self.bias3, data_format="NCHW"),
                "relu": tf.nn.relu(x), "relu6": tf.nn.relu6(x * 4.0), "elu": tf.nn.elu(x),
                "selu": tf.nn.selu(x), "leaky_default": tf.nn.leaky_relu(x),
                "leaky_01": tf.nn.leaky_relu(x, alpha=0.1), "softmax": tf.nn.softmax(y),
                "log_softmax": tf.nn.log_softmax(y), "softplus": tf.nn.softplus(x),
            }

        @tf.function(input_signature=[
            tf.TensorSpec([None, 4], f32, name="x"),
            tf.TensorSpec([3], tf.int32, name="idx")])  # fmt: skip
        def array(self, x, idx):
            k = tf.math.floormod(idx, 4)
            e = tf.reshape(x, [-1, 1, 4])
            return {
                "reshape": tf.reshape(x, [-1, 2, 2]),
                "reshape_zero": tf.reshape(tf.fill(tf.stack([tf.size(idx) * 0]), 1.0), [0, 3]),
                "shape": tf.shape(x), "shape64": tf.shape(x, out_type=tf.int64),
                "size": tf.size(x), "rank": tf.rank(x),
                "expand": tf.expand_dims(x, 1), "expand_neg": tf.expand_dims(x, -1),
                "squeeze": tf.squeeze(e, axis=1), "squeeze_all": tf.reshape(tf.squeeze(e), [-1, 4]),
                "concat": tf.concat([x, x * 2.0], axis=1), "concat_neg": tf.concat([x, x], -1),
                "transpose": tf.transpose(x), "stack": tf.stack([x, x * 3.0], axis=1),
                "fill": tf.fill(tf.shape(x), 3.0), "zeros_like": tf.zeros_like(x),
                "ones_like": tf.ones_like(idx), "gather": tf.gather(x, k, axis=1),
                "gather_var": tf.gather(self.table, tf.math.floormod(idx, 6)),
                "mean": tf.reduce_mean(x, axis=1), "sum_keep": tf.reduce_sum(x, 0, keepdims=True),
                "max_all": tf.reduce_max(x, axis=[0, 1]), "min_neg": tf.reduce_min(x, axis=-1),
                "prod": tf.reduce_prod(x, axis=1), "sum_empty": tf.reduce_sum(x, axis=[]),
                "identity_n": tf.identity_n([x, idx])[0],
            }

        @tf.function(input_signature=[tf.TensorSpec([None, 4], f32, name="x")])
        def unsupported(self, x):  # ops with no handler yet: the ONNX export must refuse them
            return {"y": tf.math.cumsum(x[:, 1:], axis=1) + tf.math.cumsum(x[:, :3], axis=1)
                    + tf.math.cumprod(x[:, 1:], axis=1)}

    m = Ops()
    tf.saved_model.save(m, str(out), signatures={
        "math": m.math, "nn": m.nn, "array": m.array, "unsupported": m.unsupported})


@_cached
def build_import_tf1_multi(out: Path) -> None:
    """TF1 `SavedModelBuilder` with meta graphs [serve], [serve, gpu] and [train], two
    signatures each. w is a VariableV2, b a resource variable, `scale` a
    PlaceholderWithDefault (2.0): a signature input in [serve, gpu] `predict`, else its default."""
    import numpy as np
    import tensorflow as tf

    v1 = tf.compat.v1
    rng = np.random.default_rng(2)
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        w = v1.Variable(rng.standard_normal((3, 2)).astype(np.float32), name="dense/w",
                        use_resource=False)
        b = v1.Variable(rng.standard_normal(2).astype(np.float32), name="dense/b",
                        use_resource=True)
        scale = v1.placeholder_with_default(tf.constant(2.0), [], name="scale")
        y = tf.identity(tf.nn.relu(tf.matmul(x, w) + b) * scale, name="y")
        z = tf.nn.softmax(y, name="z")
        s = tf.reduce_sum(tf.square(x), axis=1, name="s")
        sess.run(v1.global_variables_initializer())
        sig = v1.saved_model.predict_signature_def
        builder = v1.saved_model.Builder(str(out))
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={
            "serving_default": sig({"x": x}, {"y": y}), "probs": sig({"x": x}, {"z": z})})
        builder.add_meta_graph(["serve", "gpu"], signature_def_map={
            "predict": sig({"x": x, "scale": scale}, {"y": y}),
            "both": sig({"x": x}, {"y": y, "z": z})})
        builder.add_meta_graph(["train"], signature_def_map={
            "sq": sig({"x": x}, {"s": s}), "probs": sig({"x": x}, {"z": z, "s": s})})
        builder.save()


@_cached
def build_import_tf2_cnn(out: Path) -> None:
    """A tf.Module with signatures `conv` (Conv2D padding/stride/dilation variants, MaxPool,
    AvgPool; x is float32 [None, 9, 9, 3]) and `slices` (StridedSlice masks; x [None, 4, 5, 6])."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(3)

    class Cnn(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.k = tf.Variable(rng.standard_normal((3, 3, 3, 4)).astype(np.float32), name="k")
            self.k2 = tf.Variable(rng.standard_normal((2, 2, 3, 2)).astype(np.float32), name="k2")

        @tf.function(input_signature=[tf.TensorSpec([None, 9, 9, 3], tf.float32, name="x")])
        def conv(self, x):
            c = tf.nn.conv2d
            return {
                "valid_s2": c(x, self.k, 2, "VALID"), "same_s1": c(x, self.k, 1, "SAME"),
                "same_s2": c(x, self.k, 2, "SAME"), "same_k2_s2": c(x, self.k2, 2, "SAME"),
                "dilated": c(x, self.k, 1, "SAME", dilations=2),
                "explicit": c(x, self.k, 1, [[0, 0], [1, 2], [0, 1], [0, 0]]),
                "maxpool_same": tf.nn.max_pool2d(x, 2, 2, "SAME"),
                "maxpool_valid": tf.nn.max_pool2d(x, 3, 2, "VALID"),
                "avgpool_same": tf.nn.avg_pool2d(x, 3, 2, "SAME"),
            }

        @tf.function(input_signature=[tf.TensorSpec([None, 4, 5, 6], tf.float32, name="x")])
        def slices(self, x):
            return {
                "range": x[:, 1:3], "reverse": x[:, ::-1], "ellipsis": x[..., 0],
                "newaxis": x[:, None, 2:], "last": x[-1], "mixed": x[:, -2:, ::2, 1],
                "neg_step": x[:, 3:0:-2, -1], "ellipsis_mid": x[0, ..., 1:4],
            }

    m = Cnn()
    tf.saved_model.save(m, str(out), signatures={"conv": m.conv, "slices": m.slices})
