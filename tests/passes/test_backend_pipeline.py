"""ONNX's node conformance suite after the default pipeline: every case that ONNX Runtime runs
as given, and that the converter round-trips at the canonical opset, must still reproduce the
expected outputs after freeze + simplify + cse + prune (verify_each on), with the same graph
inputs and outputs."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
from onnx.backend.test.case.node import collect_testcases

from tensorbridge.converters.onnx import import_onnx, to_model_proto
from tensorbridge.errors import ModelLoadError
from tensorbridge.passes import PassContext, default_pipeline

sys.path.insert(0, str(Path(__file__).parents[1] / "converters" / "onnx"))
import onnx_ort_helpers as _ort  # noqa: E402

pytestmark = pytest.mark.slow

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    CASES = {c.name: c for c in collect_testcases()}


def _check(model, case) -> str | None:
    for inputs, outputs in case.data_sets:
        why = _ort.match_all(outputs, _ort.run(model, inputs), case.rtol, case.atol)
        if why:
            return why
    return None


def _baseline(case):
    """The converter's own round trip, or None when the case is out of scope for passes."""
    try:
        if _check(case.model, case) is not None:
            return None
        proto = to_model_proto(import_onnx(case.model))
        return proto if _check(proto, case) is None else None
    except (ModelLoadError, Exception):  # noqa: BLE001 - not runnable / out of scope
        return None


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_after_default_pipeline(name):
    case = CASES[name]
    base = _baseline(case)
    if base is None:
        pytest.skip("not runnable as given or not round-tripped by the converter")
    model = import_onnx(case.model)
    default_pipeline()(model, PassContext(verify_each=True))
    proto = to_model_proto(model)
    assert [i.name for i in proto.graph.input] == [i.name for i in base.graph.input]
    assert [o.name for o in proto.graph.output] == [o.name for o in base.graph.output]
    why = _check(proto, case)
    assert why is None, why
