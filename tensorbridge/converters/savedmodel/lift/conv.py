"""Lift: Conv and ConvTranspose (1-D/2-D/3-D) as NHWC TF convolutions between Transposes.

TF's CPU kernels run convolutions only channels-last (FORMATS.md 8), so an ONNX NCHW Conv
becomes ``Transpose(NCHW->NHWC) -> Conv2D/DepthwiseConv2dNative/Conv3D -> Transpose back``.
prepare_layout (lift/layout.py) builds the same form with ONNX Transposes, which the layout
pass then cancels between layers. 1-D convolutions run as 2-D ones over a unit height.

Padding: explicit ONNX pads become Conv2D ``EXPLICIT`` paddings (a zero Pad for Conv3D);
``auto_pad`` is resolved to pads from static shapes, and a dynamic SAME_UPPER is TF's SAME
(FORMATS.md 8: the extra pad goes at the end in both). Groups: 1 -> Conv2D/Conv3D, one
input channel per group (2-D) -> DepthwiseConv2dNative, others -> one conv per group
(Split/ConcatV2: the stock Eigen CPU kernels lack grouped convolutions). ConvTranspose is the
full Conv*BackpropInput (VALID) cropped by the pads; its output_padding rows are added to the
full size (it is < stride, so the forward VALID conv still fits), which is exact.
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext

I32 = ir.DType.INT32


# ---- layout helpers (shared by pool.py, norm.py, resize.py and layout.py) ------------------
def channels_last(rank: int) -> list[int]:
    return [0, *range(2, rank), 1]


def channels_first(rank: int) -> list[int]:
    return [0, rank - 1, *range(1, rank - 1)]


def ttype(dtype: ir.DType, shape=None) -> list[ir.TensorType]:
    return [ir.TensorType(dtype, None if shape is None else tuple(shape))]


def transpose(ctx: LiftContext, x: ir.Value, perm: list[int], dtype: ir.DType) -> ir.Value:
    """A Transpose: an ONNX one under prepare_layout (``ctx.onnx_layout``), else TF's. Of an
    unknown shape, its type is left to the caller (the driver gives a handler's outputs the
    ONNX node's types)."""
    types = None if x.shape is None else ttype(dtype, [x.shape[p] for p in perm])
    if getattr(ctx, "onnx_layout", False):
        return ctx.b.node("Transpose", [x], perm=list(perm), types=types).outputs[0]
    return ctx.tf("Transpose", [x, ctx.i32(perm, "perm")], T=dtype, Tperm=I32, types=types)


def to_nchw(ctx: LiftContext, node: ir.Node, y: ir.Value, rank: int, dtype: ir.DType,
            out: int = 0) -> ir.Value:
    """Channels-last ``y`` (typed as output ``out`` of ``node``, transposed) back to NCHW: the
    shape matters once the layout pass has moved this Transpose and other ops read ``y``."""
    shape = node.outputs[out].shape
    if shape is not None and len(shape) == rank:
        y.type = ir.TensorType(dtype, tuple(shape[p] for p in channels_last(rank)))
    return transpose(ctx, y, channels_first(rank), dtype)


def text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def ints(node: ir.Node, name: str, n: int, default: int) -> list[int]:
    v = node.attr(name)
    return [default] * n if v is None or len(v) == 0 else [int(a) for a in v]


def spatial_in(x: ir.Value) -> list[int | None]:
    return [d if isinstance(d, int) else None for d in (x.shape or ())[2:]]


def resolve_pads(ctx: LiftContext, node: ir.Node, sizes: list[int | None], kernel: list[int],
                 strides: list[int], dilations: list[int], ceil: bool = False):
    """[(begin, end)] per spatial dim, or "SAME" (TF's SAME, for a dynamic SAME_UPPER)."""
    n = len(kernel)
    auto = text(node.attr("auto_pad", "NOTSET"))
    if auto in ("NOTSET", ""):
        p = ints(node, "pads", 2 * n, 0)
        if min(p) < 0:
            raise ctx.unsupported("negative pads")
        return [(p[i], p[n + i]) for i in range(n)]
    if auto == "VALID":
        return [(0, 0)] * n
    if None in sizes:
        if auto == "SAME_UPPER" and not ceil:
            return "SAME"
        raise ctx.unsupported(f"auto_pad={auto} needs static spatial dims")
    return same_pads(sizes, kernel, strides, dilations, lower=auto == "SAME_LOWER")


def same_pads(sizes, kernel, strides, dilations, lower: bool = False):
    """SAME pads (TF's = SAME_UPPER: the odd cell at the end); None for a dynamic size."""
    if None in sizes:
        return None
    pads = []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        pads.append((total - small, small) if lower else (small, total - small))
    return pads


def pad(ctx: LiftContext, x: ir.Value, pads, dtype: ir.DType, value=None) -> ir.Value:
    """Channels-last ``x`` padded by spatial ``pads`` (zeros, or ``value``)."""
    if all(b == 0 and e == 0 for b, e in pads):
        return x
    table = ctx.i32([[0, 0], *pads, [0, 0]], "paddings")
    if value is None:
        return ctx.tf("Pad", [x, table], T=dtype, Tpaddings=I32, types=ttype(dtype))
    fill = ctx.const(np.asarray(value, dtype=dtype.numpy), "pad_value")
    return ctx.tf("PadV2", [x, table, fill], T=dtype, Tpaddings=I32, types=ttype(dtype))


def expand_1d(ctx: LiftContext, x: ir.Value, dtype: ir.DType) -> ir.Value:
    """[N, W, C] -> [N, 1, W, C]."""
    return ctx.tf("ExpandDims", [x, ctx.i32(1, "axis")], T=dtype, Tdim=I32, types=ttype(dtype))


def squeeze_1d(ctx: LiftContext, y: ir.Value, dtype: ir.DType) -> ir.Value:
    return ctx.tf("Squeeze", [y], T=dtype, squeeze_dims=[1], types=ttype(dtype))


def strided_attrs(dtype: ir.DType, begin_mask: int, end_mask: int) -> dict:
    return dict(T=dtype, Index=I32, begin_mask=begin_mask, end_mask=end_mask, ellipsis_mask=0,
                new_axis_mask=0, shrink_axis_mask=0)


# ---- filters ---------------------------------------------------------------------------
def _filter(ctx: LiftContext, w: ir.Value, perm: list[int], dtype: ir.DType,
            reshape: list[int] | None = None) -> ir.Value:
    """``w`` (optionally reshaped first) transposed: a constant when ``w`` is one."""
    arr = ctx.constant_value(w)
    if arr is not None:
        arr = arr.reshape(reshape) if reshape is not None else arr
        return ctx.const(np.ascontiguousarray(arr.transpose(perm)), "filter")
    if reshape is not None:
        w = ctx.tf("Reshape", [w, ctx.i32(reshape, "shape")], T=dtype, Tshape=I32, types=ttype(dtype))
    return transpose(ctx, w, perm, dtype)


def _filters(ctx: LiftContext, w: ir.Value, perm: list[int], dtype: ir.DType, groups: int) -> list[ir.Value]:
    """``w`` transposed by ``perm``, in ``groups`` parts along its last axis (constants when
    ``w`` is one)."""
    arr = ctx.constant_value(w)
    if arr is None:
        f = _filter(ctx, w, perm, dtype)
        return [f] if groups == 1 else _split(ctx, f, groups, -1, dtype)
    parts = np.split(arr.transpose(perm), groups, axis=-1)
    return [ctx.const(np.ascontiguousarray(a), "filter") for a in parts]


def _split(ctx: LiftContext, v: ir.Value, groups: int, axis: int, dtype: ir.DType) -> list[ir.Value]:
    node = ctx.tf_node("Split", [ctx.i32(axis, "split_dim"), v], num_outputs=groups,
                       types=ttype(dtype) * groups, T=dtype, num_split=groups)
    return list(node.outputs)


def _concat(ctx: LiftContext, parts: list[ir.Value], axis: int, dtype: ir.DType) -> ir.Value:
    return ctx.tf("ConcatV2", [*parts, ctx.i32(axis, "axis")], T=dtype, N=len(parts), Tidx=I32,
                  types=ttype(dtype))


# ---- Conv ------------------------------------------------------------------------------
def _conv_op(ctx, xl, f, dtype, strides, dilations, pads, depthwise):
    n = len(strides)
    attrs = dict(T=dtype, strides=[1, *strides, 1], dilations=[1, *dilations, 1])
    op = "DepthwiseConv2dNative" if depthwise else "Conv2D" if n == 2 else "Conv3D"
    if pads == "SAME":
        attrs["padding"] = "SAME"
    elif n == 3 or depthwise:  # TF 2.21's grappler aborts on an EXPLICIT DepthwiseConv2dNative
        xl, attrs["padding"] = pad(ctx, xl, pads, dtype), "VALID"
    elif any(b or e for b, e in pads):
        attrs["padding"] = "EXPLICIT"
        attrs["explicit_paddings"] = [0, 0, *[p for be in pads for p in be], 0, 0]
    else:
        attrs["padding"] = "VALID"
    return ctx.tf(op, [xl, f], types=ttype(dtype), **attrs)


@TF_LIFT.register("Conv")
def lift_conv(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, w, b = ctx.input(node, 0), ctx.input(node, 1), ctx.input(node, 2)
    dtype, r = ctx.dtype(x), ctx.rank(x)
    wshape = w.shape
    if r not in (3, 4, 5) or wshape is None or not ir.is_static(wshape[1:]):
        raise ctx.unsupported("Conv needs a 1-D/2-D/3-D input of known rank and a filter of static shape")
    y = conv_nhwc(ctx, node, x, x, w, dtype)
    if b is not None:
        y = ctx.tf("BiasAdd", [y, b], T=dtype, types=ttype(dtype))
    return [to_nchw(ctx, node, y, r, dtype)]


def conv_nhwc(ctx: LiftContext, node: ir.Node, x: ir.Value, data: ir.Value, w: ir.Value,
              dtype: ir.DType) -> ir.Value:
    """``node``'s Conv attributes applied to the NCHW ``data`` (``x``: the value whose shape it
    has) and the filter ``w`` [M, C/group, k...]: the TF conv op on the channels-last view; its
    output is channels-last (conv_extra.py reuses this for integer convolutions in double)."""
    r = ctx.rank(x)
    n, group = r - 2, int(node.attr("group", 1))
    kernel = [int(k) for k in w.shape[2:]]
    strides, dilations = ints(node, "strides", n, 1), ints(node, "dilations", n, 1)
    pads = resolve_pads(ctx, node, spatial_in(x), kernel, strides, dilations)
    if pads != "SAME" and any(b or e for b, e in pads) and pads == same_pads(spatial_in(x), kernel,
                                                                            strides, dilations):
        pads = "SAME"  # TF computes these pads itself: no EXPLICIT list, no Pad op
    xl = transpose(ctx, data, channels_last(r), dtype)
    if n == 1:
        xl, w = expand_1d(ctx, xl, dtype), _unsqueeze_filter(ctx, w, dtype)
        strides, dilations, kernel = [1, *strides], [1, *dilations], [1, *kernel]
        pads = pads if pads == "SAME" else [(0, 0), *pads]
    y = _grouped_conv(ctx, xl, w, dtype, group, kernel, strides, dilations, pads)
    return squeeze_1d(ctx, y, dtype) if n == 1 else y


def _unsqueeze_filter(ctx, w, dtype):
    """[M, C/g, k] -> [M, C/g, 1, k]; of a constant, a detached Value that only the filter
    helpers read (their constant path), so no unused initializer is left behind."""
    arr = ctx.constant_value(w)
    if arr is not None:
        return ir.Value(f"{w.name}_2d", const=ir.as_tensor(np.ascontiguousarray(arr[:, :, None, :])))
    shape = [*w.shape[:2], 1, *w.shape[2:]]
    return ctx.tf("ExpandDims", [w, ctx.i32(2, "axis")], T=dtype, Tdim=I32, types=ttype(dtype, shape))


def _grouped_conv(ctx, xl, w, dtype, group, kernel, strides, dilations, pads):
    n = len(kernel)
    m, cg = int(w.shape[0]), int(w.shape[1])
    hwio = [*range(2, n + 2), 1, 0]
    if group == 1:
        return _conv_op(ctx, xl, _filter(ctx, w, hwio, dtype), dtype, strides, dilations, pads, False)
    if n == 2 and cg == 1 and m % group == 0:  # depthwise: [C*mult, 1, kh, kw] -> [kh, kw, C, mult]
        f = _filter(ctx, w, [2, 3, 0, 1], dtype, reshape=[group, m // group, *kernel])
        return _conv_op(ctx, xl, f, dtype, strides, dilations, pads, True)
    xs, fs = _split(ctx, xl, group, -1, dtype), _filters(ctx, w, hwio, dtype, group)
    ys = [_conv_op(ctx, a, k, dtype, strides, dilations, pads, False) for a, k in zip(xs, fs)]
    return _concat(ctx, ys, -1, dtype)


# ---- ConvTranspose ---------------------------------------------------------------------
def _transpose_pads(ctx, node, sizes, kernel, strides, dilations, out_pad):
    """(begin, end) crop per spatial dim of the full transposed convolution."""
    n = len(kernel)
    auto = text(node.attr("auto_pad", "NOTSET"))
    out_shape = node.attr("output_shape")
    if not out_shape and auto in ("NOTSET", "", "VALID"):
        return resolve_pads(ctx, node, sizes, kernel, strides, dilations)
    if None in sizes:
        raise ctx.unsupported("ConvTranspose output_shape/auto_pad needs static spatial dims")
    target = list(out_shape)[-n:] if out_shape else [s * i for s, i in zip(strides, sizes)]
    pads = []
    for i in range(n):
        total = strides[i] * (sizes[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1 - target[i]
        half = total // 2
        pads.append((half, total - half) if auto == "SAME_UPPER" else (total - half, half))
    return pads


def _input_sizes(ctx, xl, strides, kernel, dilations, out_pad, m):
    """[N, s*(in-1) + (k-1)*d + 1 + output_padding ..., M] from the input's (dynamic) shape."""
    mul = [1, *strides, 0]
    add = [0, *[(k - 1) * d + 1 - s + p for k, d, s, p in zip(kernel, dilations, strides, out_pad)], m]
    shape = ctx.tf("Shape", [xl], T=ctx.dtype(xl), out_type=I32, types=ttype(I32))
    scaled = ctx.tf("Mul", [shape, ctx.i32(mul, "stride")], T=I32, types=ttype(I32))
    return ctx.tf("AddV2", [scaled, ctx.i32(add, "extent")], T=I32, types=ttype(I32))


def _crop(ctx, y, pads, dtype):
    """Crop the positive pads; a negative one (an output_shape beyond the full output) adds
    zero rows instead."""
    grow = [(max(-b, 0), max(-e, 0)) for b, e in pads]
    pads = [(max(b, 0), max(e, 0)) for b, e in pads]
    if any(b or e for b, e in grow):
        y = pad(ctx, y, grow, dtype)
    if all(b == 0 and e == 0 for b, e in pads):
        return y
    n = len(pads)
    end_mask = 1 | (1 << (n + 1)) | sum(1 << (i + 1) for i, (_, e) in enumerate(pads) if e == 0)
    begin = ctx.i32([0, *[b for b, _ in pads], 0], "begin")
    end = ctx.i32([0, *[-e for _, e in pads], 0], "end")
    ones = ctx.i32([1] * (n + 2), "strides")
    return ctx.tf("StridedSlice", [y, begin, end, ones], types=ttype(dtype),
                  **strided_attrs(dtype, 1 | (1 << (n + 1)), end_mask))


def _backprop(ctx, xl, w, dtype, group, kernel, strides, dilations, out_pad):
    n = len(kernel)
    mg = int(w.shape[1])
    op = "Conv2DBackpropInput" if n == 2 else "Conv3DBackpropInputV2"
    fs = _filters(ctx, w, [*range(2, n + 2), 1, 0], dtype, group)  # [C, M/g, k...] -> [k..., M/g, C]
    attrs = dict(T=dtype, strides=[1, *strides, 1], padding="VALID", dilations=[1, *dilations, 1])
    if n == 3:
        attrs["Tshape"] = I32
    xs = [xl] if group == 1 else _split(ctx, xl, group, -1, dtype)
    ys = []
    for a, k in zip(xs, fs):
        sizes = _input_sizes(ctx, a, strides, kernel, dilations, out_pad, mg)
        ys.append(ctx.tf(op, [sizes, k, a], types=ttype(dtype), **attrs))
    return ys[0] if group == 1 else _concat(ctx, ys, -1, dtype)


@TF_LIFT.register("ConvTranspose")
def lift_conv_transpose(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x, w, b = ctx.input(node, 0), ctx.input(node, 1), ctx.input(node, 2)
    dtype, r = ctx.dtype(x), ctx.rank(x)
    if r not in (3, 4, 5) or w.shape is None or not ir.is_static(w.shape[1:]):
        raise ctx.unsupported("ConvTranspose needs a 1-D/2-D/3-D input and a filter of static shape")
    n, group = r - 2, int(node.attr("group", 1))
    kernel = [int(k) for k in w.shape[2:]]
    strides, dilations = ints(node, "strides", n, 1), ints(node, "dilations", n, 1)
    out_pad = ints(node, "output_padding", n, 0)
    pads = _transpose_pads(ctx, node, spatial_in(x), kernel, strides, dilations, out_pad)
    if pads == "SAME":
        raise ctx.unsupported("ConvTranspose auto_pad SAME_* needs static spatial dims")
    xl = transpose(ctx, x, channels_last(r), dtype)
    if n == 1:
        xl, w = expand_1d(ctx, xl, dtype), _unsqueeze_filter(ctx, w, dtype)
        strides, dilations, kernel = [1, *strides], [1, *dilations], [1, *kernel]
        out_pad, pads = [0, *out_pad], [(0, 0), *pads]
    y = _backprop(ctx, xl, w, dtype, group, kernel, strides, dilations, out_pad)
    y = _crop(ctx, y, pads, dtype)
    if n == 1:
        y = squeeze_1d(ctx, y, dtype)
    if b is not None:
        y = ctx.tf("BiasAdd", [y, b], T=dtype, types=ttype(dtype))
    return [to_nchw(ctx, node, y, r, dtype)]
