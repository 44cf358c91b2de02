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
