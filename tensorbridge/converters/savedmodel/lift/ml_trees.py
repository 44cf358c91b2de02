"""Lift: ai.onnx.ml tree ensembles (TreeEnsemble of ai.onnx.ml 5, TreeEnsembleRegressor and
TreeEnsembleClassifier of ai.onnx.ml 1-3).

Every tree node (and, for TreeEnsemble, every leaf) of the whole forest becomes one *state*
of a table built at conversion time: feature, threshold, rule, next state when the rule holds
and when it does not; a leaf loops to itself. The traversal is a fixed number of steps (the
depth of the deepest tree): each step gathers, for every row and tree, the current state's
feature value and threshold, evaluates the rule and selects the next state. The reached leaves
index a [states, targets] weight table; trees are aggregated by a reduction over the tree
axis (SUM/AVERAGE/MIN/MAX), then base values and the post transform apply.

NaN: a node whose ``missing_value_tracks_true`` is set takes its true branch on NaN. For
TreeEnsemble the rule is evaluated otherwise (so NaN != t holds); the legacy ops take the
false branch on NaN whatever the rule (their reference evaluates no rule on NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tensorbridge import ir

from ._context import LiftContext
from .array import BOOL, I64, binary, cast, op, select
from .ml import F32, _gather, array_attr, matrix, post_transform, register, str_const, text

_CMP = {0: "LessEqual", 1: "Less", 2: "GreaterEqual", 3: "Greater", 4: "Equal", 5: "NotEqual"}
MEMBER, LEAF = 6, 7
_LEGACY_MODES = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4,
                 "BRANCH_NEQ": 5, "LEAF": LEAF}


@dataclass
class Forest:
    feature: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    mode: list[int] = field(default_factory=list)
    true_next: list[int] = field(default_factory=list)
    false_next: list[int] = field(default_factory=list)
    missing_true: list[bool] = field(default_factory=list)
    members: dict[int, list[float]] = field(default_factory=dict)  # state -> set members
    roots: list[int] = field(default_factory=list)
    nan_takes_false: bool = False  # legacy ops: NaN goes false unless missing_true

    def add(self, feature: int, threshold: float, mode: int, t: int, f: int, mt: bool) -> None:
        self.feature.append(feature)
        self.threshold.append(threshold)
        self.mode.append(mode)
        self.true_next.append(t)
        self.false_next.append(f)
        self.missing_true.append(mt)

    def depth(self) -> int | None:
        """Steps from the roots to the deepest leaf (None when the graph has a cycle)."""
        memo: dict[int, int] = {}

        def walk(s: int, seen: frozenset) -> int | None:
            if self.mode[s] == LEAF:
                return 0
            if s in memo:
                return memo[s]
            if s in seen:
                return None
            a = walk(self.true_next[s], seen | {s})
            b = walk(self.false_next[s], seen | {s})
            if a is None or b is None:
                return None
            memo[s] = 1 + max(a, b)
            return memo[s]

        depths = [walk(r, frozenset()) for r in self.roots]
        return None if any(d is None for d in depths) else max(depths, default=0)


# ---- building the forest tables ----------------------------------------------------------------
def _v5_forest(ctx: LiftContext, node: ir.Node) -> tuple[Forest, np.ndarray, np.ndarray]:
    """TreeEnsemble: (forest, leaf state -> target id, leaf weights)."""
    g = {k: array_attr(node, k) for k in ("nodes_featureids", "nodes_splits", "nodes_modes",
                                          "nodes_truenodeids", "nodes_falsenodeids", "nodes_trueleafs",
                                          "nodes_falseleafs", "leaf_targetids", "leaf_weights", "tree_roots")}
    mt = array_attr(node, "nodes_missing_value_tracks_true")
    members = array_attr(node, "membership_values")
    n = len(g["nodes_featureids"])
    nl = len(g["leaf_weights"])
    fr = Forest()
    member_iter = iter(_split_members(members))
    for i in range(n):
        t = int(g["nodes_truenodeids"][i]) + (n if g["nodes_trueleafs"][i] else 0)
        f = int(g["nodes_falsenodeids"][i]) + (n if g["nodes_falseleafs"][i] else 0)
        mode = int(g["nodes_modes"][i])
        if mode not in _CMP and mode != MEMBER:
            raise ctx.unsupported(f"node mode {mode}")
        if mode == MEMBER:
            fr.members[i] = next(member_iter, [])
        fr.add(int(g["nodes_featureids"][i]), float(g["nodes_splits"][i]), mode, t, f,
               bool(mt[i]) if mt is not None else False)
    for j in range(nl):
        fr.add(0, 0.0, LEAF, n + j, n + j, False)
    for r in g["tree_roots"]:
        r = int(r)
        single = (g["nodes_trueleafs"][r] and g["nodes_falseleafs"][r]
                  and g["nodes_truenodeids"][r] == g["nodes_falsenodeids"][r])
        fr.roots.append(n + int(g["nodes_truenodeids"][r]) if single else r)
    targets = np.full(n + nl, -1, np.int64)
    targets[n:] = g["leaf_targetids"]
    weights = np.zeros(n + nl, np.float64)
    weights[n:] = g["leaf_weights"]
    return fr, targets, weights


def _split_members(members: np.ndarray | None) -> list[list[float]]:
    sets, cur = [], []
    for v in ([] if members is None else members.ravel().tolist()):
        if np.isnan(v):
            sets.append(cur)
            cur = []
        else:
            cur.append(v)
    return sets


def _legacy_forest(ctx: LiftContext, node: ir.Node, prefix: str) -> tuple[Forest, list]:
    """TreeEnsembleRegressor/Classifier: (forest, [(state, target, weight)] leaf entries)."""
    tids = array_attr(node, "nodes_treeids")
    nids = array_attr(node, "nodes_nodeids")
    where = {(int(t), int(i)): k for k, (t, i) in enumerate(zip(tids, nids))}
    modes = [_LEGACY_MODES.get(text(m)) for m in node.attr("nodes_modes")]
    if None in modes:
        raise ctx.unsupported("an unknown node mode")
    values = _values(node, "nodes_values")
    feats, tn, fn = (array_attr(node, f"nodes_{k}") for k in ("featureids", "truenodeids", "falsenodeids"))
    mt = array_attr(node, "nodes_missing_value_tracks_true")
    fr = Forest(nan_takes_false=True)
    for k, tid in enumerate(tids):
        if modes[k] == LEAF:
            fr.add(0, 0.0, LEAF, k, k, False)
            continue
        t, f = where.get((int(tid), int(tn[k]))), where.get((int(tid), int(fn[k])))
        if t is None or f is None:
            raise ctx.unsupported("a branch to a node that does not exist")
        fr.add(int(feats[k]), float(values[k]), modes[k], t, f, bool(mt[k]) if mt is not None else False)
    first: dict[int, int] = {}
    for k, tid in enumerate(tids):
        first.setdefault(int(tid), k)
    fr.roots = [first[t] for t in sorted(first)]
    entries = []
    w = _values(node, f"{prefix}_weights")
    for t, i, c, wt in zip(array_attr(node, f"{prefix}_treeids"), array_attr(node, f"{prefix}_nodeids"),
                           array_attr(node, f"{prefix}_ids"), w):
        if (int(t), int(i)) not in where:
            raise ctx.unsupported("a leaf weight for a node that does not exist")
        entries.append((where[int(t), int(i)], int(c), float(wt)))
    return fr, entries


def _values(node: ir.Node, name: str) -> np.ndarray:
    a = array_attr(node, f"{name}_as_tensor")
    return array_attr(node, name, np.float32) if a is None else a


# ---- the traversal ---------------------------------------------------------------------------
def _leaves(ctx: LiftContext, x: ir.Value, fr: Forest) -> ir.Value:
    """[N, trees] int64 leaf state each row reaches in each tree."""
    x = matrix(ctx, x)
    depth = fr.depth()
    if depth is None:
        raise ctx.unsupported("a tree with a cycle")
    t = ctx.dtype(x)
    feat, thr = ctx.i64(fr.feature, "features"), ctx.const(np.asarray(fr.threshold, t.numpy), "thresholds")
    true_c, false_c = ctx.i64(fr.true_next, "true_next"), ctx.i64(fr.false_next, "false_next")
    n = op(ctx, "Slice", [op(ctx, "Shape", [x], I64, T=t, out_type=I64), ctx.i64([0]), ctx.i64([1])], I64,
           T=I64, Index=I64)
    shp = op(ctx, "ConcatV2", [n, ctx.i64([len(fr.roots)]), ctx.i64(0, "axis")], I64, N=2, T=I64, Tidx=I64)
    s = op(ctx, "BroadcastTo", [ctx.i64([fr.roots], "roots"), shp], I64, T=I64, Tidx=I64)
    for _ in range(depth):
        xv = op(ctx, "GatherV2", [x, _gather(ctx, feat, s), ctx.i64(1, "axis")], t, Tparams=t, Tindices=I64,
                Taxis=I64, batch_dims=1)
        cond = _rule(ctx, fr, s, xv, _gather(ctx, thr, s))
        s = select(ctx, cond, _gather(ctx, true_c, s), _gather(ctx, false_c, s))
    return s


def _rule(ctx: LiftContext, fr: Forest, s: ir.Value, xv: ir.Value, thr: ir.Value) -> ir.Value:
    used = sorted({m for m in fr.mode if m != LEAF})
    conds = []
    for m in used:
        c = _member(ctx, fr, s, xv) if m == MEMBER else binary(ctx, _CMP[m], xv, thr)
        if len(used) > 1:
            is_m = binary(ctx, "Equal", _gather(ctx, ctx.i64(fr.mode, "modes"), s), ctx.i64(m, "mode"))
            c = op(ctx, "LogicalAnd", [is_m, c], BOOL)
        conds.append(c)
    cond = conds[0] if conds else ctx.const(np.bool_(False), "never")
    for c in conds[1:]:
        cond = op(ctx, "LogicalOr", [cond, c], BOOL)
    nan = op(ctx, "IsNan", [xv], BOOL, T=ctx.dtype(xv))
    if fr.nan_takes_false:
        cond = op(ctx, "LogicalAnd", [cond, op(ctx, "LogicalNot", [nan], BOOL)], BOOL)
    if any(fr.missing_true):
        mt = _gather(ctx, ctx.const(np.asarray(fr.missing_true), "missing_true"), s)
        cond = op(ctx, "LogicalOr", [cond, op(ctx, "LogicalAnd", [nan, mt], BOOL)], BOOL)
    return cond


def _member(ctx: LiftContext, fr: Forest, s: ir.Value, xv: ir.Value) -> ir.Value:
    width = max((len(v) for v in fr.members.values()), default=0) or 1
    table = np.full((len(fr.mode), width), np.nan)
    for k, vals in fr.members.items():
        table[k, :len(vals)] = vals
    t = ctx.dtype(xv)
    rows = _gather(ctx, ctx.const(table.astype(t.numpy), "members"), s)
    xe = op(ctx, "ExpandDims", [xv, ctx.i64(-1, "axis")], t, T=t, Tdim=I64)
    return op(ctx, "Any", [binary(ctx, "Equal", xe, rows), ctx.i64(-1, "axis")], BOOL, Tidx=I64,
              keep_dims=False)


def _aggregate(ctx: LiftContext, leaves: ir.Value, table: np.ndarray, how: str, n_trees: int,
               t: ir.DType) -> ir.Value:
    """Reduce the reached leaves' [targets] rows over the tree axis."""
    per_tree = _gather(ctx, ctx.const(table.astype(t.numpy), "leaf_table"), leaves)
    tf_op = {"SUM": "Sum", "AVERAGE": "Sum", "MIN": "Min", "MAX": "Max"}.get(how)
    if tf_op is None:
        raise ctx.unsupported(f"aggregate_function {how}")
    y = op(ctx, tf_op, [per_tree, ctx.i64(1, "axis")], t, T=t, Tidx=I64, keep_dims=False)
    if how == "AVERAGE":
        y = binary(ctx, "RealDiv", y, ctx.const(np.asarray(n_trees, t.numpy), "n_trees"))
    return y


def _leaf_table(n_states: int, n_targets: int, entries, how: str) -> np.ndarray:
    """[states, targets]: each leaf's weight per target (the aggregation's identity elsewhere)."""
    fill = {"MIN": np.finfo(np.float64).max, "MAX": -np.finfo(np.float64).max}.get(how, 0.0)
    table = np.full((n_states, n_targets), fill)
    for s, c, w in entries:
        if how in ("SUM", "AVERAGE"):
            table[s, c] += w
        else:
            table[s, c] = min(table[s, c], w) if how == "MIN" else max(table[s, c], w)
    return table


_AGG_CODES = {0: "AVERAGE", 1: "SUM", 2: "MIN", 3: "MAX"}
_POST_CODES = {0: "NONE", 1: "SOFTMAX", 2: "LOGISTIC", 3: "SOFTMAX_ZERO", 4: "PROBIT"}


def _finite_fill(table: np.ndarray, t: ir.DType) -> np.ndarray:
    """The MIN/MAX identity as the output type's largest finite value (as the reference)."""
    big = np.finfo(t.numpy).max
    return np.clip(table, -big, big)


@register("TreeEnsemble")
def lift_tree_ensemble(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    t = ctx.dtype(x)
    fr, targets, weights = _v5_forest(ctx, node)
    how = _AGG_CODES.get(int(node.attr("aggregate_function", 1)), "?")
    entries = [(s, int(targets[s]), float(weights[s])) for s in range(len(targets)) if targets[s] >= 0]
    table = _finite_fill(_leaf_table(len(fr.mode), int(node.attr("n_targets")), entries, how), t)
    y = _aggregate(ctx, _leaves(ctx, x, fr), table, how, len(fr.roots), t)
    post = _POST_CODES.get(int(node.attr("post_transform", 0)), "?")
    if post != "NONE":
        if t is not F32:
            raise ctx.unsupported(f"post_transform {post} on {t}")
        y = post_transform(ctx, y, post)
    return [y]


def _legacy_scores(ctx: LiftContext, node: ir.Node, prefix: str, n_targets: int) -> ir.Value:
    x = node.inputs[0]
    if ctx.dtype(x) not in (F32, ir.DType.DOUBLE):
        x = cast(ctx, x, F32)
    fr, entries = _legacy_forest(ctx, node, prefix)
    how = text(node.attr("aggregate_function", "SUM"))
    table = _finite_fill(_leaf_table(len(fr.mode), n_targets, entries, how), F32)
    leaves = _leaves(ctx, x, fr)
    y = _aggregate(ctx, leaves, table, how, len(fr.roots), F32)
    base = _values(node, "base_values")
    if base is not None and base.size:
        y = binary(ctx, "AddV2", y, ctx.const(base.astype(np.float32).reshape(1, -1), "base_values"))
    return y


@register("TreeEnsembleRegressor")
def lift_tree_ensemble_regressor(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    y = _legacy_scores(ctx, node, "target", int(node.attr("n_targets", 1)))
    return [post_transform(ctx, y, text(node.attr("post_transform", "NONE")))]


@register("TreeEnsembleClassifier")
def lift_tree_ensemble_classifier(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    ints, strs = array_attr(node, "classlabels_int64s"), array_attr(node, "classlabels_strings")
    labels = ints if ints is not None else strs
    if labels is None or len(labels) < 2:
        raise ctx.unsupported("a classifier with fewer than two class labels")
    how = text(node.attr("post_transform", "NONE"))
    y = _legacy_scores(ctx, node, "class", len(labels))
    if len(set(array_attr(node, "class_ids").tolist())) == 1:  # binary: the score is class 1's
        s = op(ctx, "Slice", [y, ctx.i64([0, 0]), ctx.i64([-1, 1])], F32, T=F32, Index=I64)
        other = (binary(ctx, "Sub", ctx.const(np.float32(1), "one"), s) if how in ("NONE", "PROBIT")
                 else op(ctx, "Neg", [s], F32, T=F32))
        y = op(ctx, "ConcatV2", [other, s, ctx.i64(1, "axis")], F32, N=2, T=F32, Tidx=I64)
        if len(labels) > 2:
            raise ctx.unsupported("a one-class-id classifier with more than two labels")
    y = post_transform(ctx, y, how)
    best = op(ctx, "ArgMax", [y, ctx.i64(1, "axis")], I64, T=F32, Tidx=I64, output_type=I64)
    table = ctx.i64(labels) if ints is not None else str_const(ctx, labels, "classes")
    return [_gather(ctx, table, best), y]
