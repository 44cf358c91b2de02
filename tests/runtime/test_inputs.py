from __future__ import annotations

import logging
from types import SimpleNamespace

import ml_dtypes
import numpy as np
import pytest

from tensorbridge import ir
from tensorbridge.errors import UsageError
from tensorbridge.ir import DType
from tensorbridge.runtime import (
    DEFAULT_DIM,
    load_npz,
    make_inputs,
    parse_shape_overrides,
    specs_from_signature,
)

GENERATED = [d for d in DType if d not in (DType.RESOURCE, DType.VARIANT)]


@pytest.mark.parametrize("dtype", GENERATED, ids=str)
def test_every_dtype_is_deterministic_by_seed_and_shaped(dtype):
    specs = [("x", dtype, (4, 16))]
    a, b = make_inputs(specs, seed=7)["x"], make_inputs(specs, seed=7)["x"]
    c = make_inputs(specs, seed=8)["x"]
    assert a.shape == (4, 16)
    assert a.dtype == dtype.numpy
    assert a.tobytes() == b.tobytes() if dtype is not DType.STRING else list(a.flat) == list(b.flat)
    assert not np.array_equal(a, c), "a different seed must give different values"


@pytest.mark.parametrize("dtype", [d for d in GENERATED if d.is_integer], ids=str)
def test_integers_stay_in_a_small_safe_range(dtype):
    x = make_inputs([("i", dtype, (512,))], seed=1)["i"].astype(np.int64)
    info = (ml_dtypes.iinfo if dtype.is_subbyte else np.iinfo)(dtype.numpy)
    assert x.min() >= max(-8, int(info.min)) and x.max() <= min(15, int(info.max))
    if int(info.min) < 0:
        assert x.min() < 0, "signed inputs exercise negative values"


def test_floats_are_finite_and_strings_are_str():
    out = make_inputs([("f", DType.FLOAT8E5M2, (256,)), ("s", DType.STRING, (5,)),
                       ("e", DType.FLOAT8E8M0, (64,))])  # fmt: skip
    assert np.isfinite(out["f"].astype(np.float32)).all()
    assert np.abs(out["f"].astype(np.float32)).max() <= 2
    assert all(isinstance(v, str) for v in out["s"])
    assert (out["e"].astype(np.float32) > 0).all()


def test_inputs_are_independent_of_other_inputs():
    alone = make_inputs([("x", DType.FLOAT, (3,))], seed=0)["x"]
    both = make_inputs([("a", DType.INT32, (9,)), ("x", DType.FLOAT, (3,))], seed=0)["x"]
    np.testing.assert_array_equal(alone, both)


def test_dynamic_dims_defaults_and_log(caplog):
    with caplog.at_level(logging.INFO, logger="tensorbridge.runtime.inputs"):
        x = make_inputs([("x", DType.FLOAT, ("batch", None, 3, -1))])["x"]
    assert x.shape == (1, DEFAULT_DIM, 3, DEFAULT_DIM) == (1, 16, 3, 16)
    assert "dim 0 (batch) -> 1" in caplog.text and "--shape x=" in caplog.text


def test_shape_override_is_used_and_checked():
    specs = [("x", DType.FLOAT, (None, 224, 224, 3))]
    assert make_inputs(specs, shapes={"x": (2, 224, 224, 3)})["x"].shape == (2, 224, 224, 3)
    with pytest.raises(UsageError, match="dim 1 is fixed at 224"):
        make_inputs(specs, shapes={"x": (2, 100, 224, 3)})
    with pytest.raises(UsageError, match="rank 2 given, but the input has rank 4"):
        make_inputs(specs, shapes={"x": (2, 3)})
    with pytest.raises(UsageError, match="unknown input"):
        make_inputs(specs, shapes={"y": (1,)})


def test_unknown_rank_needs_an_override():
    with pytest.raises(UsageError, match="unknown rank"):
        make_inputs([("x", DType.FLOAT, None)])
    assert make_inputs([("x", DType.FLOAT, None)], shapes={"x": (2, 5)})["x"].shape == (2, 5)


def test_opaque_types_cannot_be_generated():
    with pytest.raises(UsageError, match="cannot generate"):
        make_inputs([("h", DType.RESOURCE, ())])


def test_parse_shape_overrides():
    got = parse_shape_overrides(["x=1,224,224,3", "serving_default_y:0=2", "s="])
    assert got == {"x": (1, 224, 224, 3), "serving_default_y:0": (2,), "s": ()}
    assert parse_shape_overrides(["a=b=3"]) == {"a=b": (3,)}


@pytest.mark.parametrize(
    ("items", "match"),
    [(["x"], "expected NAME=D0,D1"), (["=1,2"], "expected NAME=D0,D1"),
     (["x=1,a"], "comma-separated integers"), (["x=1,,2"], "comma-separated integers"),
     (["x=-1"], ">= 0"), (["x=1", "x=2"], "given twice")],
)  # fmt: skip
def test_parse_shape_overrides_errors(items, match):
    with pytest.raises(UsageError, match=match):
        parse_shape_overrides(items)


def test_parse_shape_overrides_unknown_name_lists_inputs():
    with pytest.raises(UsageError, match=r"no input named 'z' \(inputs: x, y\)"):
        parse_shape_overrides(["z=1"], known_names=["x", "y"])


def test_specs_from_signature():
    v = ir.Value("x", ir.TensorType(DType.INT64, ("n", 2)))
    sig = SimpleNamespace(inputs={"x": v})
    assert specs_from_signature(sig) == [("x", DType.INT64, ("n", 2))]
    assert make_inputs(specs_from_signature(sig))["x"].shape == (1, 2)


def test_load_npz_ok_with_strings_and_bfloat16(tmp_path):
    path = tmp_path / "in.npz"
    bf = np.array([1.5, -2.0], ml_dtypes.bfloat16)
    np.savez(path, x=np.ones(3, np.float32), s=np.array(["a", "bc"]), b=bf)
    want = {"x": DType.FLOAT, "s": DType.STRING, "b": DType.BFLOAT16}
    got = load_npz(path, ["x", "s", "b"], want)
    assert list(got) == ["x", "s", "b"]
    assert got["s"].dtype == object and list(got["s"]) == ["a", "bc"]
    assert got["b"].dtype == ml_dtypes.bfloat16 and np.array_equal(got["b"], bf)


def test_load_npz_missing_and_extra_names(tmp_path):
    path = tmp_path / "in.npz"
    np.savez(path, x=np.ones(3, np.float32), extra=np.ones(1))
    with pytest.raises(UsageError, match=r"missing \['y'\], unexpected \['extra'\]"):
        load_npz(path, ["x", "y"])


def test_load_npz_dtype_mismatch(tmp_path):
    path = tmp_path / "in.npz"
    np.savez(path, x=np.ones(3, np.float64))
    with pytest.raises(UsageError, match="'x' has dtype float64, the model wants float32"):
        load_npz(path, ["x"], {"x": DType.FLOAT})


def test_load_npz_unreadable(tmp_path):
    with pytest.raises(UsageError, match="cannot read inputs"):
        load_npz(tmp_path / "absent.npz", ["x"])
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(UsageError, match="cannot read inputs"):
        load_npz(bad, ["x"])
