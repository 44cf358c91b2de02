"""`check --bisect`: a bug planted in one node of a converted model is named exactly, for a
CNN (torch export and onnx.helper) and a tiny transformer; memory stays bounded by the batch."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tensorbridge as tb
from tensorbridge.runtime import bisect as bisect_mod
from tensorbridge.runtime.bisect import bisect_models

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_helpers import add_const_model  # noqa: E402

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning",
                                        "ignore:.*:torch.jit.TracerWarning")  # fmt: skip


def _export(module, args, path: Path, **kw) -> Path:
    torch.onnx.export(module.eval(), args, str(path), dynamo=False, input_names=["x"],
                      output_names=["y"], **kw)  # fmt: skip
    return path


class _CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        a = torch.nn.functional.leaky_relu(self.c1(x), 0.1)
        d = a - torch.sigmoid(self.c2(a))
        return self.fc(d.mean((2, 3)))


@pytest.fixture(scope="module")
def cnn(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("bisect_cnn")
    torch.manual_seed(0)
    src = _export(_CNN(), (torch.randn(2, 3, 8, 8),), d / "cnn.onnx", opset_version=17)
    tb.convert(src, d / "cnn.tb.onnx")
    return src, d / "cnn.tb.onnx"


@pytest.fixture(scope="module")
def transformer(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("bisect_tr")
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
    enc = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    src = _export(enc, (torch.randn(1, 5, 16),), d / "tr.onnx", opset_version=17)
    tb.convert(src, d / "tr.tb.onnx")
    return src, d / "tr.tb.onnx"


def _plant(dst: Path, out: Path, op_type: str, k: int, edit) -> str:
    """Apply ``edit`` to the k-th ``op_type`` node of ``dst``, save as ``out``; its name."""
    model = onnx.load(str(dst))
    node = [n for n in model.graph.node if n.op_type == op_type][k]
    edit(node)
    onnx.save(model, str(out))
    return node.name


def _set_attr(name: str, value):
    def edit(node):
        for a in node.attribute:
            if a.name == name:
                a.CopyFrom(helper.make_attribute(name, value))

    return edit


def _swap_inputs(node):
    first, second = node.input[0], node.input[1]
    node.input[0], node.input[1] = second, first


def _bisect(src: Path, bad: Path, **kw) -> tb.CheckReport:
    report = tb.check(src, bad, tb.CheckOptions(bisect=True, **kw))
    assert not report.ok
    assert report.bisect is not None and report.bisect.status == "found", report.summary()
    return report


def test_cnn_wrong_attribute(cnn, tmp_path):
    src, dst = cnn
    assert tb.check(src, dst, tb.CheckOptions(bisect=True)).bisect is None
    name = _plant(dst, tmp_path / "bad.onnx", "LeakyRelu", 0, _set_attr("alpha", 0.3))
    b = _bisect(src, tmp_path / "bad.onnx").bisect
    assert (b.node, b.op_type) == (name, "LeakyRelu")
    assert "attribute alpha differs: SRC 0.1 vs DST 0.3" in b.hint
    assert b.output.status == "differs" and all(v.status != "differs" for v in b.inputs)


def test_cnn_swapped_input(cnn, tmp_path):
    src, dst = cnn
    name = _plant(dst, tmp_path / "bad.onnx", "Sub", 0, _swap_inputs)
    b = _bisect(src, tmp_path / "bad.onnx", bisect_batch=2).bisect
    assert (b.node, b.op_type) == (name, "Sub")
    assert "inputs in a different order" in b.hint
    assert [v.status for v in b.inputs] == ["match", "match"]


def test_transformer_epsilon_change(transformer, tmp_path):
    src, dst = transformer
    name = _plant(dst, tmp_path / "bad.onnx", "LayerNormalization", 2, _set_attr("epsilon", 0.5))
    b = _bisect(src, tmp_path / "bad.onnx").bisect
    assert (b.node, b.op_type) == (name, "LayerNormalization")
    assert "attribute epsilon differs" in b.hint and "vs DST 0.5" in b.hint


def test_transformer_wrong_softmax_axis(transformer, tmp_path):
    src, dst = transformer
    model = onnx.load(str(dst))
    soft = [n for n in model.graph.node if n.op_type == "Softmax"][1]
    name = _plant(dst, tmp_path / "bad.onnx", "Softmax", 1, _set_attr("axis", 1))
    b = _bisect(src, tmp_path / "bad.onnx", bisect_batch=16).bisect
    assert (b.node, b.op_type) == (name, "Softmax") and soft.name == name
    assert "attribute axis" in b.hint


def _bn_cnn(eps: float = 1e-5) -> onnx.ModelProto:
    """Conv -> BatchNormalization -> Relu -> GlobalAveragePool, built with onnx.helper."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n) for n, s in
             [("w", (4, 3, 3, 3)), ("scale", (4,)), ("bias", (4,)), ("mean", (4,))]]  # fmt: skip
    inits.append(numpy_helper.from_array(rng.uniform(0.5, 2, 4).astype(np.float32), "var"))
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["n"],
                         name="bn", epsilon=eps),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["y"], name="gap"),
    ]  # fmt: skip
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 1, 1])
    graph = helper.make_graph(nodes, "bn_cnn", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_helper_cnn_epsilon_change(tmp_path):
    onnx.save(_bn_cnn(), str(tmp_path / "src.onnx"))
    # the default pipeline folds BatchNormalization into the Conv: convert without it
    tb.convert(tmp_path / "src.onnx", tmp_path / "dst.onnx", tb.ConvertOptions(optimize=False))
    name = _plant(tmp_path / "dst.onnx", tmp_path / "bad.onnx", "BatchNormalization", 0,
                  _set_attr("epsilon", 0.5))  # fmt: skip
    b = _bisect(tmp_path / "src.onnx", tmp_path / "bad.onnx").bisect
    assert (b.node, b.op_type) == (name, "BatchNormalization")


def test_changed_weight_is_reported_as_constant_input(tmp_path):
    src = add_const_model(8)
    bad = add_const_model(8)
    bad.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.ones(8, np.float32), "w"))
    feeds = {"x": np.zeros((2, 8), np.float32)}
    b = bisect_models(src, bad, feeds, device="cpu")
    assert b.status == "found" and b.op_type == "Add"
    w = {v.name: v for v in b.inputs}["w"]
    assert w.status == "differs" and "constant input(s) differ: w" in b.hint
    assert {v.name: v.status for v in b.inputs}["x"] == "same feed"


def test_no_counterparts_is_said_clearly():
    a, b = add_const_model(4), add_const_model(4)
    for n in b.graph.node:
        n.output[0] = "renamed"
    b.graph.output[0].name = "renamed"
    r = bisect_models(a, b, {"x": np.zeros((1, 4), np.float32)}, device="cpu")
    assert r.status == "no counterparts" and "share no intermediate names" in r.hint
    assert "no counterparts" in r.summary()


def test_no_divergence(cnn):
    src, dst = cnn
    feeds = {"x": np.ones((2, 3, 8, 8), np.float32)}
    r = bisect_models(onnx.load(str(src)), onnx.load(str(dst)), feeds, device="cpu")
    assert r.status == "no divergence" and r.compared == r.candidates > 0


def test_batches_bound_the_values_alive(cnn, tmp_path, monkeypatch):
    """Each session exposes at most batch_size values; the scan stops at the failing batch."""
    src, dst = cnn
    _plant(dst, tmp_path / "bad.onnx", "Sub", 0, _swap_inputs)
    seen: list[int] = []
    real = bisect_mod._Side.run

    def spy(self, names, feeds, device):
        seen.append(len(names))
        return real(self, names, feeds, device)

    monkeypatch.setattr(bisect_mod._Side, "run", spy)
    ticks: list[tuple[int, int]] = []
    opts = tb.CheckOptions(bisect=True, bisect_batch=1, progress=lambda d, t: ticks.append((d, t)))
    r = tb.check(src, tmp_path / "bad.onnx", opts)
    assert max(seen) == 1 and r.bisect.batch_size == 1
    assert r.bisect.batches == r.bisect.compared < r.bisect.candidates
    assert ticks[-1][0] == ticks[-1][1]


def _two_step(first: str, second: str, k: float) -> onnx.ModelProto:
    """x[2,3] -> first -> a -> second -> b -> Mul(k) -> y; 'Transpose' moves the layout."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])
    nodes = [helper.make_node(first, ["x"], ["a"], name="first"),
             helper.make_node(second, ["a"], ["b"], name="second"),
             helper.make_node("Mul", ["b", "k"], ["y"], name="scale")]  # fmt: skip
    kt = numpy_helper.from_array(np.float32(k), "k")
    graph = helper.make_graph(nodes, "g", [x], [y], [kt])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_a_renamed_layout_value_is_not_blamed():
    """DST transposes first (its 'a' is [3,2], SRC's [2,3]): 'a' is skipped as not comparable
    and the planted constant in 'scale' is found."""
    feeds = {"x": np.arange(6, dtype=np.float32).reshape(2, 3) - 2}
    src, dst = _two_step("Relu", "Transpose", 2.0), _two_step("Transpose", "Relu", 3.0)
    r = bisect_models(src, dst, feeds, device="cpu")
    assert (r.status, r.node) == ("found", "scale") and "constant input(s) differ: k" in r.hint
    assert [v.status for v in r.inputs] == ["match", "differs"]


def test_only_shape_differences_name_the_first_of_them():
    feeds = {"x": np.ones((2, 3), np.float32)}
    src, dst = _two_step("Relu", "Identity", 2.0), _two_step("Transpose", "Identity", 2.0)
    r = bisect_models(src, dst, feeds, device="cpu")
    assert (r.status, r.node) == ("found", "first") and "differ in shape" in r.hint
    assert r.output.status == "shape differs"
