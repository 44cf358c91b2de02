from __future__ import annotations

import importlib

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto
from runtime_helpers import CPU, CUDA, add_const_model, identity_model

from tensorbridge.errors import RuntimeSessionError
from tensorbridge.ir import DType
from tensorbridge.runtime import IOInfo, Session, make_inputs, providers


def _cuda_loads() -> bool:
    return providers._cached_probe().loads


def test_session_from_model_proto_runs_and_reports_metadata():
    sess = Session(add_const_model(8), device="cpu")
    assert sess.providers == [CPU] and sess.provider == CPU
    assert sess.inputs == [IOInfo("x", DType.FLOAT, ("batch", 8))]
    assert sess.outputs == [IOInfo("y", DType.FLOAT, ("batch", 8))]
    x = np.ones((2, 8), np.float32)
    out = sess.run({"x": x})
    assert list(out) == ["y"]
    np.testing.assert_array_equal(out["y"], x + np.arange(8, dtype=np.float32))


def test_session_from_path(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save_model(add_const_model(4), str(path))
    sess = Session(path, device="auto")
    assert sess.label == str(path)
    y = sess.run({"x": np.zeros((1, 4), np.float32)})["y"]
    np.testing.assert_array_equal(y, [[0, 1, 2, 3]])


def test_session_from_path_with_external_data(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save_model(add_const_model(256), str(path), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="m.data", size_threshold=0)  # fmt: skip
    assert (tmp_path / "m.data").stat().st_size == 256 * 4
    sess = Session(str(path), device="cpu")
    y = sess.run({"x": np.zeros((3, 256), np.float32)})["y"]
    np.testing.assert_array_equal(y[2], np.arange(256, dtype=np.float32))


def test_external_data_missing_is_a_session_error_naming_the_file(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save_model(add_const_model(256), str(path), save_as_external_data=True,
                    location="m.data", size_threshold=0)  # fmt: skip
    (tmp_path / "m.data").unlink()
    with pytest.raises(RuntimeSessionError, match=str(path)) as info:
        Session(path, device="cpu")
    assert "\n" not in str(info.value)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(RuntimeSessionError, match="no such ONNX file"):
        Session(tmp_path / "absent.onnx", device="cpu")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(RuntimeSessionError, match="cannot create an ONNX Runtime session") as info:
        Session(bad, device="cpu")
    assert str(bad) in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_code == 5


def test_run_failure_is_wrapped_on_one_line():
    sess = Session(add_const_model(4), device="cpu")
    with pytest.raises(RuntimeSessionError, match=r"<ModelProto addw>: run failed") as info:
        sess.run({"x": np.zeros((1, 4), np.int64)})
    assert "\n" not in str(info.value)
    assert isinstance(info.value.__cause__, Exception)


def test_run_checks_feed_names():
    sess = Session(add_const_model(4), device="cpu")
    with pytest.raises(RuntimeSessionError, match=r"missing \['x'\], unexpected \['z'\]"):
        sess.run({"z": np.zeros((1, 4), np.float32)})


@pytest.mark.parametrize(
    ("elem", "dtype"),
    [(TensorProto.FLOAT16, np.float16), (TensorProto.BFLOAT16, ml_dtypes.bfloat16),
     (TensorProto.FLOAT8E4M3FN, ml_dtypes.float8_e4m3fn), (TensorProto.STRING, object),
     (TensorProto.BOOL, np.bool_), (TensorProto.INT64, np.int64)],
)  # fmt: skip
def test_identity_round_trips_every_kind_of_dtype(elem, dtype):
    sess = Session(identity_model(elem), device="cpu")
    feeds = make_inputs(sess.inputs, seed=3, shapes={"x": (2, 3)})
    y = sess.run(feeds)["y"]
    assert y.dtype == np.dtype(dtype) and y.shape == (2, 3)
    np.testing.assert_array_equal(y, feeds["x"])


def test_device_cuda_without_working_cuda_raises():
    if _cuda_loads():
        pytest.skip("CUDA really works here")
    with pytest.raises(RuntimeSessionError, match="--device cuda"):
        Session(identity_model(), device="cuda")


def test_requested_cuda_that_falls_back_is_refused():
    if _cuda_loads() or CUDA not in providers.import_ort().get_available_providers():
        pytest.skip("needs a CUDA provider that is listed but does not load")
    with pytest.raises(RuntimeSessionError, match="fell back|runs on CPUExecutionProvider"):
        Session(identity_model(), providers=[CUDA, CPU])


def test_not_a_model_is_a_type_error():
    with pytest.raises(TypeError, match="ir.Model, onnx.ModelProto or path"):
        Session(42, device="cpu")


def _converter():
    try:
        mod = importlib.import_module("tensorbridge.converters.onnx")
    except ImportError:
        return None
    if not (hasattr(mod, "import_onnx") and hasattr(mod, "to_model_proto")):
        return None
    return mod


def test_session_from_ir_model():
    conv = _converter()
    if conv is None:
        pytest.skip("tensorbridge.converters.onnx (import_onnx/to_model_proto) has not landed")
    model = conv.import_onnx(add_const_model(4))
    sess = Session(model, device="cpu")
    assert sess.label.startswith("<IR model")
    assert [i.name for i in sess.inputs] == ["x"]
    y = sess.run({"x": np.ones((2, 4), np.float32)})["y"]
    np.testing.assert_array_equal(y[1], np.arange(4, dtype=np.float32) + 1)


def test_ir_model_end_to_end_through_its_signature():
    conv = _converter()
    if conv is None:
        pytest.skip("tensorbridge.converters.onnx (import_onnx/to_model_proto) has not landed")
    from tensorbridge.runtime import compare_outputs, specs_from_signature

    proto = add_const_model(8)
    model = conv.import_onnx(proto)
    specs = specs_from_signature(model.meta_graph().signature())
    assert [(n, d) for n, d, _ in specs] == [("x", DType.FLOAT)]
    feeds = make_inputs(specs, seed=5, shapes={"x": (3, 8)})
    report = compare_outputs(Session(proto, "cpu").run(feeds), Session(model, "cpu").run(feeds))
    assert report.ok, report.table()


def test_proto_over_the_protobuf_limit_goes_through_a_file(monkeypatch):
    from tensorbridge.runtime import session as session_mod

    monkeypatch.setattr(session_mod, "_PROTO_LIMIT", 100)  # stand-in for 2 GiB
    sess = Session(add_const_model(256), device="cpu")
    assert sess._tmpdir is not None
    y = sess.run({"x": np.zeros((1, 256), np.float32)})["y"]
    np.testing.assert_array_equal(y[0], np.arange(256, dtype=np.float32))


def test_a_file_with_a_newer_ir_version_runs_with_it_lowered_in_memory(tmp_path, caplog):
    from onnx import helper

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path = tmp_path / "ir14.onnx"
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=14)
    onnx.save(model, str(path))
    before = path.read_bytes()
    import numpy as np

    with caplog.at_level("WARNING"):
        out = Session(path, device="cpu").run({"x": np.array([-1, 2], np.float32)})
    assert out["y"].tolist() == [0, 2]
    assert "IR version 14" in caplog.text and path.read_bytes() == before
