"""Lifting ai.onnx.ml, string, Unique and TfIdfVectorizer ops to TF.

scikit-learn models exported by skl2onnx are converted by ``tensorbridge.convert`` to a
SavedModel, loaded with ``tf.saved_model.load`` and compared with ONNX Runtime on the source
file. Single-op models check what ONNX's conformance cases leave out (dynamic shapes, other
attribute combinations), against ONNX Runtime or a Python reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_harness import run_onnx_in_tf  # noqa: E402

import tensorbridge as tb  # noqa: E402
from tensorbridge.converters.onnx import import_onnx  # noqa: E402
from tensorbridge.converters.savedmodel.lift import lift_model  # noqa: E402
from tensorbridge.errors import UnsupportedOpError  # noqa: E402

pytestmark = pytest.mark.tf
tf = pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")

STR, I64, F32 = TensorProto.STRING, TensorProto.INT64, TensorProto.FLOAT


# ---- scikit-learn pipelines through the API ---------------------------------------------------
def _data(seed: int = 0, n: int = 120, features: int = 6, classes: int = 3):
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=n, n_features=features, n_informative=4, n_redundant=0,
                               n_classes=classes, random_state=seed)
    return x.astype(np.float32), y


def _export(model, features: int, path: Path) -> Path:
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    opts = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    proto = skl2onnx.convert_sklearn(model, initial_types=[("input", FloatTensorType([None, features]))],
                                     options=opts, target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(proto.SerializeToString())
    return path


def _check_api(onnx_path: Path, out: Path, x: np.ndarray, atol: float = 1e-5) -> None:
    tb.convert(onnx_path, out)
    fn = tf.saved_model.load(str(out)).signatures["serving_default"]
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    for batch in (x[:1], x):
        want = dict(zip(names, sess.run(None, {"input": batch})))
        got = {k: v.numpy() for k, v in fn(input=tf.constant(batch)).items()}
        assert set(got) == set(want)
        for k, w in want.items():
            assert got[k].shape == w.shape and got[k].dtype == w.dtype, k
            np.testing.assert_allclose(got[k], w, atol=atol, rtol=1e-5, err_msg=k)


def _sk(name: str):
    pytest.importorskip("sklearn")
    import sklearn.ensemble
    import sklearn.linear_model
    import sklearn.pipeline
    import sklearn.preprocessing
    import sklearn.tree

    mods = (sklearn.ensemble, sklearn.linear_model, sklearn.pipeline, sklearn.preprocessing, sklearn.tree)
    return next(getattr(m, name) for m in mods if hasattr(m, name))


@pytest.mark.parametrize("classes", [2, 3])
def test_sklearn_scaler_logistic_regression(classes, tmp_path):
    x, y = _data(classes=classes)
    pipe = _sk("make_pipeline")(_sk("StandardScaler")(), _sk("LogisticRegression")(max_iter=500)).fit(x, y)
    _check_api(_export(pipe, x.shape[1], tmp_path / "lr.onnx"), tmp_path / "sm", x)


@pytest.mark.parametrize("classes", [2, 3])
def test_sklearn_random_forest_classifier(classes, tmp_path):
    x, y = _data(classes=classes, seed=1)
    model = _sk("RandomForestClassifier")(n_estimators=7, max_depth=5, random_state=0).fit(x, y)
    _check_api(_export(model, x.shape[1], tmp_path / "rf.onnx"), tmp_path / "sm", x)


def test_sklearn_decision_tree_regressor(tmp_path):
    x, _ = _data(seed=2)
    target = x @ np.arange(1, x.shape[1] + 1, dtype=np.float32)
    model = _sk("DecisionTreeRegressor")(max_depth=6, random_state=0).fit(x, target)
    _check_api(_export(model, x.shape[1], tmp_path / "dt.onnx"), tmp_path / "sm", x, atol=1e-4)


def test_sklearn_normalizer_linear_regression(tmp_path):
    x, _ = _data(seed=3)
    target = np.stack([x.sum(1), x[:, 0] - x[:, 1]], 1)
    pipe = _sk("make_pipeline")(_sk("Normalizer")(), _sk("LinearRegression")()).fit(x, target)
    _check_api(_export(pipe, x.shape[1], tmp_path / "lin.onnx"), tmp_path / "sm", x, atol=1e-4)


# ---- single ops ------------------------------------------------------------------------------
def _model(op, inputs, outputs, domain="", **attrs):
    """``inputs``/``outputs``: [(name, elem type, shape)]."""
    node = helper.make_node(op, [n for n, _, _ in inputs], [n for n, _, _ in outputs], domain=domain, **attrs)
    g = helper.make_graph([node], op, [helper.make_tensor_value_info(*i) for i in inputs],
                          [helper.make_tensor_value_info(*o) for o in outputs])
    opsets = [helper.make_opsetid("", 22)] + ([helper.make_opsetid(domain, 4)] if domain else [])
    return helper.make_model(g, opset_imports=opsets, ir_version=10)


def _ort(m, feeds):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _text(a):
    return np.vectorize(lambda s: s.decode() if isinstance(s, bytes) else s, otypes=[object])(a)


def test_string_concat_broadcasts_columns():
    x = np.array([["a"], ["bé"]], dtype=object)
    y = np.array(["1", "", "3"], dtype=object)
    m = _model("StringConcat", [("x", STR, [2, 1]), ("y", STR, [3])], [("z", STR, None)])
    (got,) = run_onnx_in_tf(m, [x, y])
    assert _text(got).tolist() == (x + y).tolist()


@pytest.mark.parametrize("delimiter,maxsplit", [(None, None), (None, 1), (",", None), (",", 1), (" ", 2)])
def test_string_split_matches_python(delimiter, maxsplit):
    rng = np.random.default_rng(0)
    alphabet = np.array(["a", "bc", " ", "  ", ",", "\t"], dtype=object)
    x = np.array(["".join(rng.choice(alphabet, rng.integers(0, 7))) for _ in range(24)], dtype=object)
    x = x.reshape(4, 6)
    attrs = {k: v for k, v in (("delimiter", delimiter), ("maxsplit", maxsplit)) if v is not None}
    m = _model("StringSplit", [("x", STR, ["a", "b"])], [("y", STR, None), ("n", I64, None)], **attrs)
    y, n = run_onnx_in_tf(m, [x])
    want = [[s.split(delimiter, -1 if maxsplit is None else maxsplit) for s in row] for row in x]
    assert n.tolist() == [[len(w) for w in row] for row in want]
    assert y.shape == (4, 6, max(len(w) for row in want for w in row))
    got = _text(y)
    for i, row in enumerate(want):
        for j, w in enumerate(row):
            assert got[i, j].tolist() == w + [""] * (y.shape[2] - len(w))


def test_string_normalizer_case_insensitive_stopwords():
    # vs Python's str.upper (ONNX Runtime needs an installed en_US.UTF-8 locale for this op)
    x = np.array(["Monday", "tuesday", "MONDAY", "été", "wednesday"], dtype=object)
    m = _model("StringNormalizer", [("x", STR, [5])], [("y", STR, None)], case_change_action="UPPER",
               is_case_sensitive=0, stopwords=["monday", "Wednesday"])
    (got,) = run_onnx_in_tf(m, [x])
    assert _text(got).tolist() == ["TUESDAY", "ÉTÉ"]


def test_string_normalizer_all_removed_gives_one_empty_string():
    x = np.array([["a", "b"]], dtype=object)
    m = _model("StringNormalizer", [("x", STR, [1, 2])], [("y", STR, None)], stopwords=["a", "b"],
               is_case_sensitive=1)
    (got,) = run_onnx_in_tf(m, [x])
    assert _text(got).tolist() == [[""]]


def test_regex_full_match_dynamic_shape():
    x = np.array([["ab12", "ab", "12"], ["", "abc1", "AB1"]], dtype=object)
    m = _model("RegexFullMatch", [("x", STR, ["n", "m"])], [("y", TensorProto.BOOL, None)],
               pattern=r"[a-z]+\d+")
    (got,) = run_onnx_in_tf(m, [x])
    assert got.tolist() == [[True, False, False], [False, True, False]]


@pytest.mark.parametrize("sorted_,axis", [(1, None), (0, None), (1, 1), (0, 0), (1, -1)])
def test_unique_vs_ort(sorted_, axis):
    x = np.array([[3, 1, 3, 2], [0, 1, 0, 2], [3, 1, 3, 2]], dtype=np.int64)
    attrs = {"sorted": sorted_} | ({} if axis is None else {"axis": axis})
    outs = [("y", I64, None), ("i", I64, None), ("inv", I64, None), ("c", I64, None)]
    m = _model("Unique", [("x", I64, ["r", "c"])], outs, **attrs)
    got = run_onnx_in_tf(m, [x])
    for g, w in zip(got, _ort(m, {"x": x})):
        assert g.tolist() == w.tolist()


def test_unique_unsorted_strings():
    x = np.array(["b", "a", "b", "c", "a"], dtype=object)
    outs = [("y", STR, None), ("i", I64, None), ("inv", I64, None), ("c", I64, None)]
    got = run_onnx_in_tf(_model("Unique", [("x", STR, [5])], outs, sorted=0), [x])
    assert _text(got[0]).tolist() == ["b", "a", "c"]
    assert [g.tolist() for g in got[1:]] == [[0, 1, 3], [0, 1, 0, 2, 1], [2, 2, 1]]


def test_unique_sorted_strings_is_refused_as_inexpressible():
    model = import_onnx(_model("Unique", [("x", STR, [5])], [("y", STR, None)]))
    with pytest.raises(UnsupportedOpError, match="TensorFlow has no ordering of strings"):
        lift_model(model)


def test_tfidf_string_pool_idf_weights():
    x = np.array([["a", "b", "c", "a", "b"], ["c", "c", "a", "b", "x"]], dtype=object)
    m = _model("TfIdfVectorizer", [("x", STR, [2, "n"])], [("y", F32, None)], mode="TFIDF",
               min_gram_length=1, max_gram_length=2, max_skip_count=1, ngram_counts=[0, 3],
               ngram_indexes=[0, 1, 2, 3, 4], pool_strings=["a", "b", "c", "a", "b", "c", "a"],
               weights=[0.5, 1.0, 2.0, 3.0, 0.25])
    (got,) = run_onnx_in_tf(m, [x])
    (want,) = _ort(m, {"x": x})
    np.testing.assert_allclose(got, want)


def test_label_encoder_float_to_string_vs_ort():
    x = np.array([[0.5, 2.0], [np.nan, -1.0]], dtype=np.float32)
    m = _model("LabelEncoder", [("x", F32, [2, 2])], [("y", STR, None)], domain="ai.onnx.ml",
               keys_floats=[0.5, -1.0, 7.0], values_strings=["half", "minus", "seven"], default_string="?")
    (got,) = run_onnx_in_tf(m, [x])
    (want,) = _ort(m, {"x": x})
    assert _text(got).tolist() == want.tolist()


def test_zipmap_is_refused_as_inexpressible():
    node = helper.make_node("ZipMap", ["x"], ["y"], domain="ai.onnx.ml", classlabels_int64s=[0, 1])
    value = helper.make_tensor_type_proto(F32, None)
    seq = helper.make_sequence_type_proto(helper.make_map_type_proto(I64, value))
    g = helper.make_graph([node], "z", [helper.make_tensor_value_info("x", F32, [1, 2])],
                          [helper.make_value_info("y", seq)])
    opsets = [helper.make_opsetid("", 22), helper.make_opsetid("ai.onnx.ml", 3)]
    m = helper.make_model(g, opset_imports=opsets)
    with pytest.raises(UnsupportedOpError, match="TensorFlow has no map-typed"):
        lift_model(import_onnx(m))


# ---- ai.onnx.ml single ops vs ONNX Runtime ----------------------------------------------------
def _ml_check(op, x, outputs, opset=3, atol=1e-5, oracle="ort", **attrs):
    """vs ONNX Runtime, or (``oracle="ref"``) ONNX's reference where ORT departs from it."""
    m = _model(op, [("x", helper.np_dtype_to_tensor_dtype(x.dtype), list(x.shape))], outputs,
               domain="ai.onnx.ml", **attrs)
    m.opset_import[1].version = opset
    got = run_onnx_in_tf(m, [x])
    if oracle == "ref":
        from onnx.reference import ReferenceEvaluator

        want = ReferenceEvaluator(m).run(None, {"x": x})
    else:
        want = _ort(m, {"x": x})
    for g, w in zip(got, want):
        if w.dtype == object or w.dtype.kind == "U":
            assert _text(g).tolist() == w.tolist()
        else:
            assert g.shape == w.shape and g.dtype == (w.dtype if oracle == "ort" else g.dtype)
            np.testing.assert_allclose(g, w, atol=atol, rtol=1e-5)


X = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0], [-3.0, 1.5, 2.0], [0.2, 0.1, -0.4]], np.float32)
LABELS = [("y", I64, None), ("z", F32, None)]


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC", "SOFTMAX"])
@pytest.mark.parametrize("rows", [1, 3])
def test_linear_classifier_vs_ort(post, rows):
    coef = np.linspace(-1, 1, 3 * rows).tolist()
    labels = [4, 7] if rows == 1 else [4, 7, 9]
    # one score row, two classes: the scores are [-s, s], then transformed (ONNX's reference);
    # ORT gives [1 - s, s] for NONE and SOFTMAX instead
    oracle = "ref" if rows == 1 and post != "LOGISTIC" else "ort"
    _ml_check("LinearClassifier", X, LABELS, coefficients=coef, intercepts=[0.1 * i for i in range(rows)],
              classlabels_ints=labels, post_transform=post, oracle=oracle)


def test_linear_classifier_string_labels_vs_ort():
    _ml_check("LinearClassifier", X, [("y", STR, None), ("z", F32, None)], coefficients=[1.0, -1, 0, 0, 1, 1],
              intercepts=[0.0, 0.5], classlabels_strings=["no", "yes"], post_transform="SOFTMAX")


@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
def test_normalizer(norm):
    # MAX divides by the largest magnitude, as ONNX's reference and scikit-learn; ORT by the
    # largest value
    oracle = "ref" if norm == "MAX" else "ort"
    _ml_check("Normalizer", X, [("y", F32, None)], opset=1, norm=norm, oracle=oracle)


def test_scaler_int_input_and_linear_regressor_vs_ort():
    xi = np.array([[1, 2, 3], [-4, 5, 0]], np.int64)
    _ml_check("Scaler", xi, [("y", F32, None)], offset=[1.0, 0.5, -1.0], scale=[2.0, 0.5, 1.5])
    _ml_check("LinearRegressor", X, [("y", F32, None)], opset=1, coefficients=[1.0, 2, 3, -1, 0, 1],
              intercepts=[0.5, -0.5], targets=2)


def _legacy_tree_attrs(prefix):
    # two trees: tree 0 splits feature 0 then 2, tree 1 a single split on feature 1
    return dict(nodes_treeids=[0, 0, 0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 3, 4, 0, 1, 2],
                nodes_featureids=[0, 2, 0, 0, 0, 1, 0, 0],
                nodes_modes=["BRANCH_LEQ", "BRANCH_GT", "LEAF", "LEAF", "LEAF", "BRANCH_LT", "LEAF", "LEAF"],
                nodes_values=[0.1, 0.0, 0, 0, 0, 0.2, 0, 0], nodes_truenodeids=[1, 2, 0, 0, 0, 1, 0, 0],
                nodes_falsenodeids=[4, 3, 0, 0, 0, 2, 0, 0],
                **{f"{prefix}_treeids": [0, 0, 0, 0, 1, 1, 1], f"{prefix}_nodeids": [2, 3, 4, 4, 1, 2, 2],
                   f"{prefix}_ids": [0, 1, 0, 1, 0, 1, 0],
                   f"{prefix}_weights": [0.5, 1.5, -2.0, 0.25, 3.0, -1.0, 0.75]})


@pytest.mark.parametrize("agg", ["SUM", "AVERAGE", "MIN", "MAX"])
def test_tree_ensemble_regressor_vs_ort(agg):
    xn = X.copy()
    xn[1, 0] = np.nan
    _ml_check("TreeEnsembleRegressor", xn, [("y", F32, None)], n_targets=2, aggregate_function=agg,
              base_values=[0.1, -0.2], **_legacy_tree_attrs("target"))


@pytest.mark.parametrize("post", ["NONE", "SOFTMAX", "LOGISTIC"])
def test_tree_ensemble_classifier_string_labels(post):
    # two classes: the label is the argmax (ONNX's reference); ORT picks class 1 when its score
    # is > 0 (> 0.5 for all-positive weights), which differs here, so the oracle is the reference
    _ml_check("TreeEnsembleClassifier", X, [("y", STR, None), ("z", F32, None)], post_transform=post,
              classlabels_strings=["a", "b"], oracle="ref", **_legacy_tree_attrs("class"))


@pytest.mark.parametrize("agg", [0, 1, 2, 3])  # AVERAGE, SUM, MIN, MAX
def test_tree_ensemble_v5_mixed_modes_vs_ort(agg):
    # two trees; modes LEQ, GT, NEQ and MEMBER; node 1 sends NaN to its true branch
    f = numpy_helper.from_array
    attrs = dict(
        nodes_featureids=[0, 1, 2, 0], nodes_modes=f(np.array([0, 3, 5, 6], np.uint8), "m"),
        nodes_splits=f(np.array([0.1, -1.0, 0.5, 0.0], np.float32), "s"),
        nodes_truenodeids=[1, 0, 1, 3], nodes_trueleafs=[0, 1, 1, 1],
        nodes_falsenodeids=[2, 2, 4, 5], nodes_falseleafs=[0, 1, 1, 1],
        nodes_missing_value_tracks_true=[0, 1, 0, 0],
        membership_values=f(np.array([1.0, -3.0, np.nan], np.float32), "mv"),
        leaf_targetids=[0, 1, 1, 0, 1, 0], leaf_weights=f(np.linspace(-1, 2, 6).astype(np.float32), "w"),
        tree_roots=[0, 3], n_targets=2, aggregate_function=agg, post_transform=0)
    xn = X.copy()
    xn[1, 1] = np.nan
    xn[2, 0] = -3.0
    # MIN/MAX: a target no reached leaf scores is the float's max/lowest (ONNX's reference);
    # ORT leaves it 0, so those two compare with the reference
    _ml_check("TreeEnsemble", xn, [("y", F32, None)], opset=5, oracle="ref" if agg >= 2 else "ort", **attrs)


# ---- ImageDecoder (lift/image.py) --------------------------------------------------------------
def _conformance_cases(prefix):
    import warnings

    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [c for c in collect_testcases() if c.name.startswith(prefix)]


@pytest.mark.parametrize("fmt", ["jpeg_rgb", "jpeg_bgr", "jpeg_grayscale", "png_rgb", "bmp_rgb", "webp_rgb",
                                 "pnm_rgb"])
def test_image_decoder_conformance_formats_exact(fmt):
    (case,) = _conformance_cases(f"test_image_decoder_decode_{fmt}")
    (inputs, expected), = case.data_sets
    (got,) = run_onnx_in_tf(case.model, list(inputs))
    assert got.dtype == np.uint8 and np.array_equal(got, expected[0])  # JPEG too: exact


@pytest.mark.parametrize("pixel_format", ["BGR", "Grayscale"])
def test_image_decoder_png_pixel_formats(pixel_format):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    data = np.frombuffer(tf.io.encode_png(rgb).numpy(), np.uint8)
    m = _model("ImageDecoder", [("x", TensorProto.UINT8, ["n"])], [("y", TensorProto.UINT8, None)],
               pixel_format=pixel_format)
    (got,) = run_onnx_in_tf(m, [data])
    if pixel_format == "BGR":
        want = rgb[..., ::-1]
    else:  # Pillow's convert("L")
        r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
        want = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)[..., None]
    assert np.array_equal(got, want)


def test_image_decoder_pgm_and_spaced_ppm():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    rgb = np.random.default_rng(1).integers(0, 256, (2, 3, 3), dtype=np.uint8)
    m = _model("ImageDecoder", [("x", TensorProto.UINT8, ["n"])], [("y", TensorProto.UINT8, None)])
    for data, want in ((b"P5\n4 3\n255\n" + gray.tobytes(), np.repeat(gray[..., None], 3, 2)),
                       (b"P6  3\r\n2\t255 " + rgb.tobytes(), rgb)):
        (got,) = run_onnx_in_tf(m, [np.frombuffer(data, np.uint8)])
        assert np.array_equal(got, want)


# ---- preprocessing ops -----------------------------------------------------------------------
def test_sklearn_imputer_scaler_logistic_regression(tmp_path):
    x, y = _data(seed=4)
    x[::7, 1] = np.nan
    x[::5, 3] = np.nan
    pipe = _sk("make_pipeline")(_sk_impute()(), _sk("StandardScaler")(),
                                _sk("LogisticRegression")(max_iter=500)).fit(x, y)
    _check_api(_export(pipe, x.shape[1], tmp_path / "imp.onnx"), tmp_path / "sm", x)


def _sk_impute():
    pytest.importorskip("sklearn")
    from sklearn.impute import SimpleImputer

    return SimpleImputer


def test_imputer_int_replaced_value_vs_ort():
    xi = np.array([[1, -1, 3], [-1, 5, -1]], np.int64)
    _ml_check("Imputer", xi, [("y", I64, None)], opset=1, imputed_value_int64s=[7, 8, 9],
              replaced_value_int64=-1)


def test_feature_vectorizer_cuts_and_pads_vs_ort():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([[5], [6]], np.float32)
    m = _model("FeatureVectorizer", [("a", F32, [2, 3]), ("b", F32, [2, 1])], [("y", F32, None)],
               domain="ai.onnx.ml", inputdimensions=[2, 3])
    m.opset_import[1].version = 1
    (got,) = run_onnx_in_tf(m, [a, b])
    (want,) = _ort(m, {"a": a, "b": b})
    np.testing.assert_array_equal(got, want)


def test_one_hot_encoder_vs_ort():
    xs = np.array([["a", "c"], ["b", "zz"]], dtype=object)
    _ml_check("OneHotEncoder", xs, [("y", F32, None)], opset=1, cats_strings=["a", "b", "c"], zeros=1)
    xf = np.array([3.0, 1.0, 2.0], np.float32)
    _ml_check("OneHotEncoder", xf, [("y", F32, None)], opset=1, cats_int64s=[1, 2, 3], zeros=0)


def test_category_mapper_both_ways_vs_ort():
    cats = dict(cats_int64s=[1, 2, 3], cats_strings=["one", "two", "three"], default_int64=-5,
                default_string="?")
    strs = np.array(["two", "x", "one"], dtype=object)
    _ml_check("CategoryMapper", strs, [("y", I64, None)], opset=1, **cats)
    _ml_check("CategoryMapper", np.array([[3, 4], [1, 2]], np.int64), [("y", STR, None)], opset=1, **cats)


@pytest.mark.parametrize("kernel", ["rbf", "linear", "poly", "sigmoid"])
def test_sklearn_svr(kernel, tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.svm import SVR

    x, _ = _data(seed=5, n=60)
    target = np.sin(x[:, 0]) + 0.1 * x[:, 1]
    model = SVR(kernel=kernel, degree=2, gamma=0.1, coef0=0.5).fit(x, target)
    _check_api(_export(model, x.shape[1], tmp_path / "svr.onnx"), tmp_path / "sm", x, atol=1e-4)


def test_sklearn_one_class_svm(tmp_path):
    pytest.importorskip("sklearn")
    from sklearn.svm import OneClassSVM

    x, _ = _data(seed=6, n=60)
    model = OneClassSVM(gamma=0.05).fit(x)
    _check_api(_export(model, x.shape[1], tmp_path / "ocsvm.onnx"), tmp_path / "sm", x, atol=1e-4)


def test_string_model_through_the_api(tmp_path):
    """String signature tensors: lower-case, split on whitespace, Unique (unsorted) of the words."""
    nodes = [helper.make_node("StringNormalizer", ["text"], ["low"], case_change_action="LOWER"),
             helper.make_node("StringSplit", ["low"], ["words", "n"]),
             helper.make_node("Reshape", ["words", "flat"], ["all"]),
             helper.make_node("Unique", ["all"], ["uniq", "first", "inv", "cnt"], sorted=0)]
    g = helper.make_graph(nodes, "text", [helper.make_tensor_value_info("text", STR, ["n"])],
                          [helper.make_tensor_value_info("uniq", STR, ["u"]),
                           helper.make_tensor_value_info("cnt", I64, ["u"]),
                           helper.make_tensor_value_info("n", I64, ["n"])],
                          [helper.make_tensor(name="flat", data_type=I64, dims=[1], vals=[-1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 22)], ir_version=10)
    src = tmp_path / "text.onnx"
    src.write_bytes(m.SerializeToString())
    tb.convert(src, tmp_path / "sm")
    fn = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    got = fn(text=tf.constant(["The cat  sat", "THE END"]))
    assert _text(got["uniq"].numpy()).tolist() == ["the", "cat", "sat", "end", ""]
    assert got["cnt"].numpy().tolist() == [2, 1, 1, 1, 1] and got["n"].numpy().tolist() == [3, 2]
