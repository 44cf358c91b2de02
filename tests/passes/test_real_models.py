"""The default pass pipeline on files written by real exporters (issue 3, "Must show").

Three files, generated once per session by bench/real_models.py (the benchmark uses the same
module): a PyTorch TransformerEncoder export with dynamic batch and sequence axes (shape
arithmetic), a PyTorch Conv-BatchNorm-ReLU CNN, and a scikit-learn StandardScaler + PCA +
LogisticRegression pipeline converted by skl2onnx. For each: the default pipeline runs with the
IR verified after every pass, the result is written and run on ONNX Runtime (CPU) next to the
original file, on seeded inputs at several batch (and sequence) sizes.

Tolerances (max |optimized - original| <= ATOL + RTOL * |original|), per file:
- transformer: 1e-5 / 1e-5. fold-constants computes the attention scale 1/sqrt(sqrt(8)) once
  in place of ORT doing it per run, and ORT's fusions differ between the two graphs: float32
  rounding, measured max abs error 7e-7 on outputs of magnitude ~1-3.
- cnn: 1e-5 / 1e-5. BatchNorm is folded into the Conv weights in float64 and rounded to float32
  once; measured max abs error 5e-8.
- sklearn: exact (the pipeline leaves this file's five nodes alone; labels are int64 anyway).

Node counts are recorded (``record_property`` and the -rA/-s output) and guarded by the counts
measured when this test was written: a later change that leaves more nodes fails here. The
comparison with onnxsim/onnxslim lives in bench/optimize_bench.py (not a test dependency).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tensorbridge import api, ir
from tensorbridge.converters.onnx import export_onnx, import_onnx
from tensorbridge.passes import PassContext, default_pipeline, op_counts

pytest.importorskip("torch")
pytest.importorskip("skl2onnx")
pytest.importorskip("sklearn")


def _load_real_models():
    path = Path(__file__).resolve().parents[2] / "bench" / "real_models.py"
    spec = importlib.util.spec_from_file_location("tb_bench_real_models", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


real_models = _load_real_models()

NAMES = ("transformer", "cnn", "sklearn")
TOLERANCE = {"transformer": (1e-5, 1e-5), "cnn": (1e-5, 1e-5), "sklearn": (0.0, 0.0)}  # atol, rtol
# nodes after the default pipeline when this test was written (onnxsim 0.8.1 / onnxslim 0.1.98
# leave 133 / 118, 11 / 11, 5 / 5): more is a regression
MAX_NODES_AFTER = {"transformer": 112, "cnn": 11, "sklearn": 5}
SEEDS = (0, 1)


@pytest.fixture(scope="session")
def real_files(tmp_path_factory) -> dict[str, Path]:
    return real_models.build_all(tmp_path_factory.mktemp("real_models"))


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _assert_same_outputs(name: str, original: Path, optimized: Path) -> int:
    a, b = _session(original), _session(optimized)
    assert [o.name for o in b.get_outputs()] == [o.name for o in a.get_outputs()]
    atol, rtol = TOLERANCE[name]
    spec = real_models.MODELS[name]
    runs = 0
    for batch, seq in spec.sizes:
        for seed in SEEDS:
            feeds = spec.make_input(batch, seq, seed)
            for want, got in zip(a.run(None, feeds), b.run(None, feeds), strict=True):
                assert got.shape == want.shape and got.dtype == want.dtype
                np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                           err_msg=f"{name} batch={batch} seq={seq} seed={seed}")
            runs += 1
    return runs


@pytest.mark.parametrize("name", NAMES)
def test_default_pipeline_keeps_outputs(name, real_files, tmp_path, record_property):
    model = import_onnx(real_files[name])
    before = sum(op_counts(model).values())
    result = default_pipeline()(model, PassContext(verify_each=True))
    ir.verify(result.model)
    after_ops = op_counts(result.model)
    after = sum(after_ops.values())
    out = export_onnx(result.model, tmp_path / f"{name}.onnx", opset=real_models.OPSET)
    runs = _assert_same_outputs(name, real_files[name], out)
    record_property("nodes_before", before)
    record_property("nodes_after", after)
    print(f"{name}: {before} -> {after} nodes, {runs} input sets equal; {dict(sorted(after_ops.items()))}")
    assert after <= MAX_NODES_AFTER[name], dict(sorted(after_ops.items()))


def test_transformer_shape_arithmetic_is_folded(real_files, tmp_path):
    """The per-layer attention scale (Shape -> Slice -> Cast -> Sqrt -> Div -> Sqrt) and the
    head-dim arithmetic (Shape -> Gather -> Div) are constants after the pipeline, and the
    zero in-projection bias Add is gone; the dynamic batch/seq arithmetic stays."""
    result = default_pipeline()(import_onnx(real_files["transformer"]), PassContext())
    ops = op_counts(result.model)
    assert ops["Sqrt"] == 0 and ops["Cast"] == 0 and ops["Div"] == 0, ops
    assert ops["Shape"] > 0  # batch and sequence length are still read at run time
    assert ops["Add"] == 8  # 2 layers x (residual x2, linear1 bias, linear2 bias)


def test_cnn_batchnorm_is_folded(real_files):
    ops = op_counts(default_pipeline()(import_onnx(real_files["cnn"]), PassContext()).model)
    assert ops["BatchNormalization"] == 0 and ops["Conv"] == 3, ops


@pytest.mark.parametrize("name", ("transformer", "cnn"))
def test_api_optimize(name, real_files, tmp_path):
    report = api.optimize(real_files[name], tmp_path / f"{name}.onnx")
    assert report.nodes_after <= MAX_NODES_AFTER[name]
    _assert_same_outputs(name, real_files[name], tmp_path / f"{name}.onnx")


def test_api_optimize_sklearn_at_its_own_opset(real_files, tmp_path):
    """skl2onnx writes opset 13; the file is saved back at 13. Its Sub (14 at the canonical
    opset) reads the untyped output of an ai.onnx.ml Scaler, typed by unification with its
    float second input, so it is relabelled (onnx's converter has no Sub 14->13 adapter)."""
    import onnx

    api.optimize(real_files["sklearn"], tmp_path / "sklearn.onnx")
    opsets = {o.domain: o.version for o in onnx.load(str(tmp_path / "sklearn.onnx")).opset_import}
    assert opsets[""] == 13
    _assert_same_outputs("sklearn", real_files["sklearn"], tmp_path / "sklearn.onnx")
