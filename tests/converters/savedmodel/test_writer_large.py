"""~50 MB of weights from ONNX external data (lazy tensors, streamed into the bundle) written
with a small shard threshold: several data shards that TensorFlow restores."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tf

from savedmodel_writer_helpers import assert_close, ort_run, tf1_session_run, tf_load_run  # noqa: E402

from tensorbridge import ir  # noqa: E402
from tensorbridge.converters.onnx import import_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.bundle import BundleReader  # noqa: E402
from tensorbridge.converters.savedmodel.writer import export_savedmodel  # noqa: E402

N, LAYERS = 1600, 5  # 5 weights of 1600x1600 float32: 51.2 MB


def _chain(tmp: Path) -> Path:
    """y = sum_i x @ w_i (independent MatMuls: no lifted value feeds another MatMul)."""
    rng = np.random.default_rng(7)
    inits, nodes = [], []
    for i in range(LAYERS):
        w = (rng.standard_normal((N, N)) / np.sqrt(N)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", ["x", f"w{i}"], [f"m{i}"]))
    acc = "m0"
    for i in range(1, LAYERS):
        out = "y" if i == LAYERS - 1 else f"s{i}"
        nodes.append(helper.make_node("Add", [acc, f"m{i}"], [out]))
        acc = out
    inner = [f"m{i}" for i in range(LAYERS)] + [f"s{i}" for i in range(1, LAYERS - 1)]
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", N])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", N])], inits,
                          value_info=[helper.make_tensor_value_info(n, TensorProto.FLOAT, ["b", N])
                                      for n in inner])
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save_model(proto, tmp / "chain.onnx", save_as_external_data=True, location="chain.data")
    return tmp / "chain.onnx"


@pytest.mark.parametrize("object_graph", [True, False], ids=["tf2", "tf1"])
def test_sharded_variables_restore(tmp_path, object_graph):
    src = _chain(tmp_path)
    model = import_onnx(src)
    assert all(ir.is_lazy(v.const) for v in model.graph.initializers.values())  # streamed, not loaded
    seen: list[tuple[int, int]] = []
    out = export_savedmodel(model, tmp_path / "sm", shard_bytes=12 << 20, object_graph=object_graph,
                            progress=lambda done, total: seen.append((done, total)))
    shards = sorted(p.name for p in (out / "variables").glob("variables.data-*"))
    assert len(shards) == 3 and shards[-1] == "variables.data-00002-of-00003"
    assert len(BundleReader(out / "variables" / "variables").keys()) == LAYERS + object_graph
    assert seen[-1][0] == seen[-1][1] >= LAYERS * N * N * 4
    x = np.random.default_rng(0).standard_normal((2, N)).astype(np.float32)
    want = ort_run(src, {"x": x})
    got, variables = tf_load_run(out, {"x": x})
    assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert len(variables) == LAYERS
    assert_close(tf1_session_run(out, {"x": x}), want, rtol=1e-4, atol=1e-4)
