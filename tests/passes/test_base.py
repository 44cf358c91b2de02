"""Pass infrastructure: fixed point, max_iterations, verify_each, PassError context, INFO log
lines with op-count diffs, the registry, functional() and clone_model()."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from onnx import helper
from passes_helpers import build, init, ops, vi

from tensorbridge import ir
from tensorbridge.errors import PassError, UsageError
from tensorbridge.passes import (
    PASSES,
    PassContext,
    PassResult,
    Pipeline,
    clone_model,
    default_pipeline,
    describe_passes,
    format_op_diff,
    functional,
    pass_,
    run_passes,
)


def identities(n: int = 3) -> ir.Model:
    names = ["x"] + [f"t{i}" for i in range(n - 1)] + ["y"]
    nodes = [helper.make_node("Relu", ["x"], ["r"])]
    nodes += [helper.make_node("Identity", [a], [b]) for a, b in zip(["r", *names[1:-1]], names[1:])]
    return build(nodes, [vi("x", [2])], [vi("y", [2])])


def counter_pass(name: str, changes: int):
    """A pass reporting changed=True for its first ``changes`` calls."""
    calls = []

    @pass_(name, "test pass")
    def p(model, ctx):
        calls.append(1)
        return PassResult(model, changed=len(calls) <= changes, stats={"calls": 1})

    return p, calls


def test_fixed_point_stops_when_nothing_changes():
    a, a_calls = counter_pass("a", 2)
    b, b_calls = counter_pass("b", 0)
    result = Pipeline("p", [a, b], max_iterations=10)(identities(), PassContext())
    assert len(a_calls) == 3 and len(b_calls) == 3  # two changing rounds, one quiet round
    assert result.changed is True
    assert result.stats["iterations"] == 3 and result.stats["a.calls"] == 3


def test_max_iterations_is_respected_by_an_always_changing_pass(caplog):
    a, calls = counter_pass("always", 10**9)
    with caplog.at_level(logging.INFO, logger="tensorbridge.passes"):
        result = Pipeline("p", [a], max_iterations=4)(identities(), PassContext())
    assert len(calls) == 4 and result.stats["iterations"] == 4
    assert "stopped at max_iterations=4" in caplog.text


def test_unchanged_pipeline_reports_unchanged():
    a, _ = counter_pass("a", 0)
    result = Pipeline("p", [a], max_iterations=5)(identities(), PassContext())
    assert result.changed is False and result.stats["iterations"] == 1


def test_pipelines_nest():
    inner_a, a_calls = counter_pass("inner-a", 1)
    outer_b, b_calls = counter_pass("outer-b", 0)
    inner = Pipeline("inner", [inner_a], max_iterations=3)
    result = Pipeline("outer", [inner, outer_b], max_iterations=3)(identities(), PassContext())
    # outer round 1: inner runs a twice (changed, then quiet); outer round 2: a once, quiet
    assert len(a_calls) == 3 and len(b_calls) == 2
    assert result.stats["inner.inner-a.calls"] == 3


@pass_("breaks-ir")
def breaks_ir(model, ctx):
    """Removes a node without rewiring its consumer (unsafe), leaving a dangling use."""
    node = next(n for n in model.graph if n.op_type == "Relu")
    model.graph.remove(node, safe=False)
    return PassResult(model, changed=True)


def test_verify_each_catches_a_broken_invariant_and_names_the_passes():
    ok_a, _ = counter_pass("first", 0)
    ok_b, _ = counter_pass("second", 0)
    pipeline = Pipeline("p", [ok_a, ok_b, breaks_ir], verify_each=True)
    with pytest.raises(PassError) as info:
        pipeline(identities(), PassContext())
    err = info.value
    assert err.pass_name == "breaks-ir" and err.previous == ["first", "second"]
    assert err.iteration == 1
    assert "broke an IR invariant" in str(err) and "dangling use" in str(err)
    assert isinstance(err.__cause__, Exception)


def test_without_verify_each_the_broken_ir_is_not_checked():
    Pipeline("p", [breaks_ir])(identities(), PassContext())  # no error: nobody verified


def test_ctx_debug_turns_verification_on():
    with pytest.raises(PassError):
        Pipeline("p", [breaks_ir])(identities(), PassContext(debug=True))


@pass_("explodes")
def explodes(model, ctx):
    """Fails while working on the Relu node."""
    ctx.working_on(next(n for n in model.graph if n.op_type == "Relu"))
    raise ZeroDivisionError("boom")


def test_errors_are_wrapped_with_pass_chain_and_node_and_never_swallowed():
    first, _ = counter_pass("first", 0)
    inner = Pipeline("inner", [explodes])
    with pytest.raises(PassError) as info:
        Pipeline("outer", [first, inner], max_iterations=3)(identities(), PassContext())
    err = info.value
    assert err.pass_name == "explodes" and err.previous == ["first"]
    assert isinstance(err.__cause__, ZeroDivisionError)
    assert "boom" in str(err) and "Relu" in str(err) and "'Relu'" in str(err)


def test_direct_call_lets_the_exception_through():
    with pytest.raises(ZeroDivisionError):
        explodes(identities())


def test_info_log_line_has_name_changed_op_diff_and_ms(caplog):
    m = identities(3)
    with caplog.at_level(logging.INFO, logger="tensorbridge.passes"):
        run_passes(m, ["simplify"], PassContext(verify_each=True))
    (line,) = [r.getMessage() for r in caplog.records if "pass simplify" in r.getMessage()]
    assert line.startswith("pass simplify: changed=True, Identity -3 (3->0); nodes 4->1, ")
    assert line.endswith(" ms")


def test_format_op_diff():
    assert format_op_diff({"Identity": 5, "Relu": 1}, {"Identity": 2, "Relu": 1}) == (
        "Identity -3 (5->2); nodes 6->3"
    )
    assert format_op_diff({"A": 1}, {"A": 1}) == "ops unchanged (1 nodes)"


def test_registry_and_run_passes():
    assert list(PASSES) == ["freeze-variables", "fold-constants", "layout", "simplify", "cse",
                            "prune-dead-nodes", "shape-inference"]
    assert all(desc and "\n" not in desc for _, desc in describe_passes())
    with pytest.raises(UsageError, match="unknown pass 'nope'.*available passes"):
        run_passes(identities(), ["simplify", "nope"])
    m = identities()
    assert run_passes(m, ["simplify", "prune-dead-nodes"]).changed
    assert ops(m) == ["Relu"]


def test_default_pipeline_runs_to_a_fixed_point():
    m = identities(4)
    result = default_pipeline()(m, PassContext(verify_each=True))
    assert result.changed and ops(m) == ["Relu"]
    assert default_pipeline()(m, PassContext(verify_each=True)).changed is False


def test_functional_leaves_the_input_alone():
    m = identities()
    before = ir.format_graph(m.graph)
    result = functional(PASSES["simplify"])(m, PassContext())
    assert ir.format_graph(m.graph) == before
    assert ops(result.model) == ["Relu"] and ops(m) == ["Relu", "Identity", "Identity", "Identity"]


def test_clone_model_is_deep_but_shares_tensors():
    body = helper.make_graph([helper.make_node("Add", ["x", "w"], ["t"])], "then", [],
                             [vi("t", [2])])  # fmt: skip
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [vi("e", [2])])
    m = build(
        [helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=other)],
        [vi("c", [], elem=9), vi("x", [2])], [vi("y", [2])], [init("w", np.ones(2, np.float32))],
    )  # fmt: skip
    var = ir.Variable("v", ir.ArrayTensor(np.zeros(3, np.float32)))
    m.variables["v"] = var
    m.graph.add_initializer(ir.Value("vv", variable=var))
    c = clone_model(m)
    ir.verify(c)
    assert ir.format_graph(c.graph) == ir.format_graph(m.graph)
    w, cw = m.graph.initializers["w"], c.graph.initializers["w"]
    assert cw is not w and cw.const is w.const  # tensor shared, value copied
    assert c.variables["v"] is not var and c.variables["v"].tensor is var.tensor
    assert c.graph.initializers["vv"].variable is c.variables["v"]
    then_c = next(n for n in c.graph).attr("then_branch")
    add = next(iter(then_c))
    assert add.inputs[1] is cw  # the capture points at the clone's initializer
    assert c.main.signature().outputs["y"] is c.graph.outputs[0]
    assert c.main.signature().inputs["x"] is c.graph.inputs[1]


def test_clone_keeps_external_tensors_lazy(tmp_path):
    data = np.arange(6, dtype=np.float32)
    path = tmp_path / "w.bin"
    path.write_bytes(data.tobytes())
    t = ir.ExternalTensor(path, 0, data.nbytes, ir.DType.FLOAT, (6,), name="w")
    g = ir.Graph("g")
    w = g.add_initializer(ir.Value("w", const=t))
    x = g.add_input(ir.Value("x", ir.TensorType(ir.DType.FLOAT, (6,))))
    n = g.append(ir.Node("Add", [x, w]))
    g.add_output(n.outputs[0])
    c = clone_model(ir.single_graph_model(g))
    assert c.graph.initializers["w"].const is t


def test_a_reused_context_starts_each_top_level_run_with_empty_history():
    ctx = PassContext()
    first, _ = counter_pass("first", 0)
    Pipeline("p", [first])(identities(), ctx)
    with pytest.raises(PassError) as info:
        Pipeline("q", [explodes])(identities(), ctx)
    assert info.value.previous == []
    assert ctx.depth == 0


def test_default_pipeline_never_reads_big_lazy_weights(tmp_path, monkeypatch):
    """Weights stay lazy through freeze, simplify, cse and prune (the 1 GB bench's premise)."""
    big = np.zeros((256, 256), np.float32)
    path = tmp_path / "w.bin"
    path.write_bytes(big.tobytes() * 3)
    g = ir.Graph("g")
    x = g.add_input(ir.Value("x", ir.TensorType(ir.DType.FLOAT, (1, 256))))
    m = ir.single_graph_model(g)
    y = x
    for i in range(3):
        t = ir.ExternalTensor(path, i * big.nbytes, big.nbytes, ir.DType.FLOAT, big.shape)
        var = ir.Variable(f"w{i}", t)
        m.variables[var.name] = var
        w = g.add_initializer(ir.Value(f"w{i}", variable=var))
        y = g.append(ir.Node("MatMul", [y, w])).outputs[0]
        y = g.append(ir.Node("Identity", [y])).outputs[0]
    dead = g.add_initializer(ir.Value("dead", const=ir.ExternalTensor(
        path, 0, big.nbytes, ir.DType.FLOAT, big.shape)))  # fmt: skip
    g.append(ir.Node("Neg", [dead]))
    g.add_output(y)
    out_name = y.name
    m.main.signatures = {}  # no signatures: the graph outputs are the roots

    def refuse(self):
        raise AssertionError("a pass read a big lazy tensor")

    monkeypatch.setattr(ir.ExternalTensor, "numpy", refuse)
    monkeypatch.setattr(ir.ExternalTensor, "raw_bytes", refuse)
    result = default_pipeline()(m, PassContext(verify_each=True))
    assert result.changed and m.variables == {}
    assert ops(m) == ["MatMul", "MatMul", "MatMul"]
    assert g.outputs[0].name == out_name and g.outputs[0].producer().op_type == "MatMul"
    assert sorted(g.initializers) == ["w0", "w1", "w2"]
    assert all(ir.is_lazy(v.const) for v in g.initializers.values())
