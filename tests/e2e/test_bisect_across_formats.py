"""Issue 6: `check --bisect` between an ONNX model and the SavedModel tensorbridge wrote from it.

The writer records which TF tensor computes which source value (assets.extra/
tensorbridge_value_names.json, converters/savedmodel/value_names.py), the importer names values
after it, and bisect compares a channels-first ONNX value with its channels-last SavedModel
counterpart by transposing it. A planted bug in the ONNX file (a Relu made LeakyRelu) is named
exactly, against the SavedModel of the original; a BatchNormalization epsilon change is found
at the first value both sides still name after the BatchNormalization was folded into its Conv.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "passes"))

pytest.importorskip("tensorflow")
pytest.importorskip("torch")
pytestmark = pytest.mark.tf

from test_real_models import real_models  # noqa: E402

import tensorbridge as tb  # noqa: E402
from tensorbridge.api import CheckOptions  # noqa: E402


@pytest.fixture(scope="module")
def cnn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("bisect_formats")
    src = out / "cnn.onnx"
    real_models.build_cnn(src)
    sm = out / "cnn_savedmodel"
    tb.convert(src, sm)
    return src, sm


def _planted(src: Path, dst: Path, node_name: str, edit) -> Path:
    m = onnx.load(str(src))
    (node,) = [n for n in m.graph.node if n.name == node_name]
    edit(node)
    onnx.save(m, str(dst))
    return dst


def _leaky(node) -> None:
    node.op_type = "LeakyRelu"
    node.attribute.append(onnx.helper.make_attribute("alpha", 0.3))


def _epsilon(node) -> None:
    for a in node.attribute:
        if a.name == "epsilon":
            a.f = 0.5


def test_writer_records_source_names(cnn):
    src, sm = cnn
    record = json.loads((sm / "assets.extra" / "tensorbridge_value_names.json").read_text())
    names = set(record["meta_graphs"]["serve"].values())
    assert "/6/Relu_output_0" in names
    loaded = {o.name for n in tb.load(sm).graph for o in n.outputs}
    assert "/6/Relu_output_0" in loaded  # the re-imported SavedModel names it as the source did


@pytest.mark.parametrize(("node_name", "edit", "op", "value"), [
    ("/6/Relu", _leaky, "Relu", "/6/Relu_output_0"),
    # the default pipeline folds /5/BatchNormalization into /4/Conv before TF's layout, and the
    # layout pass cancels the Transpose that held its name: the first value both sides name is
    # /6/Relu's, whose hint points at the Conv input with no counterpart
    ("/5/BatchNormalization", _epsilon, "Relu", "/6/Relu_output_0"),
])
def test_bisect_names_the_planted_node(cnn, tmp_path, node_name, edit, op, value):
    src, sm = cnn
    bad = _planted(src, tmp_path / "bad.onnx", node_name, edit)
    report = tb.check(bad, sm, CheckOptions(bisect=True))
    assert not report.ok
    b = report.bisect
    assert b.status == "found", b
    assert b.output.name == value, b
    if op is not None:
        assert b.op_type == op
