"""Helpers for test_writer*.py: small ONNX models, and every way real TensorFlow loads a
SavedModel (tf.saved_model.load, the TF1 Session loader, saved_model_cli show/run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

SAVED_MODEL_CLI = Path(sys.executable).with_name("saved_model_cli")
F = TensorProto.FLOAT


def mlp_proto(n_in: int = 3, n_out: int = 8, seed: int = 0):
    """y = Relu(x @ w + b), z = Identity(x); x float32 [batch, n_in]. Intermediates typed."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n_in, n_out)).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["a"]),
             helper.make_node("Relu", ["a"], ["y"]), helper.make_node("Identity", ["x"], ["z"])]
    g = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", F, ["batch", n_in])],
        [helper.make_tensor_value_info("y", F, ["batch", n_out]),
         helper.make_tensor_value_info("z", F, ["batch", n_in])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
        value_info=[helper.make_tensor_value_info(n, F, ["batch", n_out]) for n in ("h", "a")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def ort_run(proto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ONNX Runtime outputs of a ModelProto or an .onnx path (external data next to it)."""
    import onnxruntime as ort

    src = str(proto) if isinstance(proto, (str, Path)) else proto.SerializeToString()
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


def tf_load_run(path: Path, feeds: dict[str, np.ndarray], tags=None, key: str = "serving_default"):
    """(outputs of tf.saved_model.load(path).signatures[key], {variable name: value})."""
    import tensorflow as tf

    obj = tf.saved_model.load(str(path), tags=tags)
    fn = obj.signatures[key]
    outs = {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in feeds.items()}).items()}
    variables = {v.name: v.numpy() for v in getattr(obj, "variables", [])}
    return outs, variables


def tf1_session_run(path: Path, feeds: dict[str, np.ndarray], tags=("serve",),
                    key: str = "serving_default") -> dict[str, np.ndarray]:
    """The TF1 Session loader (what TF Serving's Python tooling uses), run by SignatureDef."""
    import tensorflow as tf

    v1 = tf.compat.v1
    with v1.Session(graph=tf.Graph()) as sess:
        mg = v1.saved_model.loader.load(sess, list(tags), str(path))
        sig = mg.signature_def[key]
        feed = {sig.inputs[k].name: v for k, v in feeds.items()}
        names = sorted(sig.outputs)
        got = sess.run([sig.outputs[k].name for k in names], feed)
    return dict(zip(names, got))


def saved_model_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, str(SAVED_MODEL_CLI), *args], capture_output=True,
                          text=True, env=env, timeout=600)  # fmt: skip


def cli_run(path: Path, tag_set: str, key: str, feeds: dict[str, np.ndarray], out_dir: Path
            ) -> dict[str, np.ndarray]:
    """``saved_model_cli run`` with inputs from an .npz; outputs read back from .npy files."""
    npz = out_dir / "inputs.npz"
    np.savez(npz, **feeds)
    spec = ";".join(f"{k}={npz}[{k}]" for k in feeds)
    res = out_dir / "cli_out"
    proc = saved_model_cli("run", "--dir", str(path), "--tag_set", tag_set, "--signature_def", key,
                           "--inputs", spec, "--outdir", str(res), "--overwrite")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {p.stem: np.load(p) for p in res.glob("*.npy")}


def assert_close(got: dict, want: dict, rtol: float = 1e-5, atol: float = 1e-5) -> None:
    assert set(got) == set(want), (sorted(got), sorted(want))
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=k)


def no_leftovers(parent: Path) -> list[str]:
    """Names of temporary build directories the writer left in ``parent``."""
    return [p.name for p in parent.iterdir() if ".tb-tmp" in p.name or ".tb-old" in p.name]
