"""prepare_layout + the layout pass: an NCHW torch CNN lifts to NHWC TF ops without a
Transpose sandwich per layer, and still matches onnxruntime."""

from __future__ import annotations

import io
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import lift_to_graph_def, run_ir_in_tf  # noqa: E402

from tensorbridge import ir, passes  # noqa: E402
from tensorbridge.converters.onnx import import_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.lift import prepare_layout  # noqa: E402

pytestmark = pytest.mark.tf
torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("tensorflow")
import onnx  # noqa: E402


def _cnn(global_pool: bool):
    nn = torch.nn

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    head = [nn.AdaptiveAvgPool2d(1)] if global_pool else [nn.AvgPool2d(2)]
    tail = [nn.Flatten(), nn.Linear(32 if global_pool else 32 * 2 * 2, 10)]
    torch.manual_seed(0)
    net = nn.Sequential(*block(3, 8), *block(8, 16), *block(16, 32), *head, *tail).eval()
    with torch.no_grad():  # non-trivial BN statistics
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    buf = io.BytesIO()
    torch.onnx.export(net, (torch.zeros(2, 3, 32, 32),), buf, dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return onnx.load_from_string(buf.getvalue())


def _ort(proto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def _convert(proto) -> ir.Model:
    model = import_onnx(proto)
    prepare_layout(model)
    passes.default_pipeline()(model, passes.PassContext(verify_each=True))
    return model


@pytest.mark.parametrize("global_pool", [False, True])
def test_cnn_layout(global_pool):
    proto = _cnn(global_pool)
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    want = _ort(proto, x)
    model = _convert(proto)
    got = run_ir_in_tf(model, {"x": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    gd, _, _ = lift_to_graph_def(model)
    ops = Counter(n.op for n in gd.node)
    # one Transpose for the NCHW input; without global pooling one more where Flatten reads
    # the NCHW layout again (the flattened order is C, H, W). Global pooling's [N, C, 1, 1]
    # has the same memory order in both layouts, so nothing is transposed back.
    assert ops["Transpose"] == (1 if global_pool else 2), ops
    assert ops["Conv2D"] == 3 and ops["MaxPool"] == 3


def test_prepare_layout_alone_matches():
    """Without the pass, prepare_layout's own form (a Transpose pair per layer) is correct."""
    proto = _cnn(False)
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    want = _ort(proto, x)
    model = prepare_layout(import_onnx(proto))
    assert {n.op_type for n in model.graph if n.domain == ""} <= {"Transpose", "Relu", "Flatten", "Gemm"}
    np.testing.assert_allclose(run_ir_in_tf(model, {"x": x})[0], want, atol=1e-4, rtol=1e-4)


def test_no_optimize_lifting_matches():
    proto = _cnn(True)
    x = np.random.default_rng(2).standard_normal((1, 3, 32, 32)).astype(np.float32)
    want = _ort(proto, x)
    np.testing.assert_allclose(run_ir_in_tf(import_onnx(proto), {"x": x})[0], want, atol=1e-4, rtol=1e-4)


def test_batch_norm_becomes_arithmetic_the_pass_pushes_through():
    from onnx import TensorProto, helper, numpy_helper

    c = 4
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.standard_normal((c, c, 3, 3)).astype(np.float32), "w")]
    inits += [numpy_helper.from_array(a.astype(np.float32), n) for n, a in
              [("s", rng.standard_normal(c)), ("b", rng.standard_normal(c)), ("m", rng.standard_normal(c)),
               ("v", rng.uniform(0.5, 2, c))]]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["bn"]),
             helper.make_node("Relu", ["bn"], ["r"]),
             helper.make_node("Conv", ["r", "w"], ["y"], pads=[1, 1, 1, 1])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, 6, 6])], inits)
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    x = rng.standard_normal((1, c, 6, 6)).astype(np.float32)
    want = _ort(proto, x)
    model = _convert(proto)
    np.testing.assert_allclose(run_ir_in_tf(model, {"x": x})[0], want, atol=1e-4, rtol=1e-4)
    gd, _, _ = lift_to_graph_def(model)
    assert Counter(n.op for n in gd.node)["Transpose"] == 2  # the input's and the NCHW output's


def test_upsampling_decoder_keeps_nhwc():
    """Conv -> Resize x2 -> DepthToSpace -> Conv: the Resize takes the pushed Transpose (its
    axes become H, W of NHWC) and the DepthToSpace is an NHWC op: 2 Transposes in all."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(4)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(np.zeros(0, np.float32), "roi"),
             numpy_helper.from_array(np.asarray([1, 1, 2, 2], np.float32), "scales")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r"]),
             helper.make_node("Resize", ["r", "roi", "scales"], ["up"], mode="nearest",
                              coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
             helper.make_node("DepthToSpace", ["up"], ["d"], blocksize=2, mode="CRD"),
             helper.make_node("Conv", ["d", "w2"], ["y"], pads=[1, 1, 1, 1])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 5, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 20, 24])], inits)
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)], ir_version=10)
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    model = _convert(proto)
    np.testing.assert_allclose(run_ir_in_tf(model, {"x": x})[0], _ort(proto, x), atol=1e-4, rtol=1e-4)
    ops = Counter(n.op for n in lift_to_graph_def(model)[0].node)
    assert ops["Transpose"] == 2 and ops["ResizeNearestNeighbor"] == 1, ops


@pytest.mark.parametrize("norm", ["InstanceNormalization", "GroupNormalization"])
def test_norms_between_convs_stay_nhwc(norm):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)
    c = 6
    arrays = {"w1": rng.standard_normal((c, 3, 3, 3)), "w2": rng.standard_normal((2, c, 1, 1)),
              "s": rng.standard_normal(c), "b": rng.standard_normal(c)}
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in arrays.items()]
    attrs = {"num_groups": 3} if norm == "GroupNormalization" else {}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node(norm, ["c1", "s", "b"], ["n"], **attrs),
             helper.make_node("Relu", ["n"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 5, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 5, 4])], inits,
                          value_info=[helper.make_tensor_value_info(v, TensorProto.FLOAT, ["N", c, 5, 4])
                                      for v in ("n", "r")])  # onnx infers nothing past GroupNormalization
    proto = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    model = _convert(proto)
    np.testing.assert_allclose(run_ir_in_tf(model, {"x": x})[0], _ort(proto, x), atol=1e-4, rtol=1e-4)
    assert Counter(n.op for n in lift_to_graph_def(model)[0].node)["Transpose"] == 2


def test_residual_depthwise_block():
    """MobileNet/ResNet-style: depthwise + pointwise convs, a residual Add, Clip (ReLU6) and a
    global pool: still one Transpose, for the input."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            bn = nn.BatchNorm2d
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), bn(16), nn.ReLU6())
            self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16), bn(16), nn.ReLU6(),
                                    nn.Conv2d(16, 16, 1), bn(16))
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))

        def forward(self, x):
            h = self.stem(x)
            return self.head(h + self.dw(h))

    torch.manual_seed(1)
    buf = io.BytesIO()
    torch.onnx.export(Block().eval(), (torch.zeros(1, 3, 16, 16),), buf, dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}})
    proto = onnx.load_from_string(buf.getvalue())
    x = np.random.default_rng(6).standard_normal((2, 3, 16, 16)).astype(np.float32)
    model = _convert(proto)
    np.testing.assert_allclose(run_ir_in_tf(model, {"x": x})[0], _ort(proto, x), atol=1e-4, rtol=1e-4)
    ops = Counter(n.op for n in lift_to_graph_def(model)[0].node)
    assert ops["Transpose"] == 1 and ops["DepthwiseConv2dNative"] == 1, ops
