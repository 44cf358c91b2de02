"""ONNX's node conformance suite: ONNX -> IR -> ONNX must reproduce the expected outputs for
every case ONNX Runtime runs as given, at the canonical opset and (where the ops exist) at 13.

Outcomes per case are recorded as user properties and summed in conftest's terminal summary:
  canonical: runnable / pass / not-runnable / ort-limit (ORT cannot run the op at opset 26 even
  for onnx's own upgrade of the case) / refused-old-opset (opset < 13 whose upgrade changes the
  model interface, refused with a clear ModelLoadError);
  opset13: pass / n-a / skip-<kind> with its reason, kind being
    lowering (our rewrites in _lower.py refuse: no exact form of the feature at 13),
    converter (no rewrite, and the onnx version converter cannot lower it),
    checker (the lowered model is invalid, e.g. a changed output-size rule).
  A lowered model that runs but gives other numbers fails the test.
"""

from __future__ import annotations

import warnings

import onnx
import onnx_ort_helpers as _ort
import pytest
from onnx.backend.test.case.node import collect_testcases

from tensorbridge import ir
from tensorbridge.converters.onnx import _load, import_onnx, to_model_proto
from tensorbridge.errors import ConversionError, ModelLoadError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    CASES = {c.name: c for c in collect_testcases()}


def _check(model, case) -> str | None:
    for inputs, outputs in case.data_sets:
        why = _ort.match_all(outputs, _ort.run(model, inputs), case.rtol, case.atol)
        if why:
            return why
    return None


def _runnable(case) -> bool:
    try:
        return _check(case.model, case) is None
    except Exception:  # noqa: BLE001 - any ORT failure means "not runnable"
        return False


def _ort_limit(case) -> bool:
    """ORT cannot run onnx's own upgrade of the case to the canonical opset."""
    try:
        upgraded = _load.normalize_opset(case.model, None)
        upgraded.ir_version = min(upgraded.ir_version, 13)
        return _check(upgraded, case) is not None
    except Exception:  # noqa: BLE001
        return True


def _opset13_applicable(case) -> bool:
    def ops(g):
        for n in g.node:
            yield n.op_type
            for a in n.attribute:
                for sub in [a.g] if a.HasField("g") else a.graphs:
                    yield from ops(sub)
    try:
        for op in set(ops(case.model.graph)):
            onnx.defs.get_schema(op, 13)
    except onnx.defs.SchemaError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(CASES))
def test_case(name, record_property):
    case = CASES[name]
    if not _runnable(case):
        record_property("conformance", ("not-runnable",))
        return
    record_property("conformance", ("runnable",))
    try:
        model = import_onnx(case.model)
    except ModelLoadError as e:
        version = _load.default_opset(case.model.opset_import)
        assert version is not None and version < _load.MIN_OPSET, str(e)
        assert "changes the model's inputs or outputs" in str(e)
        record_property("conformance-canonical", ("refused-old-opset", f"{name}: {e}"))
        return
    source = to_model_proto(model)  # no --opset: the file keeps its own opset where ORT runs it
    assert _check(source, case) is None, f"at the source opset: {_check(source, case)}"
    proto = to_model_proto(model, opset=ir.CANONICAL_OPSET)
    assert proto.opset_import[0].version == ir.CANONICAL_OPSET
    why = _check(proto, case) if not _ort_limit(case) else "ort-limit"
    if why == "ort-limit":
        record_property("conformance-canonical", ("ort-limit", name))
    else:
        assert why is None, why
        record_property("conformance-canonical", ("pass",))
    if not _opset13_applicable(case):
        record_property("conformance-opset13", ("n-a",))
        return
    try:
        low = to_model_proto(model, opset=13)
    except ConversionError as e:
        reason = " ".join(str(e).split())
        kind = ("lowering" if reason.startswith("cannot lower ") else
                "checker" if "gave an invalid model" in reason else "converter")
        record_property("conformance-opset13", (f"skip-{kind}", f"{name}: {reason[:240]}"))
        return
    assert _check(low, case) is None, f"opset 13: {_check(low, case)}"
    record_property("conformance-opset13", ("pass",))
