"""Array, indexing and scan import handlers (shaping.py, indexing.py, scan.py): one TF-written
tf.Module SavedModel with three signatures, converted in a child process where importing
TensorFlow raises, run on ONNX Runtime and compared with TF's own outputs."""

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
    tf_signature_outputs,
)

from tensorbridge import ir  # noqa: E402
from tensorbridge.converters.savedmodel.importer import import_savedmodel  # noqa: E402
from tensorbridge.converters.savedmodel.ops import TF_IMPORT  # noqa: E402
from tensorbridge.converters.savedmodel.ops._context import ImportContext, TfNode  # noqa: E402
from tensorbridge.errors import UnsupportedOpError  # noqa: E402
from tensorbridge.protos import attr_value_pb2  # noqa: E402
from tensorbridge.runtime import Session  # noqa: E402

F32, I32 = np.float32, np.int32

# signature -> {input: (shape with B for the batch, dtype)}
SIGNATURES = {
    "shaping": {"x": (("B", 6), F32), "i": (("B", 6), I32)},
    "indexing": {"x": (("B", 6), F32), "i": (("B", 6), I32), "ids": ((5,), I32)},
    "scan": {"x": (("B", 6), F32), "i": (("B", 6), I32), "y": (("B", 3, 4), F32),
             "z": (("B", 4, 5), F32)},
}  # fmt: skip


@pytest.fixture(scope="session")
def array_ops_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the xdist workers; the builder locks and caches
    return tf_fixtures.build_import_array_ops(base / "tf_import_models" / "import_array_ops")


@pytest.fixture(scope="session")
def converted(array_ops_dir: Path, tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("onnx_array_ops")
    jobs = [{"src": str(array_ops_dir), "dst": str(out / f"{sig}.onnx"), "signature": sig}
            for sig in SIGNATURES]
    return {sig: {**j, **r} for sig, j, r in zip(SIGNATURES, jobs, convert_without_tf(jobs))}


def _feeds(specs, batch: int, seed: int):
    shapes = {k: (tuple(batch if d == "B" else d for d in shape), dt)
              for k, (shape, dt) in specs.items()}
    return seeded_inputs(shapes, seed)


@pytest.mark.parametrize("sig", list(SIGNATURES))
def test_converts_without_tf_and_matches_tf(sig, converted, array_ops_dir):
    job = converted[sig]
    assert job["ok"], job.get("error")
    sess = Session(job["dst"], "cpu")
    for batch, seed in ((1, 0), (7, 1), (3, 2)):
        feeds = _feeds(SIGNATURES[sig], batch, seed)
        expected = tf_signature_outputs(array_ops_dir, sig, feeds)
        actual = sess.run(feeds)
        assert set(actual) == set(expected)
        for k, exp in expected.items():
            exp, got = np.asarray(exp), actual[k]
            assert got.shape == exp.shape, (k, got.shape, exp.shape)
            assert got.dtype == exp.dtype, (k, got.dtype, exp.dtype)
            if exp.dtype.kind == "f":
                np.testing.assert_allclose(got, exp, rtol=1e-4, atol=1e-5, err_msg=k)
            else:
                np.testing.assert_array_equal(got, exp, err_msg=k)


def test_edge_cases_are_exercised(array_ops_dir):
    # the seeded inputs really hit the traps the handlers guard against
    runs = [_feeds(SIGNATURES["indexing"], b, s) for b, s in ((1, 0), (7, 1), (3, 2))]
    ids = np.concatenate([f["ids"] for f in runs])
    assert (ids < 0).any() and (ids >= 5).any()  # OneHot: negative and out-of-range rows
    assert any(len(set(row)) < len(row) for row in runs[1]["i"])  # TopK / ArgMax ties
    out = tf_signature_outputs(array_ops_dir, "indexing", runs[1])
    assert out["one_hot"].dtype == np.float32 and (out["one_hot"].sum(1) == 0).any()
    assert out["topk_ties_i"].dtype == np.int32 and out["where_bool"].dtype == np.int64


def test_handlers_emit_the_expected_onnx_ops(array_ops_dir):
    model = import_savedmodel(array_ops_dir, signature="scan")
    ops = {n.op_type for n in model.graph}
    assert {"CumSum", "CumProd", "Einsum", "MatMul"} <= ops
    assert not any(n.domain == "tf" for n in model.graph)
    model = import_savedmodel(array_ops_dir, signature="indexing")
    ops = {n.op_type for n in model.graph}
    assert {"TopK", "GatherND", "ScatterND", "OneHot", "NonZero", "Trilu", "Range"} <= ops
    assert [n.attrs["reduction"] for n in model.graph if n.op_type == "ScatterND"]


def test_cumprod_needs_opset_26(array_ops_dir):
    with pytest.raises(UnsupportedOpError, match="Cumprod"):
        import_savedmodel(array_ops_dir, signature="scan", opset=25, unsupported="error")


# ---- refusals: a handler that cannot be exact says so (no TensorFlow graph needed) --------


def _call(op: str, inputs: list[ir.Value], attrs: dict, opset: int = 26) -> list[ir.Value]:
    ctx = ImportContext(ir.Builder(ir.Graph("g")), opset, lambda node, i: inputs[i],
                        lambda key: None)
    node = TfNode(f"n/{op}", op, tuple(f"in{i}" for i in range(len(inputs))), attrs, 1)
    return TF_IMPORT.lookup(op, opset).fn(ctx, node)


def _dynamic(dtype: ir.DType = ir.DType.INT32) -> ir.Value:
    return ir.Value("dyn", ir.TensorType(dtype, None))


def _const(array) -> ir.Value:
    return ir.Builder(ir.Graph("c")).const(np.asarray(array))


@pytest.mark.parametrize("op, inputs, attrs, reason", [
    ("MirrorPad", [_dynamic(ir.DType.FLOAT), _dynamic()], {"mode": attr_value_pb2.AttrValue(
        s=b"SYMMETRIC")}, "SYMMETRIC MirrorPad with non-constant paddings"),
    ("ReverseV2", [_dynamic(ir.DType.FLOAT), _dynamic()], {}, "the axes"),
    ("Split", [_dynamic(), _dynamic(ir.DType.FLOAT)], {"num_split": attr_value_pb2.AttrValue(
        i=2)}, "the axis"),
    ("SplitV", [_dynamic(ir.DType.FLOAT), _const([1, -1]), _dynamic()], {}, "the axis"),
    ("ArgMax", [_dynamic(ir.DType.FLOAT), _dynamic()], {}, "the axis"),
])  # fmt: skip
def test_refuses_what_it_cannot_do_exactly(op, inputs, attrs, reason):
    with pytest.raises(UnsupportedOpError, match=reason):
        _call(op, inputs, attrs)


def test_slice_with_dynamic_begin_and_size_minus_one_is_dynamic():
    (y,) = _call("Slice", [_dynamic(ir.DType.FLOAT), _dynamic(), _dynamic()], {})
    assert y.producer().op_type == "Slice"
