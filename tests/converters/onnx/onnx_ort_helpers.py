"""Helpers to run ONNX models on ONNX Runtime (CPU) and compare outputs."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort


def session(model: onnx.ModelProto | bytes | str) -> ort.InferenceSession:
    if isinstance(model, onnx.ModelProto):
        model = model.SerializeToString()
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def run(model, inputs: list) -> list:
    sess = session(model)
    names = [i.name for i in sess.get_inputs()]
    feed = dict(zip(names, inputs))
    return sess.run(None, feed)


def _text(x) -> str:
    """A string element as text: TF gives bytes where ONNX's expected values hold str."""
    return x.decode("utf-8", "surrogateescape") if isinstance(x, bytes) else str(x)


def match(expected, actual, rtol: float = 1e-3, atol: float = 1e-7) -> str | None:
    """None when ``actual`` matches ``expected`` within tolerances, else a reason."""
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(actual) != len(expected):
            return f"sequence length {len(expected)} vs {getattr(actual, '__len__', None)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            why = match(e, a, rtol, atol)
            if why:
                return f"[{i}] {why}"
        return None
    if expected is None or actual is None:
        return None if expected is None and actual is None else "optional presence differs"
    e, a = np.asarray(expected), np.asarray(actual)
    if e.shape != a.shape:
        return f"shape {e.shape} vs {a.shape}"
    if e.dtype == object or e.dtype.kind in "USb" and e.dtype != bool:
        ok = [_text(x) == _text(y) for x, y in zip(e.reshape(-1), a.reshape(-1))]
        return None if all(ok) else "strings differ"
    if e.dtype.kind not in "fc" or a.dtype.kind not in "fc":
        try:
            e, a = e.astype(np.float64), a.astype(np.float64)
        except (TypeError, ValueError):
            return None if np.array_equal(e, a) else "values differ"
    try:
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    except AssertionError as err:
        return str(err).strip().splitlines()[-1][:200]
    return None


def match_all(expected: list, actual: list, rtol: float, atol: float) -> str | None:
    if len(expected) != len(actual):
        return f"{len(expected)} outputs expected, got {len(actual)}"
    for i, (e, a) in enumerate(zip(expected, actual)):
        why = match(e, a, rtol, atol)
        if why:
            return f"output {i}: {why}"
    return None
