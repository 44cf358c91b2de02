from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest

from tensorbridge.errors import NumericMismatchError
from tensorbridge.ir import DType
from tensorbridge.runtime import SCHEMA_VERSION, compare_outputs, default_tolerance

ROW_KEYS = [
    "name", "actual_name", "expected_shape", "actual_shape", "expected_dtype", "actual_dtype",
    "max_abs_error", "max_rel_error", "mismatches", "total", "atol", "rtol", "passed", "reason",
]  # fmt: skip


def row(report, name):
    return next(r for r in report.rows if r.name == name)


def test_exact_match_of_every_kind():
    outs = {
        "f": np.linspace(-1, 1, 10, dtype=np.float32),
        "i": np.arange(6, dtype=np.int64).reshape(2, 3),
        "b": np.array([True, False]),
        "s": np.array(["a", "b"], dtype=object),
        "c": np.array([1 + 2j], np.complex64),
        "h": np.array([1.5, 2.0], ml_dtypes.bfloat16),
    }
    report = compare_outputs(outs, {k: v.copy() for k, v in outs.items()})
    assert report.ok, report.table()
    assert all(r.mismatches == 0 and r.max_abs_error in (None, 0.0) for r in report.rows)
    assert row(report, "i").total == 6


def test_small_float_error_within_default_tolerance():
    e = np.array([1.0, 2.0, -3.0], np.float32)
    report = compare_outputs({"y": e}, {"y": e + np.float32(5e-6)})
    assert report.ok
    assert 0 < row(report, "y").max_abs_error < 1e-5
    assert (row(report, "y").atol, row(report, "y").rtol) == (1e-5, 1e-4)


def test_error_beyond_tolerance_has_exact_statistics():
    e = np.array([1.0, 2.0, 4.0, 0.0, 10.0], np.float64)
    a = np.array([1.0, 2.5, 4.0, 0.1, 10.0], np.float64)
    report = compare_outputs({"y": e}, {"y": a})
    r = row(report, "y")
    assert not report.ok and not r.passed
    assert r.max_abs_error == pytest.approx(0.5)
    assert r.max_rel_error == pytest.approx(0.25)  # 0.5 / 2.0; the 0.0 expected is excluded
    assert r.mismatches == 2 and r.total == 5
    assert "2 element(s) beyond" in r.reason
    with pytest.raises(NumericMismatchError) as info:
        report.raise_if_failed()
    assert info.value.exit_code == 4 and info.value.report is report


def test_overrides_widen_tolerance():
    e = np.array([1.0, 2.0], np.float32)
    a = e + np.float32(0.01)
    assert not compare_outputs({"y": e}, {"y": a}).ok
    assert compare_outputs({"y": e}, {"y": a}, atol=0.02).ok
    assert compare_outputs({"y": e}, {"y": a}, atol=0, rtol=0.01).ok
    assert not compare_outputs({"y": e}, {"y": a}, atol=0, rtol=0.001).ok


def test_integers_are_exact_by_default_even_past_2_53():
    big = np.array([2**62, 5], np.int64)
    report = compare_outputs({"y": big}, {"y": big + np.array([1, 0])})
    assert not report.ok and row(report, "y").mismatches == 1
    q = np.array([10, 20], np.uint8)
    assert compare_outputs({"q": q}, {"q": q + np.uint8(1)}, atol=1).ok


def test_bool_and_string_are_always_exact():
    report = compare_outputs(
        {"b": np.array([True, True]), "s": np.array([b"x", b"y"], dtype=object)},
        {"b": np.array([True, False]), "s": np.array(["x", "z"], dtype=object)},
        atol=10, rtol=10,
    )
    assert row(report, "b").mismatches == 1 and not row(report, "b").passed
    assert row(report, "s").mismatches == 1  # bytes b"x" equals str "x"


def test_nan_and_inf_placement():
    e = np.array([np.nan, np.inf, -np.inf, 1.0], np.float32)
    assert compare_outputs({"y": e}, {"y": e.copy()}).ok
    flipped = np.array([np.nan, -np.inf, -np.inf, 1.0], np.float32)
    r = row(compare_outputs({"y": e}, {"y": flipped}), "y")
    assert not r.passed and r.mismatches == 1 and "NaN/inf placement" in r.reason
    moved = np.array([0.0, np.inf, -np.inf, np.nan], np.float32)
    r = row(compare_outputs({"y": e}, {"y": moved}), "y")
    assert r.mismatches == 2 and r.max_abs_error == 0.0
    r = row(compare_outputs({"y": np.array([1.0, 2.0])}, {"y": np.array([1.0, np.inf])}), "y")
    assert r.mismatches == 1 and not r.passed


def test_shape_and_dtype_mismatch():
    report = compare_outputs(
        {"a": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float32)},
        {"a": np.zeros((3, 2), np.float32), "b": np.zeros(3, np.float64)},
    )
    a, b = row(report, "a"), row(report, "b")
    assert not a.passed and a.reason == "shape mismatch: expected [2, 3], got [3, 2]"
    assert a.max_abs_error is None
    assert not b.passed and b.reason == "dtype mismatch: expected float32, got float64"
    assert b.max_abs_error == 0.0


def test_missing_and_unexpected_outputs():
    report = compare_outputs(
        {"a": np.zeros(1), "b": np.zeros(1)}, {"a": np.zeros(1), "c": np.zeros(2)}
    )
    assert [r.name for r in report.rows] == ["a", "b", "c"]
    assert row(report, "a").passed
    assert not row(report, "b").passed and row(report, "b").reason.startswith("missing in actual")
    assert not row(report, "c").passed and row(report, "c").reason.startswith("missing in expected")
    assert not report.ok and "2 of 3 failed (b, c)" in report.summary()


def test_colon_zero_names_match():
    report = compare_outputs(
        {"y:0": np.ones(2), "z": np.ones(1)}, {"y": np.ones(2), "z:0": np.ones(1)}
    )
    assert report.ok and len(report.rows) == 2
    assert (row(report, "y:0").actual_name, row(report, "z").actual_name) == ("y", "z:0")
    report = compare_outputs({"y:1": np.ones(2)}, {"y": np.ones(2)})
    assert not report.ok, "only :0 is the same tensor"


def test_default_tolerances_by_dtype():
    assert default_tolerance(DType.DOUBLE) < default_tolerance(DType.FLOAT)
    assert default_tolerance(DType.FLOAT) < default_tolerance(DType.FLOAT16)
    assert default_tolerance(DType.FLOAT16) < default_tolerance(DType.BFLOAT16)
    assert default_tolerance(DType.BFLOAT16) < default_tolerance(DType.FLOAT8E4M3FN)
    for exact in (DType.INT32, DType.UINT8, DType.BOOL, DType.STRING):
        assert default_tolerance(exact) == (0.0, 0.0)


def test_float16_and_bfloat16_defaults_accept_rounding():
    e = np.array([0.1, 1.0, 100.0], np.float32)
    assert compare_outputs({"h": e.astype(np.float16)}, {"h": (e * 1.004).astype(np.float16)}).ok
    bf = ml_dtypes.bfloat16
    assert compare_outputs({"b": e.astype(bf)}, {"b": (e * 1.02).astype(bf)}).ok
    assert not compare_outputs({"b": e.astype(bf)}, {"b": (e * 1.2).astype(bf)}).ok


def test_to_dict_schema_is_stable_and_json():
    e = np.array([1.0, np.nan], np.float32)
    report = compare_outputs({"y": e, "m": np.zeros(1)}, {"y": np.array([1.0, np.inf], np.float32)})
    d = report.to_dict()
    assert list(d) == ["schema_version", "ok", "atol_override", "rtol_override", "outputs"]
    assert d["schema_version"] == SCHEMA_VERSION == 1
    assert all(list(o) == ROW_KEYS for o in d["outputs"])
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["outputs"][0]["name"] == "y"


def test_json_has_no_infinities():
    report = compare_outputs({"y": np.array([1e308])}, {"y": np.array([-1e308])})
    json.dumps(report.to_dict(), allow_nan=False)


def test_table_is_aligned_text():
    report = compare_outputs(
        {"logits": np.zeros((1, 10), np.float32), "y": np.ones(3)},
        {"logits": np.full((1, 10), 0.5, np.float32), "y": np.ones(3)},
    )
    lines = report.table().splitlines()
    assert lines[0].split()[:3] == ["output", "status", "shape"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split()[:4] == ["logits", "FAIL", "[1,10]", "float32"]
    assert lines[3].split()[:2] == ["y", "ok"]
    assert lines[2].index("FAIL") == lines[0].index("status") == lines[3].index("ok")


def test_one_leftover_output_each_is_paired_when_shape_and_dtype_agree():
    """A signature key against a graph tensor name: the single leftovers pair up."""
    want = {"output_0": np.ones((2, 3), np.float32), "aux": np.zeros(1)}
    got = {"dense_1/Softmax:0": np.ones((2, 3), np.float32), "aux": np.zeros(1)}
    report = compare_outputs(want, got)
    assert report.ok and row(report, "output_0").actual_name == "dense_1/Softmax:0"
    assert "output_0 (dense_1/Softmax:0)" in report.table()
    other = compare_outputs(want, {"z": np.ones((3, 2), np.float32), "aux": np.zeros(1)})
    assert [r.name for r in other.rows] == ["output_0", "aux", "z"] and not other.ok
