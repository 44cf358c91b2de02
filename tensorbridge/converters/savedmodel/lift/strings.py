"""Lift: string ops (StringConcat, RegexFullMatch, StringSplit, StringNormalizer).

StringConcat is TF's Add, which concatenates strings with numpy broadcasting. RegexFullMatch
is StaticRegexFullMatch: both ONNX and TF specify RE2 syntax. StringSplit flattens the input,
runs StringSplitV2 (Python's str.split semantics, as ONNX: an empty delimiter splits on runs
of whitespace and drops the ends; maxsplit bounds the splits) and densifies its sparse result,
padding with empty strings to the longest row. StringNormalizer changes case with
StringLower/StringUpper (UTF-8, so non-ASCII letters too) and drops the elements equal to a
stop word (compared case-folded when not case sensitive); a [C] or [1, C] input whose every
element was dropped gives a single empty string, as ONNX specifies.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from .array import BOOL, I64, binary, concat, op, reshape, shape_of
from .ml import str_const, text

STR = ir.DType.STRING
register = TF_LIFT.register


def _need_strings(ctx: LiftContext, *xs: ir.Value) -> None:
    for x in xs:
        if ctx.dtype(x) is not STR:
            raise ctx.unsupported(f"{ctx.node.op_type} takes string tensors")


@register("StringConcat")
def lift_string_concat(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, y = node.inputs
    _need_strings(ctx, x, y)
    return [op(ctx, "Add", [x, y], STR, T=STR)]


@register("RegexFullMatch")
def lift_regex_full_match(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    _need_strings(ctx, x)
    pattern = node.attr("pattern", None)
    if pattern is None:
        raise ctx.unsupported("RegexFullMatch without a pattern")
    return [op(ctx, "StaticRegexFullMatch", [x], BOOL, pattern=text(pattern))]


_SPACE = "[ \\t\\n\\v\\f\\r]+"


@register("StringSplit")
def lift_string_split(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    _need_strings(ctx, x)
    sep = text(node.attr("delimiter", "") or "")
    maxsplit = node.attr("maxsplit", None)
    maxsplit = -1 if maxsplit is None else int(maxsplit)
    flat = reshape(ctx, x, ctx.i64([-1]))
    n = op(ctx, "Size", [flat], I64, T=STR, out_type=I64)
    if sep == "" and maxsplit >= 0:
        # TF keeps the leading blanks of an unsplit rest and may add an empty last token
        # there; Python's whitespace split yields no empty token: strip, split, drop empties
        flat = op(ctx, "StaticRegexReplace", [flat], STR, pattern="^" + _SPACE, rewrite="",
                  replace_global=False)
    idx, vals, _ = ctx.tf_multi("StringSplitV2", [flat, ctx.const(np.asarray(sep.encode(), object), "sep",
                                                                  STR)], 3, maxsplit=maxsplit)
    idx.type, vals.type = ir.TensorType(I64, None), ir.TensorType(STR, None)
    row = op(ctx, "Squeeze", [op(ctx, "Slice", [idx, ctx.i64([0, 0]), ctx.i64([-1, 1])], I64, T=I64,
                                 Index=I64)], I64, T=I64, squeeze_dims=[1])
    if sep == "" and maxsplit >= 0:
        keep = op(ctx, "Where", [binary(ctx, "NotEqual", vals, _empty(ctx))], I64, T=BOOL)
        row = op(ctx, "GatherNd", [row, keep], I64, Tparams=I64, Tindices=I64)
        vals = op(ctx, "GatherNd", [vals, keep], STR, Tparams=STR, Tindices=I64)
    counts = op(ctx, "UnsortedSegmentSum", [op(ctx, "OnesLike", [row], I64, T=I64), row, n], I64, T=I64,
                Tindices=I64, Tnumsegments=I64)
    dense = _densify(ctx, row, vals, counts, n)
    xshape = shape_of(ctx, x)
    width = op(ctx, "Slice", [shape_of(ctx, dense), ctx.i64([1]), ctx.i64([1])], I64, T=I64, Index=I64)
    return [reshape(ctx, dense, concat(ctx, [xshape, width])), reshape(ctx, counts, xshape)]


def _empty(ctx: LiftContext) -> ir.Value:
    return ctx.const(np.asarray(b"", object), "empty", STR)


def _densify(ctx: LiftContext, row: ir.Value, vals: ir.Value, counts: ir.Value, n: ir.Value) -> ir.Value:
    """[n, max(counts)] strings: row r holds its tokens (in order), then empty strings."""
    start = op(ctx, "Cumsum", [counts, ctx.i64(0, "axis")], I64, T=I64, Tidx=I64, exclusive=True,
               reverse=False)
    k = op(ctx, "Size", [row], I64, T=I64, out_type=I64)
    col = binary(ctx, "Sub", op(ctx, "Range", [ctx.i64(0, "zero"), k, ctx.i64(1, "one")], I64, Tidx=I64),
                 op(ctx, "GatherV2", [start, row, ctx.i64(0, "axis")], I64, Tparams=I64, Tindices=I64,
                    Taxis=I64, batch_dims=0))
    coords = op(ctx, "Pack", [row, col], I64, N=2, T=I64, axis=1)
    width = op(ctx, "Max", [concat(ctx, [counts, ctx.i64([0])]), ctx.i64(0, "axis")], I64, T=I64, Tidx=I64,
               keep_dims=True)
    shape = concat(ctx, [reshape(ctx, n, ctx.i64([1])), width])
    return op(ctx, "SparseToDense", [coords, shape, vals, _empty(ctx)], STR, T=STR, Tindices=I64,
              validate_indices=True)


@register("StringNormalizer")
def lift_string_normalizer(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    _need_strings(ctx, x)
    action = text(node.attr("case_change_action", "NONE"))
    if action not in ("NONE", "LOWER", "UPPER"):
        raise ctx.unsupported(f"case_change_action {action!r}")
    stops = [text(s) for s in (node.attr("stopwords", None) or ())]
    y = _change_case(ctx, x, action)
    if not stops:
        return [y]
    shape = ctx.shape(x)
    if shape is None or len(shape) not in (1, 2) or (len(shape) == 2 and shape[0] != 1):
        raise ctx.unsupported("stop words need a [C] or [1, C] input")
    if int(node.attr("is_case_sensitive", 0)):
        probe, words = x, stops
    else:  # compare lower-cased: the case change applied after comparison does not matter
        probe, words = _change_case(ctx, x, "LOWER"), [w.lower() for w in stops]
    flat_probe, flat_y = (reshape(ctx, v, ctx.i64([-1])) for v in (probe, y))
    eq = binary(ctx, "Equal", op(ctx, "ExpandDims", [flat_probe, ctx.i64(-1, "axis")], STR, T=STR, Tdim=I64),
                str_const(ctx, words, "stopwords"))
    stop = op(ctx, "Any", [eq, ctx.i64(-1, "axis")], BOOL, Tidx=I64, keep_dims=False)
    keep = op(ctx, "Where", [op(ctx, "LogicalNot", [stop], BOOL)], I64, T=BOOL)
    kept = op(ctx, "GatherNd", [flat_y, keep], STR, Tparams=STR, Tindices=I64)
    # [kept..., ""][:max(len(kept), 1)]: one empty string when every element was a stop word
    n = op(ctx, "Size", [kept], I64, T=STR, out_type=I64)
    n = reshape(ctx, binary(ctx, "Maximum", n, ctx.i64(1, "one")), ctx.i64([1]))
    padded = concat(ctx, [kept, ctx.const(np.asarray([b""], object), "pad", STR)])
    out = op(ctx, "Slice", [padded, ctx.i64([0]), n], STR, T=STR, Index=I64)
    return [out if len(shape) == 1 else reshape(ctx, out, ctx.i64([1, -1]))]


def _change_case(ctx: LiftContext, x: ir.Value, action: str) -> ir.Value:
    if action == "NONE":
        return x
    return op(ctx, "StringLower" if action == "LOWER" else "StringUpper", [x], STR, encoding="utf-8")


# ---- TfIdfVectorizer -------------------------------------------------------------------------
def _pool_grams(ctx: LiftContext, node: ir.Node) -> dict[int, dict[tuple, int]]:
    """n -> {n-gram: output column} for the pool's n-grams with min <= n <= max (a repeated
    n-gram keeps its last column)."""
    ints, strs = node.attr("pool_int64s", None), node.attr("pool_strings", None)
    pool = list(ints) if ints else [s if isinstance(s, bytes) else str(s).encode() for s in (strs or ())]
    counts = list(node.attr("ngram_counts", ()))
    cols = list(node.attr("ngram_indexes", ()))
    lo, hi = int(node.attr("min_gram_length")), int(node.attr("max_gram_length"))
    grams: dict[int, dict[tuple, int]] = {}
    gram_id = 0
    for i, start in enumerate(counts):
        n = i + 1
        end = counts[i + 1] if i + 1 < len(counts) else len(pool)
        for j in range(start, end - n + 1, n):
            if lo <= n <= hi:
                grams.setdefault(n, {})[tuple(pool[j:j + n])] = cols[gram_id]
            gram_id += 1
    return grams


def _tail_slice(ctx: LiftContext, x: ir.Value, begin: int, end_back: int) -> ir.Value:
    """x[..., begin : C - end_back] (the last axis)."""
    t = ctx.dtype(x)
    return op(ctx, "StridedSlice", [x, ctx.i64([0, begin]), ctx.i64([0, -end_back if end_back else 0]),
                                    ctx.i64([1, 1])], t, T=t, Index=I64, begin_mask=1,
              end_mask=1 | (0 if end_back else 2), ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0)


def _gram_counts(ctx: LiftContext, x: ir.Value, grams: dict[tuple, int], n: int, skip: int,
                 width: int) -> ir.Value:
    """[B, width] float: how often each pool n-gram occurs with ``skip`` - 1 elements between
    its items, added into its output column."""
    keys = list(grams)
    t = ctx.dtype(x)
    hit = None
    for k in range(n):
        part = _tail_slice(ctx, x, k * skip, (n - 1 - k) * skip)
        part = op(ctx, "ExpandDims", [part, ctx.i64(-1, "axis")], t, T=t, Tdim=I64)
        col = [g[k] for g in keys]
        col_c = ctx.const(np.asarray(col, object), "pool", STR) if t is STR else ctx.i64(col, "pool")
        eq = binary(ctx, "Equal", part, col_c)
        hit = eq if hit is None else op(ctx, "LogicalAnd", [hit, eq], BOOL)
    f32 = ir.DType.FLOAT
    found = op(ctx, "Sum", [op(ctx, "Cast", [hit], f32, SrcT=BOOL, DstT=f32, Truncate=False),
                            ctx.i64(1, "axis")], f32, T=f32, Tidx=I64, keep_dims=False)
    onehot = np.zeros((len(keys), width), np.float32)
    for m, g in enumerate(keys):
        onehot[m, grams[g]] = 1
    return op(ctx, "MatMul", [found, ctx.const(onehot, "columns")], f32, T=f32, transpose_a=False,
              transpose_b=False)


@register("TfIdfVectorizer")
def lift_tfidf_vectorizer(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = node.inputs[0]
    rank = ctx.rank(x)
    if rank not in (1, 2):
        raise ctx.unsupported("the input must be [C] or [B, C]")
    if ctx.dtype(x) is not STR:
        x = op(ctx, "Cast", [x], I64, SrcT=ctx.dtype(x), DstT=I64, Truncate=False)
    rows = x if rank == 2 else reshape(ctx, x, ctx.i64([1, -1]))
    width = max(node.attr("ngram_indexes", ()), default=-1) + 1
    f32 = ir.DType.FLOAT
    freq = None
    for n, grams in sorted(_pool_grams(ctx, node).items()):
        for skip in range(1, (1 if n == 1 else int(node.attr("max_skip_count", 0)) + 1) + 1):
            c = _gram_counts(ctx, rows, grams, n, skip, width)
            freq = c if freq is None else binary(ctx, "AddV2", freq, c)
    if freq is None:
        b = op(ctx, "Slice", [shape_of(ctx, rows), ctx.i64([0]), ctx.i64([1])], I64, T=I64, Index=I64)
        freq = op(ctx, "Fill", [concat(ctx, [b, ctx.i64([width])]), ctx.const(np.float32(0), "zero")], f32,
                  T=f32, index_type=I64)
    y = _weigh(ctx, node, freq, width)
    return [y if rank == 2 else reshape(ctx, y, ctx.i64([-1]))]


def _weigh(ctx: LiftContext, node: ir.Node, freq: ir.Value, width: int) -> ir.Value:
    mode = text(node.attr("mode", "TF"))
    w = node.attr("weights", None)
    w = ctx.const(np.asarray(w, np.float32), "weights") if w else None
    if mode == "TF" or (mode == "TFIDF" and w is None):
        return freq
    if mode == "TFIDF":
        return binary(ctx, "Mul", freq, w)
    if mode == "IDF":
        seen = binary(ctx, "Greater", freq, ctx.const(np.float32(0), "zero"))
        on = w if w is not None else ctx.const(np.ones(width, np.float32), "ones")
        return op(ctx, "SelectV2", [seen, on, ctx.const(np.float32(0), "zero")], ir.DType.FLOAT,
                  T=ir.DType.FLOAT)
    raise ctx.unsupported(f"mode {mode!r}")
