"""QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear and the loss ops, lifted and run in
TF, against onnx's reference evaluator: half-to-even rounding, saturation, per-axis and blocked
parameters, ignore_index and weights."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_lift_math import RNG, check  # noqa: E402

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tf


@pytest.mark.parametrize("to", [np.uint8, np.int8, np.int16, np.uint16])
def test_quantize_rounds_half_even_and_saturates(to):
    x = np.array([[0.5, 1.5, 2.5, -0.5], [-1.5, 1e6, -1e6, 3.49]], np.float32)
    zp = np.array(3, to)
    check("QuantizeLinear", {"x": x}, consts={"s": np.array(0.5, np.float32), "zp": zp})
    check("DequantizeLinear", {"q": np.array([[0, 7], [120, 3]], to)},
          consts={"s": np.array(0.25, np.float32), "zp": zp})


@pytest.mark.parametrize("axis", [1, -1, 0])
def test_per_axis_and_blocked(axis):
    x = RNG.standard_normal((4, 6)).astype(np.float32) * 10
    n = x.shape[axis]
    scale = RNG.uniform(0.1, 1, n).astype(np.float32)
    zp = RNG.integers(-5, 5, n).astype(np.int8)
    check("QuantizeLinear", {"x": x}, consts={"s": scale, "zp": zp}, attrs={"axis": axis})
    q = RNG.integers(-128, 127, (4, 6)).astype(np.int8)
    check("DequantizeLinear", {"q": q}, consts={"s": scale, "zp": zp}, attrs={"axis": axis})
    if axis == -1:  # blocks of 4 along the last axis (a remainder block of 2)
        bs = RNG.uniform(0.1, 1, (4, 2)).astype(np.float32)
        check("DequantizeLinear", {"q": q}, consts={"s": bs}, attrs={"axis": -1, "block_size": 4})
        check("QuantizeLinear", {"x": x}, consts={"s": bs}, attrs={"axis": -1, "block_size": 4})


def test_dynamic_quantize_and_float8():
    for x in (RNG.standard_normal((3, 4)), np.abs(RNG.standard_normal(5)), np.zeros(3)):
        check("DynamicQuantizeLinear", {"x": x.astype(np.float32)}, n_out=3)
    x = np.array([0.3, -1000.0, 500.0, np.inf], np.float32)  # float8e4m3fn saturates to +-448
    check("QuantizeLinear", {"x": x}, consts={"s": np.array(2, np.float32)}, attrs={"output_dtype": 17})


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
# (not -1 without weights: onnx's reference then averages over the ignored elements too, unlike
# its own other ignore_index values and the spec's weighted mean; the lifting treats all alike)
@pytest.mark.parametrize("ignore", [None, 1, -2])
@pytest.mark.parametrize("weighted", [False, True])
def test_losses(reduction, ignore, weighted):
    scores = RNG.standard_normal((3, 5, 2)).astype(np.float32)
    labels = np.array([[1, 0], [4, 1], [2, 3]], np.int64)
    if ignore == -2:
        labels[0, 1] = -2
    attrs = {"reduction": reduction, **({} if ignore is None else {"ignore_index": ignore})}
    consts = {"w": RNG.uniform(0.5, 2, 5).astype(np.float32)} if weighted else None
    check("NegativeLogLikelihoodLoss", {"x": scores, "t": labels}, consts=consts, attrs=attrs)
    check("SoftmaxCrossEntropyLoss", {"x": scores, "t": labels}, consts=consts, attrs=attrs, n_out=2)
