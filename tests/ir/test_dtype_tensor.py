"""DType covers every TF and ONNX element type; tensors can be lazy over a file region."""

import ml_dtypes
import numpy as np
import pytest

from tensorbridge import ir
from tensorbridge.ir import DType

ONNX_CODES = range(1, 29)  # every ONNX TensorProto.DataType through onnx 1.23
TF_CODES = [c for c in range(1, 34)]  # every non-ref TF DataType through TF 2.21


def test_every_onnx_code_maps_both_ways():
    for code in ONNX_CODES:
        assert DType.from_onnx(code).onnx_code == code


def test_every_tf_code_maps_both_ways_and_refs_map_to_base():
    for code in TF_CODES:
        assert DType.from_tf(code).tf_code == code
        assert DType.from_tf(code + 100) is DType.from_tf(code)


@pytest.mark.parametrize(
    "dt, np_dtype",
    [(DType.BFLOAT16, ml_dtypes.bfloat16), (DType.FLOAT8E4M3FN, ml_dtypes.float8_e4m3fn),
     (DType.INT4, ml_dtypes.int4), (DType.FLOAT16, np.float16), (DType.BOOL, np.bool_)],
)  # fmt: skip
def test_numpy_dtypes(dt, np_dtype):
    assert dt.numpy == np.dtype(np_dtype)
    assert DType.from_numpy(np_dtype) is dt


def test_bits_and_kinds():
    assert DType.INT4.bits == 4 and DType.INT4.is_subbyte and DType.INT4.is_integer
    assert DType.BFLOAT16.is_floating and not DType.INT8.is_floating
    assert DType.COMPLEX64.is_complex and DType.STRING.bits == 0


def test_unknown_codes_raise():
    with pytest.raises(ValueError, match="unknown ONNX element type code 99"):
        DType.from_onnx(99)


def test_string_tensor_holds_bytes():
    t = ir.ArrayTensor(np.array(["a", "bé"]))
    assert t.dtype is DType.STRING and t.numpy().tolist() == [b"a", "bé".encode()]


def test_external_tensor_reads_lazily(tmp_path):
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    f = tmp_path / "w.bin"
    f.write_bytes(b"\0" * 8 + data.tobytes() + b"tail")
    t = ir.ExternalTensor(f, 8, data.nbytes, DType.FLOAT, (3, 4), name="w")
    assert ir.is_lazy(t) and ir.nbytes(t) == 48
    np.testing.assert_array_equal(t.numpy(), data)
    assert bytes(t.raw_bytes()) == data.tobytes()


def test_external_tensor_checks_sizes(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"\0" * 16)
    with pytest.raises(ValueError, match="cannot hold float32"):
        ir.ExternalTensor(f, 0, 12, DType.FLOAT, (4,))
    past = ir.ExternalTensor(f, 8, 16, DType.FLOAT, (4,), name="w")
    with pytest.raises(ValueError, match="past the end"):
        past.numpy()


def test_lazy_tensor_checks_declared_shape():
    t = ir.LazyTensor(lambda: np.zeros((2, 2), np.float32), DType.FLOAT, (4,), name="z")
    with pytest.raises(ValueError, match="declared"):
        t.numpy()


def test_external_tensor_refuses_a_replaced_file(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    t = ir.ExternalTensor(f, 0, 16, DType.FLOAT, (4,), name="w")
    f.unlink()
    f.write_bytes(np.zeros(8, dtype=np.float32).tobytes())
    with pytest.raises(ValueError, match="changed since the model was loaded"):
        t.numpy()
