"""More convolutions and pooling: depthwise, 3-D, transposed (Conv2DBackpropInput), 3-D pools,
MaxPoolV2. TF runs them channels-last; ONNX is channels-first: wrap in Transposes as conv.py
does (a later layout pass cancels them). FORMATS.md 8: depthwise [H,W,C,M] -> group=C with
weights [C*M,1,H,W]; Conv2DBackpropInput [H,W,out,in] + input_sizes -> ConvTranspose."""

from __future__ import annotations

from tensorbridge import ir

from . import TF_IMPORT
from ._context import ImportContext, TfNode
from .conv import _same_pads

_LAST = {b"NHWC": True, b"NDHWC": True, b"NCHW": False, b"NCDHW": False}


def _channels_last(ctx: ImportContext, node: TfNode, default: bytes) -> bool:
    fmt = ctx.attr(node, "data_format", default)
    if fmt not in _LAST:
        raise ctx.unsupported(f"data_format {fmt.decode()}", node)
    return _LAST[fmt]


def _spatial(values, last: bool, rank: int) -> list[int]:
    values = [int(v) for v in values]
    return values[1:rank - 1] if last else values[2:rank]


def _static(dims) -> list[int] | None:
    dims = list(dims) if dims is not None else None
    return dims if dims is not None and all(isinstance(d, int) for d in dims) else None


def _wrap(ctx: ImportContext, last: bool, x: ir.Value, rank: int, fn) -> ir.Value:
    """fn on the channels-first form of a channels-last x (and back)."""
    if not last:
        return fn(x)
    y = fn(ctx.b.op("Transpose", [x], perm=[0, rank - 1, *range(1, rank - 1)]))
    return ctx.b.op("Transpose", [y], perm=[0, *range(2, rank), 1])


def _pads(ctx: ImportContext, node: TfNode, last: bool, rank: int, kernel: list[int] | None,
          strides: list[int], dilations: list[int]) -> dict:
    """ONNX pads (or auto_pad) for TF SAME / VALID / EXPLICIT on rank-2 spatial dims."""
    n = rank - 2
    padding = ctx.attr(node, "padding")
    if padding == b"VALID":
        return {"pads": [0] * (2 * n)}
    if padding == b"EXPLICIT":
        p = [int(v) for v in ctx.attr(node, "explicit_paddings")]
        pairs = [p[2 * i:2 * i + 2] for i in (range(1, rank - 1) if last else range(2, rank))]
        return {"pads": [b for b, _ in pairs] + [e for _, e in pairs]}
    if padding != b"SAME":
        raise ctx.unsupported(f"padding {padding!r}", node)
    shape = ctx.input(node, 0).shape
    sizes = (_spatial([d if isinstance(d, int) else -1 for d in shape], last, rank)
             if shape is not None and len(shape) == rank else [-1] * n)
    if kernel is not None:
        pads = [_same_pads(None if size < 0 else size, k, s, d)
                for size, k, s, d in zip(sizes, kernel, strides, dilations)]
        if all(p is not None for p in pads):
            return {"pads": [p[0] for p in pads] + [p[1] for p in pads]}
    if any(d != 1 for d in dilations):
        raise ctx.unsupported("SAME padding with dilations on unknown spatial dims", node)
    return {"auto_pad": "SAME_UPPER"}  # TF puts the odd pad at the end


@TF_IMPORT.register("DepthwiseConv2dNative")
def import_depthwiseconv2dnative(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    last = _channels_last(ctx, node, b"NHWC")
    kshape = _static(ctx.input(node, 1).shape)  # [H, W, C, M]
    if kshape is None or len(kshape) != 4:
        raise ctx.unsupported("depthwise filter with an unknown shape", node)
    h, w, c, m = kshape
    strides = _spatial(ctx.attr(node, "strides"), last, 4)
    dilations = _spatial(ctx.attr(node, "dilations", [1, 1, 1, 1]), last, 4)
    kw = _pads(ctx, node, last, 4, [h, w], strides, dilations)
    # [H,W,C,M] -> [H,W,1,C*M] (output channel c*M + m, as TF orders it) -> [C*M,1,H,W]
    flat = ctx.b.op("Reshape", [ctx.input(node, 1), ctx.i64([h, w, 1, c * m], "hw1cm")])
    weights = ctx.b.op("Transpose", [flat], perm=[3, 2, 0, 1])
    return [_wrap(ctx, last, ctx.input(node, 0), 4, lambda x: ctx.b.op(
        "Conv", [x, weights], group=c, strides=strides, dilations=dilations, **kw))]


@TF_IMPORT.register("Conv3D")
def import_conv3d(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    last = _channels_last(ctx, node, b"NDHWC")
    strides = _spatial(ctx.attr(node, "strides"), last, 5)
    dilations = _spatial(ctx.attr(node, "dilations", [1] * 5), last, 5)
    kshape = _static(ctx.input(node, 1).shape)  # [D, H, W, I, O]
    kw = _pads(ctx, node, last, 5, kshape[:3] if kshape else None, strides, dilations)
    xshape = ctx.input(node, 0).shape
    cin = xshape[-1 if last else 1] if xshape is not None and len(xshape) == 5 else None
    if kshape is not None and isinstance(cin, int) and cin != kshape[3]:
        kw["group"] = cin // kshape[3]  # grouped: input channels / filter in-channels
    weights = ctx.b.op("Transpose", [ctx.input(node, 1)], perm=[4, 3, 0, 1, 2])
    return [_wrap(ctx, last, ctx.input(node, 0), 5, lambda x: ctx.b.op(
        "Conv", [x, weights], strides=strides, dilations=dilations, **kw))]


def _elements(ctx: ImportContext, v: ir.Value) -> list[int | None] | None:
    """A 1-D int tensor's elements where known (None: unknown): a constant, or a Concat (a
    packed shape such as [batch, 9, 9, C]) of constants and one-element unknowns."""
    const = ctx.constant_value(v)
    if const is not None:
        return [int(e) for e in const.reshape(-1)]
    p = v.producer()
    if p is None or p.op_type != "Concat":
        return None
    out: list[int | None] = []
    for part in p.inputs:
        src = part
        while src is not None and src.producer() is not None and src.producer().op_type in (
                "Unsqueeze", "Reshape", "Cast"):
            src = src.producer().inputs[0]
        const = ctx.constant_value(src) if src is not None else None
        if const is not None:
            out.extend(int(e) for e in const.reshape(-1))
        elif (part.shape is not None and list(part.shape) == [1]) or (
                part.producer() is not None and part.producer().op_type == "Unsqueeze"):
            out.append(None)  # one element: concatenated into a 1-D tensor, an unsqueezed scalar
        else:
            return None
    return out


def _transposed_pads(ctx: ImportContext, node: TfNode, last: bool, outs: list[int],
                     kernel: list[int], strides: list[int], dilations: list[int]):
    """(begin pads, end pads, output_padding) of the ConvTranspose that inverts TF's forward
    Conv2D on an input of spatial size ``outs``."""
    padding = ctx.attr(node, "padding")
    if padding == b"EXPLICIT":
        p = [int(v) for v in ctx.attr(node, "explicit_paddings")]
        fwd = [p[2:4], p[4:6]] if last else [p[4:6], p[6:8]]
    elif padding == b"VALID":
        fwd = [[0, 0], [0, 0]]
    elif padding == b"SAME":
        fwd = [list(_same_pads(o, k, s, d)) for o, k, s, d in zip(outs, kernel, strides, dilations)]
    else:
        raise ctx.unsupported(f"padding {padding!r}", node)
    begins, ends, extra = [], [], []
    for o, k, s, d, (b, e) in zip(outs, kernel, strides, dilations, fwd):
        span = (k - 1) * d + 1
        i = (o + b + e - span) // s + 1  # the forward conv's output size
        crop = s * (i - 1) + span - b - o
        begins.append(b)
        ends.append(max(crop, 0))
        extra.append(max(-crop, 0))
    return begins, ends, extra


@TF_IMPORT.register("Conv2DBackpropInput")
def import_conv2dbackpropinput(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    """The transposed convolution: the gradient of Conv2D(input of size O, filter) w.r.t. its
    input, whose size I TF checks to be the forward output size of O. ConvTranspose makes the
    full s*(I-1) + (k-1)*d + 1 extent; the forward begin pad is cropped at the start, and at
    the end what exceeds O (or output_padding adds zeros when O is larger)."""
    last = _channels_last(ctx, node, b"NHWC")
    strides = _spatial(ctx.attr(node, "strides"), last, 4)
    dilations = _spatial(ctx.attr(node, "dilations", [1, 1, 1, 1]), last, 4)
    kshape = _static(ctx.input(node, 1).shape)  # [H, W, out, in]
    sizes = _elements(ctx, ctx.input(node, 0))
    outs = _spatial([-1 if e is None else e for e in sizes], last, 4) \
        if sizes is not None and len(sizes) == 4 else [-1, -1]
    if kshape is None or min(outs) < 0:
        raise ctx.unsupported("Conv2DBackpropInput needs static spatial input_sizes and a "
                              "static filter shape", node)
    begins, ends, extra = _transposed_pads(ctx, node, last, outs, kshape[:2], strides,
                                           dilations)
    kw = {"output_padding": extra} if any(extra) else {}
    weights = ctx.b.op("Transpose", [ctx.input(node, 1)], perm=[3, 2, 0, 1])  # [in,out,H,W]
    return [_wrap(ctx, last, ctx.input(node, 2), 4, lambda x: ctx.b.op(
        "ConvTranspose", [x, weights], strides=strides, dilations=dilations,
        pads=begins + ends, **kw))]


def _pool(ctx: ImportContext, node: TfNode, op: str, rank: int, ksize, strides, **extra):
    last = _channels_last(ctx, node, b"NHWC" if rank == 4 else b"NDHWC")
    ksize, strides = _spatial(ksize, last, rank), _spatial(strides, last, rank)
    kw = _pads(ctx, node, last, rank, ksize, strides, [1] * (rank - 2))
    return _wrap(ctx, last, ctx.input(node, 0), rank, lambda x: ctx.b.op(
        op, [x], kernel_shape=ksize, strides=strides, **kw, **extra))


@TF_IMPORT.register("MaxPool3D")
def import_maxpool3d(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    return [_pool(ctx, node, "MaxPool", 5, ctx.attr(node, "ksize"), ctx.attr(node, "strides"))]


@TF_IMPORT.register("AvgPool3D")
def import_avgpool3d(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # TF leaves padded cells out of the divisor
    return [_pool(ctx, node, "AveragePool", 5, ctx.attr(node, "ksize"),
                  ctx.attr(node, "strides"), count_include_pad=0)]


@TF_IMPORT.register("MaxPoolV2")
def import_maxpoolv2(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    ksize, strides = (ctx.constant_value(ctx.input(node, i)) for i in (1, 2))
    if ksize is None or strides is None:
        raise ctx.unsupported("MaxPoolV2 with a non-constant ksize or strides", node)
    return [_pool(ctx, node, "MaxPool", 4, ksize, strides)]
