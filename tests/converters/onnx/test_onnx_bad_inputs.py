"""Bad ONNX input: each case raises ModelLoadError naming the file and the problem."""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnx_models
import pytest
from onnx import helper as h

from tensorbridge.converters.onnx import import_onnx
from tensorbridge.errors import ModelLoadError


def _load_fails(path, match):
    before = sorted(os.listdir(path.parent))
    with pytest.raises(ModelLoadError, match=match) as err:
        import_onnx(path)
    assert str(path) in str(err.value)
    assert sorted(os.listdir(path.parent)) == before  # nothing written
    return err.value


def test_truncated(tmp_path):
    data = onnx_models.weights_model(64).SerializeToString()
    (tmp_path / "t.onnx").write_bytes(data[: len(data) // 2])
    _load_fails(tmp_path / "t.onnx", "truncated or corrupt|not an ONNX")


def test_random_bytes(tmp_path):
    (tmp_path / "r.onnx").write_bytes(np.random.default_rng(1).bytes(4096))
    _load_fails(tmp_path / "r.onnx", "truncated or corrupt|not an ONNX")


def test_not_a_model(tmp_path):
    t = onnx.numpy_helper.from_array(np.ones(3, np.float32), "t")
    (tmp_path / "t.onnx").write_bytes(t.SerializeToString())
    _load_fails(tmp_path / "t.onnx", "truncated or corrupt|not an ONNX")


def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match="no such ONNX file"):
        import_onnx(tmp_path / "none.onnx")


def _save_graph(tmp_path, nodes, name="g.onnx"):
    f = onnx.TensorProto.FLOAT
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("X", f, [2])],
                         [h.make_tensor_value_info("Y", f, [2])])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 26)])
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def test_cycle(tmp_path):
    path = _save_graph(tmp_path, [h.make_node("Add", ["X", "b"], ["a"]),
                                  h.make_node("Relu", ["a"], ["b"]),
                                  h.make_node("Identity", ["a"], ["Y"])])
    _load_fails(path, "cycle")


def test_undefined_value(tmp_path):
    path = _save_graph(tmp_path, [h.make_node("Add", ["X", "ghost"], ["Y"])])
    _load_fails(path, "'ghost' is never defined")


def _external_model(tmp_path, location, length=None):
    model = onnx_models.weights_model(16)
    w = model.graph.initializer[0]
    (tmp_path / "w.bin").write_bytes(w.raw_data)
    w.ClearField("raw_data")
    w.data_location = onnx.TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)
    if length is not None:
        w.external_data.add(key="length", value=str(length))
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("location", ["../../etc/passwd", "/etc/passwd", "sub/../../x.bin"])
def test_external_location_escapes(tmp_path, location):
    _load_fails(_external_model(tmp_path, location), "escapes the model's folder")


def test_external_symlink_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.bin").write_bytes(b"\0" * 512)
    inner = tmp_path / "model"
    inner.mkdir()
    (inner / "link.bin").symlink_to(outside / "secret.bin")
    _load_fails(_external_model(inner, "link.bin"), "resolves outside")


def test_external_missing_file(tmp_path):
    _load_fails(_external_model(tmp_path, "nothere.bin"), "not found")


def test_external_length_mismatch(tmp_path):
    _load_fails(_external_model(tmp_path, "w.bin", length=12), "length 12 bytes")


def test_raw_data_size_mismatch(tmp_path):
    model = onnx_models.weights_model(16)
    model.graph.initializer[0].raw_data = model.graph.initializer[0].raw_data[:-4]
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    _load_fails(path, "raw_data has 508 bytes")


def test_typed_data_size_mismatch(tmp_path):
    model = onnx_models.weights_model(16)
    b = model.graph.initializer[1]
    vals = onnx.numpy_helper.to_array(b)
    b.ClearField("raw_data")
    b.float_data.extend(vals.tolist()[:-1])
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    _load_fails(path, "initializer 'B'")


def test_opset_too_new(tmp_path):
    path = tmp_path / "new.onnx"
    path.write_bytes(onnx_models.tiny_model(opset=40).SerializeToString())
    _load_fails(path, "opset 40 is newer")
