"""value_names.py: the writer's record of source value names, read back leniently."""

from __future__ import annotations

import numpy as np

from tensorbridge import ir
from tensorbridge.converters.savedmodel.value_names import FILENAME, read_value_names, write_value_names


def test_round_trip_by_tag_set(tmp_path):
    write_value_names(tmp_path, {"gpu,serve": {"a/Relu:0": "/relu_out"}, "train": {}})
    assert read_value_names(tmp_path, ["serve", "gpu"]) == {"a/Relu:0": "/relu_out"}
    assert read_value_names(tmp_path, ["train"]) == {}
    assert read_value_names(tmp_path, ["serve"]) == {}


def test_nothing_written_without_names(tmp_path):
    write_value_names(tmp_path, {"serve": {}})
    assert not (tmp_path / "assets.extra").exists()


def test_missing_corrupt_or_other_version_is_ignored(tmp_path):
    assert read_value_names(tmp_path, ["serve"]) == {}
    (tmp_path / "assets.extra").mkdir()
    path = tmp_path / "assets.extra" / FILENAME
    path.write_text("{not json")
    assert read_value_names(tmp_path, ["serve"]) == {}
    path.write_text('{"version": 99, "meta_graphs": {"serve": {"a:0": "x"}}}')
    assert read_value_names(tmp_path, ["serve"]) == {}
    path.write_text('{"version": 1, "meta_graphs": []}')
    assert read_value_names(tmp_path, ["serve"]) == {}


def test_graph_rename_value_only_to_free_names():
    g = ir.Graph(name="g")
    x = g.add_input(ir.Value("x", ir.TensorType(ir.DType.FLOAT, (2,))))
    w = g.add_initializer(ir.Value("w", const=ir.as_tensor(np.ones(2, np.float32))))
    n = ir.Node("Add", [x, w], name="add")
    g.append(n)
    y = n.outputs[0]
    assert not g.rename_value(y, "x") and not g.rename_value(w, "w2")
    assert g.rename_value(y, "y") and y.name == "y"
    assert g.rename_value(x, "old_y") is True
    m = ir.Node("Neg", [y], name="neg")
    g.append(m)
    assert m.outputs[0].name not in ("y", "old_y")
    ir.verify(ir.single_graph_model(g))
