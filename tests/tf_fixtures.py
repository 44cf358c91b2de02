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
            return {"y": tf.math.lgamma(x[:, 1:]) + tf.math.lgamma(x[:, :3])
                    + tf.math.digamma(x[:, 1:])}

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


@_cached
def build_import_array_ops(out: Path) -> None:
    """A tf.Module with signatures `shaping`, `indexing` and `scan` covering the split, pad,
    slice, index, scatter, top-k, one-hot, range, cumulative and einsum import handlers
    (inputs have a None batch dim; negative axes, int32 and float, TF's edge cases)."""
    import tensorflow as tf

    f32, i32 = tf.float32, tf.int32
    raw = tf.raw_ops

    class ArrayOps(tf.Module):
        @tf.function(input_signature=[
            tf.TensorSpec([None, 6], f32, name="x"), tf.TensorSpec([None, 6], i32, name="i")])
        def shaping(self, x, i):
            x3 = tf.reshape(x, [-1, 2, 3])
            n = tf.shape(x)[0]
            s3 = tf.split(x, 3, axis=1)
            sn = tf.split(i, 2, axis=-1)
            sv = tf.split(x, [1, -1, 2], axis=1)
            sv_last = tf.split(i, [4, -1], axis=-1)
            sv_first = tf.split(x, [-1, 2], axis=1)
            sv_zero = tf.split(x, [2, -1, 0], axis=1)
            sv_plain = tf.split(x3, [1, 2], axis=-1)
            u = tf.unstack(x3, axis=1)
            un = tf.unstack(x3, axis=-1)
            return {
                "split_0": s3[0], "split_1": s3[1], "split_2": s3[2], "split_neg_0": sn[0],
                "split_neg_1": sn[1], "split_one": tf.split(x, 1, axis=0)[0],
                "splitv_0": sv[0], "splitv_1": sv[1], "splitv_2": sv[2],
                "splitv_last_0": sv_last[0], "splitv_last_1": sv_last[1],
                "splitv_first_0": sv_first[0], "splitv_first_1": sv_first[1],
                "splitv_zero_0": sv_zero[0], "splitv_zero_1": sv_zero[1],
                "splitv_zero_2": sv_zero[2], "splitv_plain_0": sv_plain[0],
                "splitv_plain_1": sv_plain[1],
                "unstack_0": u[0], "unstack_1": u[1], "unstack_neg_2": un[2],
                "tile": tf.tile(x, [2, 1]), "tile_i": tf.tile(i, tf.stack([1, n])),
                "pad": tf.pad(x, [[1, 0], [2, 3]]),
                "padv2": tf.pad(x3, [[0, 1], [1, 1], [0, 2]], constant_values=2.5),
                "pad_i": tf.pad(i, [[0, 0], [1, 2]], constant_values=-7),
                "pad_dynamic": tf.pad(x, tf.stack([[0, 0], [n, 1]])),
                "mirror_reflect": tf.pad(x3, [[0, 0], [1, 1], [2, 1]], mode="REFLECT"),
                "mirror_symmetric": tf.pad(x3, [[0, 0], [1, 2], [3, 2]], mode="SYMMETRIC"),
                "mirror_reflect_i": tf.pad(i, [[0, 0], [5, 0]], mode="REFLECT"),
                "mirror_symmetric_i": tf.pad(i, [[1, 0], [0, 6]], mode="SYMMETRIC"),
                "slice": tf.slice(x, [0, 1], [-1, 3]),
                "slice_i": tf.slice(i, [0, 2], [1, -1]),
                "slice_dynamic": tf.slice(x3, tf.stack([0, n * 0 + 1, 1]), tf.stack([n, -1, 2])),
                "reverse": tf.reverse(x, [1]), "reverse_neg": tf.reverse(x3, [0, -1]),
                "reverse_i": tf.reverse(i, [-2]),
                "broadcast": tf.broadcast_to(x[:, :1], tf.shape(x)),
                "broadcast_const": tf.broadcast_to(tf.constant([1, 2, 3]), [2, 3]),
                "fill_dynamic": tf.fill(tf.stack([n, 2]), 7),
            }

        @tf.function(input_signature=[
            tf.TensorSpec([None, 6], f32, name="x"), tf.TensorSpec([None, 6], i32, name="i"),
            tf.TensorSpec([5], i32, name="ids")])
        def indexing(self, x, i, ids):
            n = tf.shape(x)[0]
            x3 = tf.reshape(x, [-1, 2, 3])
            table = tf.reshape(tf.range(24, dtype=f32) * 0.5, [4, 6])
            tk, ti = tf.math.top_k(x, 3)
            tki, tii = tf.math.top_k(i, 4)  # ints in -9..9: many ties
            nd_idx = tf.stack([tf.math.floormod(ids, 4), tf.math.floormod(ids, 6)], axis=1)
            dup = tf.constant([[1], [3], [1], [0], [1]])
            upd = tf.cast(ids, f32)[:, None] * tf.constant([1.0, 2.0, 3.0])
            return {
                "argmax": tf.argmax(x, axis=1), "argmin_neg": tf.argmin(x, axis=-1),
                "argmax_i32": tf.argmax(x, axis=0, output_type=i32),
                "argmax_ties": tf.argmax(i, axis=1), "argmin_ties": tf.argmin(i, axis=0),
                "topk_v": tk, "topk_i": ti, "topk_ties_v": tki, "topk_ties_i": tii,
                "topk_all": tf.math.top_k(x, 6).indices,
                "gather_nd": tf.gather_nd(table, nd_idx),
                "gather_nd_rows": tf.gather_nd(x, tf.zeros([2, 1], i32)),
                "gather_nd_var_i": tf.gather_nd(i, [[0, 5], [0, 0]]),
                "scatter_nd": tf.scatter_nd(dup, upd, [4, 3]),
                "scatter_nd_i": tf.scatter_nd(dup, ids, tf.stack([n * 0 + 4])),
                "one_hot": tf.one_hot(ids, 5),  # ids in -9..9: negatives and >= depth too
                "one_hot_axis0": tf.one_hot(ids, 4, on_value=2.0, off_value=-1.0, axis=0),
                "one_hot_i": tf.one_hot(tf.math.floormod(i, 7) - 2, 5, dtype=i32),
                "range_i": tf.range(n), "range_neg": tf.range(10, n, -3),
                "range_f": tf.range(0.5, tf.cast(n, f32) * 1.5 + 2.0, 0.7),
                "where_bool": tf.where(x > 0), "where_int": tf.where(i),
                "band_lower": tf.linalg.band_part(x3, -1, 0),
                "band_1_2": tf.linalg.band_part(tf.reshape(x, [-1, 3, 2]), 1, 0),
                "band_upper": tf.linalg.band_part(x3, 0, -1),
                "band_dynamic": tf.linalg.band_part(x3, tf.cast(n * 0 + 1, tf.int64), -1),
                # Keras' causal attention mask: band_part on bool ones of a dynamic size
                "band_bool_causal": tf.linalg.band_part(tf.ones(tf.stack([n, n + 1]), tf.bool),
                                                        -1, 0),
            }

        @tf.function(input_signature=[
            tf.TensorSpec([None, 6], f32, name="x"), tf.TensorSpec([None, 6], i32, name="i"),
            tf.TensorSpec([None, 3, 4], f32, name="y"),
            tf.TensorSpec([None, 4, 5], f32, name="z")])
        def scan(self, x, i, y, z):
            return {
                "cumsum": tf.math.cumsum(x, axis=1), "cumsum_neg": tf.math.cumsum(x, axis=-1),
                "cumsum_excl": tf.math.cumsum(x, axis=1, exclusive=True),
                "cumsum_rev": tf.math.cumsum(x, axis=1, reverse=True),
                "cumsum_both": tf.math.cumsum(x, axis=0, exclusive=True, reverse=True),
                "cumsum_i": tf.math.cumsum(i, axis=1),
                "cumprod": tf.math.cumprod(x, axis=1),
                "cumprod_both": tf.math.cumprod(x, axis=-1, exclusive=True, reverse=True),
                "einsum_bmm": tf.einsum("bij,bjk->bik", y, z),
                "einsum_t": tf.einsum("bij->bji", y),
                "einsum_ellipsis": tf.einsum("...ij,...jk->...ik", y, z),
                "einsum_dot": tf.einsum("bi,bi->b", x, x),
                "bmm_v1": raw.BatchMatMul(x=y, y=z),
                "bmm_v1_adj_x": raw.BatchMatMul(x=y, y=y, adj_x=True),
                "bmm_v1_adj_y": raw.BatchMatMul(x=z, y=z, adj_y=True),
            }

    m = ArrayOps()
    tf.saved_model.save(m, str(out), signatures={
        "shaping": m.shaping, "indexing": m.indexing, "scan": m.scan})


@_cached
def build_import_tf2_nn_ops(out: Path) -> None:
    """A tf.Module for the nn/conv/image import handlers: signatures `conv` (depthwise, Conv1D,
    Conv2DBackpropInput, MaxPoolV2, LRN; x [None, 9, 9, 3]), `conv3d` (Conv3D, 3-D pools;
    v [None, 5, 7, 6, 3]), `norm` (FusedBatchNorm*, both layouts, inference and training, plus
    activations; x [None, 5, 6, 4]) and `image` (resizes, SpaceToDepth/DepthToSpace;
    x [None, 5, 7, 3], d [None, 3, 4, 8])."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(7)
    f32 = tf.float32

    def var(shape, name, low=None):
        data = rng.standard_normal(shape) if low is None else rng.uniform(low, 2.0, shape)
        return tf.Variable(data.astype(np.float32), name=name)

    class NnOps(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dw2 = var((3, 3, 3, 2), "dw2")
            self.dw3 = var((2, 3, 3, 3), "dw3")
            self.k1 = var((3, 27, 4), "k1")
            self.kt = var((3, 3, 4, 3), "kt")  # [H, W, out, in]
            self.kt2 = var((2, 2, 5, 3), "kt2")
            self.k3 = var((3, 2, 3, 3, 4), "k3")
            self.scale, self.offset = var(4, "scale"), var(4, "offset")
            self.mean, self.variance = var(4, "mean"), var(4, "variance", low=0.5)

        @tf.function(input_signature=[tf.TensorSpec([None, 9, 9, 3], f32, name="x")])
        def conv(self, x):
            dw = tf.raw_ops.DepthwiseConv2dNative
            batch = tf.shape(x)[0]
            ct = tf.nn.conv2d_transpose
            return {
                "dw_same_s1": tf.nn.depthwise_conv2d(x, self.dw2, [1, 1, 1, 1], "SAME"),
                "dw_valid_s2": tf.nn.depthwise_conv2d(x, self.dw3, [1, 2, 2, 1], "VALID"),
                "dw_same_s2": dw(input=x, filter=self.dw3, strides=[1, 2, 2, 1], padding="SAME"),
                "dw_dilated": dw(input=x, filter=self.dw2, strides=[1, 1, 1, 1], padding="SAME",
                                 dilations=[1, 2, 2, 1]),
                "dw_explicit": dw(input=x, filter=self.dw2, strides=[1, 1, 1, 1],
                                  padding="EXPLICIT", explicit_paddings=[0, 0, 1, 2, 0, 1, 0, 0]),
                "conv1d": tf.nn.conv1d(tf.reshape(x, [-1, 9, 27]), self.k1, 2, "SAME"),
                "conv1d_valid": tf.nn.conv1d(tf.reshape(x, [-1, 9, 27]), self.k1, 1, "VALID",
                                             dilations=2),
                "convt_same_s2": ct(x, self.kt, tf.stack([batch, 18, 18, 4]), 2, "SAME"),
                "convt_same_s2_odd": ct(x, self.kt, tf.stack([batch, 17, 17, 4]), 2, "SAME"),
                "convt_valid_s2": ct(x, self.kt, tf.stack([batch, 19, 19, 4]), 2, "VALID"),
                "convt_valid_s2_pad": ct(x, self.kt, tf.stack([batch, 20, 20, 4]), 2, "VALID"),
                "convt_same_s1": ct(x, self.kt, tf.stack([batch, 9, 9, 4]), 1, "SAME"),
                "convt_k2_s3": ct(x, self.kt2, tf.stack([batch, 27, 26, 5]), [3, 3], "SAME"),
                "convt_explicit": ct(x, self.kt, tf.stack([batch, 17, 18, 4]), 2,
                                     [[0, 0], [1, 1], [0, 2], [0, 0]]),
                # an input of unknown spatial shape at import: SAME becomes auto_pad
                "dw_same_s2_auto": dw(input=tf.nn.relu(x), filter=self.dw2,
                                      strides=[1, 2, 2, 1], padding="SAME"),
                "maxpool_v2": tf.raw_ops.MaxPoolV2(input=x, ksize=tf.constant([1, 3, 3, 1]),
                                                   strides=tf.constant([1, 2, 2, 1]),
                                                   padding="SAME"),
                "lrn": tf.nn.local_response_normalization(x, 1, 1.5, 0.3, 0.75),
                "lrn_default": tf.nn.local_response_normalization(x),
            }

        @tf.function(input_signature=[tf.TensorSpec([None, 5, 7, 6, 3], f32, name="v")])
        def conv3d(self, v):
            c = tf.nn.conv3d
            one = [1] * 5
            c3, empty = tf.constant([0.5, 1.0, 2.0]), tf.constant([], f32)
            return {
                "same_s1": c(v, self.k3, one, "SAME"),
                "valid_s2": c(v, self.k3, [1, 2, 2, 2, 1], "VALID"),
                "same_s2": c(v, self.k3, [1, 2, 2, 2, 1], "SAME"),
                "maxpool_same": tf.nn.max_pool3d(v, 2, 2, "SAME"),
                "maxpool_valid": tf.nn.max_pool3d(v, [3, 2, 3], [1, 2, 2], "VALID"),
                "avgpool_same": tf.nn.avg_pool3d(v, 3, 2, "SAME"),
                "same_s2_auto": c(tf.nn.relu(v), self.k3, [1, 2, 2, 2, 1], "SAME"),
                "fbn_ndhwc": tf.raw_ops.FusedBatchNormV3(
                    x=v, scale=c3, offset=-c3, mean=c3 * 0.5, variance=c3 * 2.0,
                    is_training=False, data_format="NDHWC").y,
                "fbn_ndhwc_train": tf.raw_ops.FusedBatchNormV3(
                    x=v, scale=c3, offset=-c3, mean=empty, variance=empty,
                    data_format="NDHWC").y,
            }

        @tf.function(input_signature=[tf.TensorSpec([None, 5, 6, 4], f32, name="x")])
        def norm(self, x):
            args = {"scale": self.scale, "offset": self.offset, "mean": self.mean,
                    "variance": self.variance}
            empty = {"scale": self.scale, "offset": self.offset, "mean": tf.constant([], f32),
                     "variance": tf.constant([], f32)}
            nchw = tf.transpose(x, [0, 3, 1, 2])
            v3 = tf.raw_ops.FusedBatchNormV3(x=x, is_training=False, **args)  # epsilon 1e-4
            v3c = tf.raw_ops.FusedBatchNormV3(x=nchw, epsilon=0.01, data_format="NCHW",
                                              is_training=False, **args)
            t3 = tf.raw_ops.FusedBatchNormV3(x=x, epsilon=0.001, **empty)  # is_training: true
            t3c = tf.raw_ops.FusedBatchNormV3(x=nchw, data_format="NCHW", **empty)
            avg = tf.raw_ops.FusedBatchNormV3(x=x, exponential_avg_factor=0.25, **args)
            return {
                "v3_nhwc": v3.y, "v3_mean": v3.batch_mean, "v3_var": v3.batch_variance,
                "v3_nchw": v3c.y,
                "v1": tf.raw_ops.FusedBatchNorm(x=x, epsilon=0.003, is_training=False, **args).y,
                "v2_nchw": tf.raw_ops.FusedBatchNormV2(x=nchw, data_format="NCHW",
                                                       is_training=False, **args).y,
                "train_y": t3.y, "train_mean": t3.batch_mean, "train_var": t3.batch_variance,
                "train_nchw": t3c.y, "train_nchw_var": t3c.batch_variance,
                "avg_y": avg.y, "avg_mean": avg.batch_mean, "avg_var": avg.batch_variance,
                "softsign": tf.nn.softsign(x), "erf": tf.math.erf(x),
                "gelu": tf.nn.gelu(x), "gelu_tanh": tf.nn.gelu(x, approximate=True),
                "silu": tf.nn.silu(x), "relu6": tf.nn.relu6(x * 4.0),
            }

        @tf.function(input_signature=[tf.TensorSpec([None, 5, 7, 3], f32, name="x"),
                                      tf.TensorSpec([None, 3, 4, 8], f32, name="d")])
        def image(self, x, d):
            out = {}
            for name, ac, hp in (("legacy", False, False), ("corners", True, False),
                                 ("half", False, True)):
                for size_name, size in (("up", [9, 12]), ("down", [3, 4]), ("one", [1, 5])):
                    out[f"bilinear_{name}_{size_name}"] = tf.raw_ops.ResizeBilinear(
                        images=x, size=size, align_corners=ac, half_pixel_centers=hp)
                    out[f"nearest_{name}_{size_name}"] = tf.raw_ops.ResizeNearestNeighbor(
                        images=x, size=size, align_corners=ac, half_pixel_centers=hp)
            out["bilinear_int"] = tf.raw_ops.ResizeBilinear(
                images=tf.cast(x * 10.0, tf.int32), size=[8, 11], half_pixel_centers=True)
            out["image_resize"] = tf.image.resize(x, [10, 13])
            out["image_resize_nn"] = tf.image.resize(x, [4, 13], method="nearest")
            out["space_to_depth"] = tf.nn.space_to_depth(x[:, :4, :6], 2)
            out["depth_to_space"] = tf.nn.depth_to_space(d, 2)
            return out

        # refused by the converter: a training-only output used, a data-dependent output size
        @tf.function(input_signature=[tf.TensorSpec([None, 5, 6, 4], f32, name="x")])
        def reserve_used(self, x):
            bn = tf.raw_ops.FusedBatchNormV3(x=x, scale=self.scale, offset=self.offset,
                                             mean=self.mean, variance=self.variance,
                                             is_training=False)
            return {"r": bn.reserve_space_2 + 1.0}

        @tf.function(input_signature=[tf.TensorSpec([None, 9, 9, 3], f32, name="x")])
        def convt_dynamic(self, x):
            size = tf.shape(x) * tf.constant([1, 2, 2, 1]) + tf.constant([0, 0, 0, 1])
            return {"y": tf.nn.conv2d_transpose(x, self.kt, size, 2, "SAME")}

    m = NnOps()
    tf.saved_model.save(m, str(out), signatures={
        "conv": m.conv, "conv3d": m.conv3d, "norm": m.norm, "image": m.image,
        "reserve_used": m.reserve_used, "convt_dynamic": m.convt_dynamic})


# ---- Keras applications (tests/e2e/test_keras_applications.py) ---------------------------
# name -> (input size, constructor kwargs). The smallest input each model accepts with
# weights=None, a 10-class top where the head is small; VGG16's two 4096-wide FC layers would
# add ~76 MB, so it keeps only its conv body with a global max pool (its conv weights alone are
# ~59 MB).
KERAS_APPS: dict[str, tuple[int, dict]] = {
    "MobileNetV2": (32, {"include_top": True, "classes": 10}),
    "MobileNetV3Small": (32, {"include_top": True, "classes": 10}),
    "ResNet50": (32, {"include_top": True, "classes": 10}),
    "ResNet50V2": (32, {"include_top": True, "classes": 10}),
    "EfficientNetB0": (32, {"include_top": True, "classes": 10}),
    "EfficientNetV2B0": (32, {"include_top": True, "classes": 10}),
    "DenseNet121": (32, {"include_top": True, "classes": 10}),
    "InceptionV3": (75, {"include_top": True, "classes": 10}),
    "Xception": (71, {"include_top": True, "classes": 10}),
    "NASNetMobile": (32, {"include_top": True, "classes": 10}),
    "ConvNeXtTiny": (32, {"include_top": True, "classes": 10}),
    "VGG16": (32, {"include_top": False, "pooling": "max"}),
}


@_cached
def build_keras_application(out: Path, name: str) -> None:
    """`keras.applications.<name>(weights=None, ...)` (sizes and heads: KERAS_APPS), seed 0,
    every BatchNormalization given seeded non-trivial gamma/beta/moving statistics (they are
    1/0/0/1 right after init, which would hide BN bugs), exported with `model.export()`."""
    import keras
    import numpy as np

    size, kwargs = KERAS_APPS[name]
    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), **kwargs)  # fmt: skip
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = tuple(layer.moving_mean.shape)
            layer.moving_mean.assign(rng.normal(0.0, 0.5, shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape).astype("float32"))
            if layer.gamma is not None:
                layer.gamma.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
            if layer.beta is not None:
                layer.beta.assign(rng.normal(0.0, 0.2, shape).astype("float32"))
    model.export(str(out), verbose=False)


# ---- grouped Keras convs and batched gathers (tests/converters/savedmodel/test_import_gaps.py)
@_cached
def build_keras_grouped_conv(out: Path) -> None:
    """Keras 3 `model.export()` of Conv2D(groups=4) and Conv2D(groups=C) (ConvNeXt's depthwise
    layers) behind an ungrouped Conv2D + LayerNormalization, input (None, 6, 6, 3): TF Conv2Ds
    whose filters hold C_in/groups input channels, inside nested Keras functions."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((6, 6, 3), name="image"),
        keras.layers.Conv2D(8, 1),
        keras.layers.LayerNormalization(epsilon=1e-6),
        keras.layers.Conv2D(12, 3, padding="same", groups=4),
        keras.layers.Conv2D(12, 3, padding="same", groups=12, activation="relu"),
        keras.layers.Conv2D(4, 2, strides=2, groups=2),
    ])  # fmt: skip
    model.export(str(out), verbose=False)


@_cached
def build_batched_gather(out: Path) -> None:
    """tf.gather with batch_dims != 0 (GatherV2), one signature per (axis, batch_dims) case;
    params p float32 [2, 3, 4, 5], indices computed in range from an int32 input i."""
    import tensorflow as tf

    f32, i32 = tf.float32, tf.int32
    cases = {  # name -> (indices input shape, axis, batch_dims, size of the gathered dim)
        "b1_axis1": ([2, 6], 1, 1, 3),
        "b1_axis2": ([2, 2, 3], 2, 1, 4),
        "b2_axis2": ([2, 3, 7], 2, 2, 4),
        "b1_axis3": ([2, 4], 3, 1, 5),
        "bneg_axisneg": ([2, 3, 4, 2], -1, -1, 5),
    }

    class Gathers(tf.Module):
        pass

    m = Gathers()
    sigs = {}
    for name, (ishape, axis, batch_dims, size) in cases.items():
        def fn(p, i, axis=axis, batch_dims=batch_dims, size=size):
            idx = tf.math.floormod(i, size)
            return {"y": tf.gather(p, idx, axis=axis, batch_dims=batch_dims)}

        sigs[name] = tf.function(fn, input_signature=[
            tf.TensorSpec([2, 3, 4, 5], f32, name="p"), tf.TensorSpec(ishape, i32, name="i")])
        setattr(m, name, sigs[name])
    tf.saved_model.save(m, str(out), signatures=sigs)
