"""Convolution and pooling. TF runs these NHWC; ONNX is NCHW: wrap in Transposes (a later
layout pass cancels them). SAME = SAME_UPPER; AvgPool excludes padding (FORMATS.md 8)."""

from __future__ import annotations

from tensorbridge import ir

from . import TF_IMPORT
from ._context import ImportContext, TfNode
from ._dims import dim_from_end

_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _nhwc(ctx: ImportContext, node: TfNode) -> bool:
    fmt = ctx.attr(node, "data_format", b"NHWC")
    if fmt not in (b"NHWC", b"NCHW"):
        raise ctx.unsupported(f"data_format {fmt.decode()}", node)
    return fmt == b"NHWC"


def _spatial(values: list[int], nhwc: bool) -> list[int]:
    return list(values[1:3] if nhwc else values[2:4])


def _same_pads(size: int | None, k: int, s: int, d: int) -> tuple[int, int] | None:
    """TF SAME: out = ceil(in/s), total = max((out-1)*s + (k-1)*d + 1 - in, 0), extra at
    the end. Independent of ``in`` when s == 1."""
    if s == 1:
        total = (k - 1) * d
    elif size is None:
        return None
    else:
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _padding(ctx: ImportContext, node: TfNode, nhwc: bool, kernel: list[int] | None,
             strides: list[int], dilations: list[int]) -> dict:
    padding = ctx.attr(node, "padding")
    if padding == b"VALID":
        return {"pads": [0, 0, 0, 0]}
    if padding == b"SAME":
        # explicit pads where they are known (ORT refuses auto_pad with dilations)
        shape = ctx.input(node, 0).shape
        sizes = _spatial(list(shape), nhwc) if shape is not None and len(shape) == 4 else [None] * 2
        if kernel is not None:
            pads = [_same_pads(n if isinstance(n, int) else None, k, s, d)
                    for n, k, s, d in zip(sizes, kernel, strides, dilations)]
            if all(p is not None for p in pads):
                return {"pads": [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]}
        if any(d != 1 for d in dilations):
            raise ctx.unsupported("SAME padding with dilations on unknown spatial dims", node)
        return {"auto_pad": "SAME_UPPER"}  # TF puts the odd pad at the end
    if padding == b"EXPLICIT":
        p = list(ctx.attr(node, "explicit_paddings"))
        h, w = (p[2:4], p[4:6]) if nhwc else (p[4:6], p[6:8])
        return {"pads": [h[0], w[0], h[1], w[1]]}
    raise ctx.unsupported(f"padding {padding!r}", node)


def _wrap(ctx: ImportContext, nhwc: bool, x: ir.Value, fn) -> ir.Value:
    if not nhwc:
        return fn(x)
    y = fn(ctx.b.op("Transpose", [x], perm=_TO_NCHW))
    return ctx.b.op("Transpose", [y], perm=_TO_NHWC)


@TF_IMPORT.register("Conv2D")
def import_conv2d(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    nhwc = _nhwc(ctx, node)
    strides = _spatial(ctx.attr(node, "strides"), nhwc)
    dilations = _spatial(ctx.attr(node, "dilations", [1, 1, 1, 1]), nhwc)
    kshape = ctx.input(node, 1).shape  # HWIO
    kernel = [kshape[0], kshape[1]] if kshape is not None and len(kshape) == 4 else None
    if kernel is not None and not all(isinstance(k, int) for k in kernel):
        kernel = None
    kw = _padding(ctx, node, nhwc, kernel, strides, dilations)
    group = _group(ctx, node, nhwc, kshape)
    if group != 1:
        kw["group"] = group
    w = ctx.b.op("Transpose", [ctx.input(node, 1)], perm=[3, 2, 0, 1])  # HWIO -> OIHW

    def conv(x: ir.Value) -> ir.Value:
        return ctx.b.op("Conv", [x, w], strides=strides, dilations=dilations, **kw)

    return [_wrap(ctx, nhwc, ctx.input(node, 0), conv)]


def _group(ctx: ImportContext, node: TfNode, nhwc: bool, kshape) -> int:
    """Input channels / filter in-channels: Keras Conv2D(groups=g) is a TF Conv2D whose HWIO
    filter holds C_in/g input channels (TF infers g from the shapes; ONNX needs it as an
    attribute). The input's channel count comes from its static shape or its producers
    (ops/_dims.py); unknown, the filter must cover every input channel (group 1), as for any
    ungrouped conv."""
    f_in = kshape[2] if kshape is not None and len(kshape) == 4 else None
    c_in = dim_from_end(ctx.input(node, 0), 1 if nhwc else 3)
    if c_in is None:
        return 1
    if not isinstance(f_in, int):
        raise ctx.unsupported(f"a filter of unknown input depth on a {c_in}-channel input "
                              "(the group count cannot be inferred)", node)
    if f_in <= 0 or c_in % f_in:
        raise ctx.unsupported(f"input depth {c_in} is not a multiple of the filter's input "
                              f"depth {f_in}", node)
    return c_in // f_in


def _pool(ctx: ImportContext, node: TfNode, op: str, **extra) -> ir.Value:
    nhwc = _nhwc(ctx, node)
    ksize = _spatial(ctx.attr(node, "ksize"), nhwc)
    strides = _spatial(ctx.attr(node, "strides"), nhwc)
    kw = _padding(ctx, node, nhwc, ksize, strides, [1, 1])
    return _wrap(ctx, nhwc, ctx.input(node, 0),
                 lambda x: ctx.b.op(op, [x], kernel_shape=ksize, strides=strides, **kw, **extra))


@TF_IMPORT.register("MaxPool")
def import_maxpool(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [_pool(ctx, node, "MaxPool")]


@TF_IMPORT.register("AvgPool")
def import_avgpool(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF leaves padded cells out of the divisor
    return [_pool(ctx, node, "AveragePool", count_include_pad=0)]
