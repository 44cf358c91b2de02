"""freeze-variables: all at once, per signature, across meta graphs; tensors stay lazy."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from passes_helpers import build, check_pass, init, ops, vi

from tensorbridge import ir
from tensorbridge.errors import UsageError
from tensorbridge.passes import PassContext, clone_graph, freeze_variables
from tensorbridge.runtime import Session


def variableize(model: ir.Model, *names: str) -> dict[str, ir.Variable]:
    """Turn the named initializers into variable reads (as the SavedModel importer makes them)."""
    out = {}
    for name in names:
        v = model.graph.initializers[name]
        var = ir.Variable(f"var/{name}", v.const)
        model.variables[var.name] = var
        v.const, v.variable = None, var
        out[name] = var
    return out


def external(tmp_path, name: str, array: np.ndarray) -> ir.ExternalTensor:
    path = tmp_path / f"{name}.bin"
    path.write_bytes(array.tobytes())
    return ir.ExternalTensor(path, 0, array.nbytes, ir.DType.FLOAT, array.shape, name=name)


def test_freeze_all_keeps_the_lazy_tensor_object(tmp_path):
    m = build(
        [helper.make_node("Mul", ["x", "W"], ["a"]), helper.make_node("Add", ["a", "B"], ["y"])],
        [vi("x", [2, 3])], [vi("y", [2, 3])],
        [init("W", np.ones((2, 3), np.float32)), init("B", np.ones(3, np.float32))],
    )  # fmt: skip
    lazy = external(tmp_path, "W", np.arange(6, dtype=np.float32).reshape(2, 3))
    m.graph.initializers["W"].const = lazy
    variables = variableize(m, "W", "B")
    out = check_pass(freeze_variables, m, ["Mul", "Add"], ["Mul", "Add"])
    assert out.variables == {}
    w, b = out.graph.initializers["W"], out.graph.initializers["B"]
    assert w.variable is None and w.const is lazy  # the same lazy object: nothing read or copied
    assert b.const is variables["B"].tensor
    assert m.graph.initializers["W"].variable is variables["W"]  # functional: input untouched


def per_signature_model() -> tuple[ir.Model, dict[str, ir.Variable]]:
    m = build(
        [helper.make_node("Add", ["x", "V"], ["s"]),        # shared by both signatures
         helper.make_node("Mul", ["s", "W"], ["a"]),        # serving only
         helper.make_node("Add", ["a", "U"], ["y1"]),       # serving only, U also read below
         helper.make_node("Mul", ["s", "W2"], ["b"]),       # train only
         helper.make_node("Sub", ["b", "U"], ["y2"])],      # train only
        [vi("x", [3])], [vi("y1", [3]), vi("y2", [3])],
        [init(n, np.full(3, k, np.float32)) for k, n in enumerate(["V", "W", "U", "W2"], 2)],
    )  # fmt: skip
    variables = variableize(m, "V", "W", "U", "W2")
    x, (y1, y2) = m.graph.inputs[0], m.graph.outputs
    m.main.signatures = {
        "serving_default": ir.Signature("serving_default", {"x": x}, {"y1": y1}),
        "train": ir.Signature("train", {"x": x}, {"y2": y2}),
    }
    return m, variables


def test_freeze_per_signature_keeps_what_other_signatures_need():
    m, variables = per_signature_model()
    ctx = PassContext(verify_each=True, freeze_signatures=["serving_default"])
    before = ["Add", "Mul", "Add", "Mul", "Sub"]
    out = check_pass(freeze_variables, m, before, before, ctx)
    g = out.graph
    inits = g.initializers
    assert inits["W"].const is variables["W"].tensor and inits["W"].variable is None
    assert inits["W2"].variable is out.variables["var/W2"]  # train only: untouched
    assert inits["V"].variable is out.variables["var/V"]  # shared node: untouched
    assert inits["U"].variable is out.variables["var/U"]  # train still reads U
    twin = inits["U_frozen"]
    assert twin.const is variables["U"].tensor
    add_y1 = g.outputs[0].producer()
    assert add_y1.inputs[1] is twin and g.outputs[1].producer().inputs[1] is inits["U"]
    assert sorted(out.variables) == ["var/U", "var/V", "var/W2"]


def test_freeze_per_signature_numerics_of_both_signatures():
    m, _ = per_signature_model()
    feeds = {"x": np.array([1, -2, 3], np.float32)}
    want = Session(m).run(feeds)
    freeze_variables(m, PassContext(freeze_signatures=["serving_default"]))
    ir.verify(m)
    got = Session(m).run(feeds)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_other_meta_graph_keeps_the_shared_variable():
    m = build([helper.make_node("Mul", ["x", "W"], ["y"])], [vi("x", [2])], [vi("y", [2])],
              [init("W", np.ones(2, np.float32))])  # fmt: skip
    (var,) = variableize(m, "W").values()
    g2 = clone_graph(m.graph)
    g2.initializers["W"].variable = var  # the second meta graph reads the same variable
    sig2 = ir.Signature("train", {"x": g2.inputs[0]}, {"y": g2.outputs[0]})
    m.meta_graphs.append(ir.MetaGraph(g2, tags=frozenset({"train"}), signatures={"train": sig2}))
    result = freeze_variables(m, PassContext(verify_each=True, freeze_signatures=["serving_default"]))
    assert result.changed and result.stats == {"frozen": 1}
    assert m.meta_graphs[0].graph.initializers["W"].const is var.tensor
    assert g2.initializers["W"].variable is var
    assert m.variables == {"var/W": var}
    ir.verify(m)
    assert freeze_variables(m, PassContext(freeze_signatures=["serving_default"])).changed is False
    assert freeze_variables(m).stats == {"frozen": 1, "variables": 1}
    assert m.variables == {}


def test_freeze_unknown_signature_is_a_usage_error():
    m, _ = per_signature_model()
    with pytest.raises(UsageError, match="no signature 'nope'"):
        freeze_variables(m, PassContext(freeze_signatures=["nope"]))
    assert ops(m) == ["Add", "Mul", "Add", "Mul", "Sub"]
