"""Helpers for the pass tests (a plain module, not a conftest): tiny models built with
onnx.helper and imported, and the STYLE 4.9 recipe as one function, ``check_pass``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tensorbridge import ir
from tensorbridge.converters.onnx import import_onnx
from tensorbridge.passes import Pass, PassContext, Pipeline, functional
from tensorbridge.runtime import Session, compare_outputs, make_inputs, specs_from_signature

F = TensorProto.FLOAT
I64 = TensorProto.INT64


def vi(name: str, shape: Sequence[object], elem: int = F):
    return helper.make_tensor_value_info(name, elem, list(shape))


def init(name: str, array) -> object:
    return numpy_helper.from_array(np.asarray(array), name)


def build(nodes, inputs, outputs, initializers=(), opset: int = 21, functions=()) -> ir.Model:
    graph = helper.make_graph(list(nodes), "g", list(inputs), list(outputs), list(initializers))
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], functions=list(functions)
    )
    if functions:
        proto.opset_import.append(helper.make_opsetid("local", 1))
    proto.ir_version = 10
    return import_onnx(proto)


def ops(model_or_graph) -> list[str]:
    g = model_or_graph.graph if isinstance(model_or_graph, ir.Model) else model_or_graph
    return [n.op_type for n in g]


def run(model: ir.Model, seed: int = 0) -> dict[str, np.ndarray]:
    feeds = make_inputs(specs_from_signature(model.main.signature()), seed=seed)
    return Session(model).run(feeds)


def check_pass(
    p: Pass,
    model: ir.Model,
    before: list[str],
    after: list[str],
    ctx: PassContext | None = None,
    *,
    numerics: bool = True,
) -> ir.Model:
    """Recipe: op lists, functional form leaves the input alone, changed then not, verify, ORT."""
    ctx = ctx or PassContext(verify_each=True)
    assert ops(model) == before
    text = ir.format_graph(model.graph)
    result = Pipeline("test", [functional(p)], verify_each=True)(model, ctx)
    assert result.changed is True
    assert ir.format_graph(model.graph) == text, "the functional form changed its input"
    assert result.model is not model
    optimized = result.model
    assert ops(optimized) == after
    ir.verify(optimized)
    again = Pipeline("again", [p], verify_each=True)(optimized, ctx)
    assert again.changed is False, again.stats
    assert ops(optimized) == after
    if numerics:
        want, got = run(model), run(optimized)
        assert list(got) == list(want), "graph output names changed"
        report = compare_outputs(want, got, atol=0, rtol=0)
        assert report.ok, report
    return optimized


def assert_close(before: ir.Model, after: ir.Model, atol: float, rtol: float) -> None:
    """Same output names, values within atol/rtol (for passes that re-round: folded weights,
    another summation order)."""
    want, got = run(before), run(after)
    assert list(got) == list(want), "graph output names changed"
    report = compare_outputs(want, got, atol=atol, rtol=rtol)
    assert report.ok, report
