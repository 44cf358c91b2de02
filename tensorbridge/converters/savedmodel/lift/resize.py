"""Lift: Resize (onto TF's image resize ops, or gathers and weights), DepthToSpace and
SpaceToDepth.

Resize takes TF's own kernel where it computes the same samples (FORMATS.md 8):

    mode     coordinate mode (nearest_mode)                      TF op
    nearest  asymmetric (floor)                                  ResizeNearestNeighbor
    nearest  align_corners / half_pixel (round_prefer_ceil,      ResizeNearestNeighbor(align_corners
             or any rounding when no sample is a tie)              / half_pixel_centers)
    linear   asymmetric / align_corners / half_pixel             ResizeBilinear(same flags)
    cubic    align_corners, cubic_coeff_a=-0.75, exclude_outside=0   ResizeBicubic(align_corners),
             when every sample offset is on its 1/1024 weight table (else up to 2e-3 off)
    cubic    half_pixel, a=-0.5, exclude_outside=1 (antialias too)   ScaleAndTranslate(keyscubic)

for two resized axes, H, W of NCHW (between Transposes) or NHWC (as is, e.g. after the layout
pass). pytorch_half_pixel is half_pixel when no output dim is 1; half_pixel_symmetric is
half_pixel when the output size is exactly input * scale, which these kernels need anyway (ONNX
maps coordinates by the given scale, TF by out / in): static shapes, integer scales, or
``sizes`` (also computed at run time; without ``axes`` they may change N or C too, which TF's
kernels cannot: a ``StatelessIf`` on "sizes[:2] == input N, C" runs the kernel, else the general
run-time path below; each branch is an ONNX Resize lifted as a function body, the first with
axes (2, 3), the second with axes (0, 1, 2, 3), which no kernel takes). The If costs little: on
a 1x3x512x512 bilinear upscale to 1024x1024, 7 ms with it as without, where the run-time path
alone takes 70-180 ms (measured on a shared machine).

Everything else with static shapes and constant scales/sizes (any axes and rank, other
rounding, other cubic coefficients, tf_crop_and_resize with a constant roi,
keep_aspect_ratio_policy) is computed as ONNX defines it: per resized axis, a GatherV2 per tap
and a weighted sum (_resize_taps.py; antialiasing too: ScaleAndTranslate's triangle filter
differs from ONNX's, measured 0.2 off). The rest (scales/sizes/roi known only at run time,
unknown input dims, linear/cubic of integers) computes the output sizes, coordinate maps, tap
indices and weights in the graph (_resize_runtime.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tensorbridge import ir
from tensorbridge.errors import UnsupportedOpError

from ._context import TF_LIFT, LiftContext, TfShape
from ._resize_runtime import resize_at_run_time
from ._resize_taps import Axis, on_table, taps, ties
from ._subgraph import captures, close_over, dtypes_attr, graph_attr, lift_body
from .conv import I32, channels_last, strided_attrs, text, to_nchw, transpose, ttype

F32, I64, BOOL = ir.DType.FLOAT, ir.DType.INT64, ir.DType.BOOL
_FLOATS = (F32, ir.DType.FLOAT16, ir.DType.DOUBLE, ir.DType.BFLOAT16)


@dataclass
class _Plan:
    hw: list[int]  # the two resized axes
    out: list  # per axis: output size or None
    scale: list  # per axis: ONNX scale or None
    dims: list  # per axis: input size or None
    sizes: ir.Value | None = None  # run-time sizes
    order: tuple[int, ...] = ()  # their entries for [h, w]
    guard: bool = False  # sizes may change N, C too: the kernel only when they do not (StatelessIf)


def _attrs(node: ir.Node):
    """(mode, coordinate mode, nearest_mode, cubic_coeff_a, exclude_outside, antialias)"""
    cmode = text(node.attr("coordinate_transformation_mode", "half_pixel"))
    return (text(node.attr("mode", "nearest")), cmode, text(node.attr("nearest_mode", "round_prefer_floor")),
            float(node.attr("cubic_coeff_a", -0.75)), bool(node.attr("exclude_outside", 0)),
            bool(node.attr("antialias", 0)))


def _plan(ctx: LiftContext, node: ir.Node, x: ir.Value) -> _Plan:
    r = ctx.rank(x)
    if r != 4:
        raise ctx.unsupported("TF's resize kernels take 4-D inputs (2 resized axes)")
    if text(node.attr("keep_aspect_ratio_policy", "stretch")) != "stretch":
        raise ctx.unsupported("keep_aspect_ratio_policy other than stretch")
    axes = [int(a) % r for a in (node.attr("axes") or range(r))]
    scales_in, sizes_in = ctx.input(node, 2), ctx.input(node, 3)
    sizes, scales = ctx.constant_value(sizes_in), ctx.constant_value(scales_in)
    dims = [d if isinstance(d, int) else None for d in x.shape]
    if sizes_in is not None and sizes is None:
        return _plan_dynamic(ctx, node, dims, sizes_in)
    out, scale = list(dims), [1.0] * r
    if sizes is not None and sizes.size:
        for a, s in zip(axes, sizes.reshape(-1)):
            out[a] = int(s)
            scale[a] = None if dims[a] is None else int(s) / dims[a]
    elif scales is not None and scales.size:
        for a, s in zip(axes, scales.reshape(-1)):
            scale[a] = float(s)
            exact = dims[a] is not None and float(np.float32(dims[a] * s)).is_integer()
            if not exact and not float(s).is_integer():
                raise ctx.unsupported("output size input * scale is not integral (TF maps by out / in)")
            out[a] = None if dims[a] is None else int(np.floor(dims[a] * np.float32(s)))
    else:
        raise ctx.unsupported("Resize scales that are not constant (the output size floor(in * "
                              "scale) and TF's out/in coordinate map agree only for integral in * scale)")
    moved = {a for a in range(r) if scale[a] != 1.0 or (out[a] is not None and out[a] != dims[a])}
    for hw in ([2, 3], [1, 2]):
        if moved <= set(hw):
            return _Plan(hw, out, scale, dims)
    raise ctx.unsupported("Resize of axes other than H, W of NCHW or NHWC")


def _plan_dynamic(ctx: LiftContext, node: ir.Node, dims, sizes_in: ir.Value) -> _Plan:
    given = [int(a) % 4 for a in node.attr("axes") or ()]
    if given and set(given) not in ({2, 3}, {1, 2}):
        raise ctx.unsupported("Resize of axes other than H, W of NCHW or NHWC")
    hw = sorted(given) if given else [2, 3]
    order = tuple(given.index(a) for a in hw) if given else (2, 3)
    out = [None if a in hw else dims[a] for a in range(4)]
    scale = [None if a in hw else 1.0 for a in range(4)]
    return _Plan(hw, out, scale, dims, sizes_in, order, guard=not given)


def _cmode(ctx: LiftContext, node: ir.Node, p: _Plan) -> str:
    mode, cmode = _attrs(node)[:2]
    if cmode == "pytorch_half_pixel":  # half_pixel unless an output dim is 1
        if any(p.out[a] == 1 or (p.out[a] is None and (p.scale[a] or 0) < 2) for a in p.hw):
            raise ctx.unsupported("pytorch_half_pixel with an output dim of 1 or unknown")
        return "half_pixel"
    if cmode == "half_pixel_symmetric" or (cmode == "tf_half_pixel_for_nn" and mode == "nearest"):
        return "half_pixel"  # the first: out == in * scale here, where the two are the same
    if cmode not in ("half_pixel", "align_corners", "asymmetric"):
        raise ctx.unsupported(f"coordinate_transformation_mode={cmode} has no TF resize")
    return cmode


def _nearest_ok(ctx: LiftContext, node: ir.Node, cmode: str, p: _Plan) -> None:
    rounding = _attrs(node)[2]
    tf_nn = _attrs(node)[1] == "tf_half_pixel_for_nn"
    if cmode == "asymmetric" or tf_nn:
        if rounding != "floor":
            raise ctx.unsupported(f"nearest {_attrs(node)[1]} needs nearest_mode=floor (TF's rule)")
        return
    if rounding == "round_prefer_ceil":
        return
    if rounding in ("floor", "ceil") or any(p.dims[a] is None or p.out[a] is None for a in p.hw):
        raise ctx.unsupported(f"nearest {cmode} with nearest_mode={rounding} (TF rounds halves up)")
    if any(ties(p.dims[a], p.out[a], cmode) for a in p.hw):
        raise ctx.unsupported(f"nearest {cmode} with nearest_mode={rounding} hits exact halves")


def _kernel(ctx: LiftContext, node: ir.Node, cmode: str, p: _Plan, dtype: ir.DType) -> tuple[str, bool]:
    """(TF op, antialias) computing this resize, or refuse."""
    mode, _, _, a, excl, antialias = _attrs(node)
    if mode == "nearest":
        _nearest_ok(ctx, node, cmode, p)
        return "ResizeNearestNeighbor", False
    if dtype not in _FLOATS:
        raise ctx.unsupported(f"{mode} resize of {dtype} (onnxruntime rounds integer results)")
    scale = [p.scale[i] for i in p.hw]
    if antialias and None in scale:
        raise ctx.unsupported("antialias with a dynamic size (down- or upscaling unknown)")
    antialias = antialias and min(scale) < 1
    if mode == "linear" and not antialias:
        return "ResizeBilinear", False
    if (mode == "cubic" and not antialias and cmode == "align_corners" and a == -0.75 and not excl
            and all(on_table(p.dims[i], p.out[i]) for i in p.hw)):
        return "ResizeBicubic", False
    if cmode != "half_pixel" or mode != "cubic" or a != -0.5 or not excl:
        raise ctx.unsupported(f"{mode} resize with {cmode}, cubic_coeff_a={a}, exclude_outside={int(excl)}"
                              f"{', antialias' if antialias else ''} matches no TF kernel")
    return "ScaleAndTranslate", antialias


def _shape_hw(ctx: LiftContext, xl: ir.Value) -> ir.Value:
    shape = ctx.tf("Shape", [xl], T=ctx.dtype(xl), out_type=I32, types=ttype(I32, [4]))
    return ctx.tf("StridedSlice", [shape, ctx.i32([1], "b"), ctx.i32([3], "e"), ctx.i32([1], "s")],
                  types=ttype(I32, [2]), **strided_attrs(I32, 0, 0))


def _gather_i32(ctx: LiftContext, v: ir.Value, idx) -> ir.Value:
    dt = ctx.dtype(v)
    g = ctx.tf("GatherV2", [v, ctx.i32(list(idx), "idx"), ctx.i32(0, "axis")], Tparams=dt, Tindices=I32,
               Taxis=I32, batch_dims=0, types=ttype(dt, [len(idx)]))
    return ctx.cast(g, I32)


def _size(ctx: LiftContext, xl: ir.Value, p: _Plan) -> ir.Value:
    """The [h, w] output size: constant, from run-time sizes, or the dims times integer scales."""
    if p.sizes is not None:
        return _gather_i32(ctx, p.sizes, p.order)
    if all(p.out[a] is not None for a in p.hw):
        return ctx.i32([p.out[a] for a in p.hw], "size")
    factor = ctx.i32([int(p.scale[a]) for a in p.hw], "scale")
    return ctx.tf("Mul", [_shape_hw(ctx, xl), factor], T=I32, types=ttype(I32))


def _fast(ctx: LiftContext, node: ir.Node, x: ir.Value, p: _Plan, cmode: str, op: str, antialias: bool):
    dtype = ctx.dtype(x)
    nchw = p.hw == [2, 3]
    xl = transpose(ctx, x, channels_last(4), dtype) if nchw else x
    size = _size(ctx, xl, p)
    flags = dict(align_corners=cmode == "align_corners", half_pixel_centers=cmode == "half_pixel")
    out_dt = dtype if op == "ResizeNearestNeighbor" else F32
    if op == "ScaleAndTranslate":
        scale = [p.scale[a] for a in p.hw]
        if None in scale:
            sc = ctx.tf("RealDiv", [ctx.cast(size, F32), ctx.cast(_shape_hw(ctx, xl), F32)], T=F32,
                        types=ttype(F32, [2]))
        else:
            sc = ctx.const(np.asarray(scale, np.float32), "scale")
        zero = ctx.const(np.zeros(2, np.float32), "translation")
        y = ctx.tf(op, [xl, size, sc, zero], T=dtype, kernel_type="keyscubic", antialias=antialias,
                   types=ttype(F32))
    else:
        y = ctx.tf(op, [xl, size], T=dtype, types=ttype(out_dt), **flags)
    y = ctx.cast(y, dtype)
    return to_nchw(ctx, node, y, 4, dtype) if nchw else y


# ---- the general path: gathers and weights ---------------------------------------------
def _static_axes(ctx: LiftContext, node: ir.Node, x: ir.Value) -> dict[int, Axis]:
    """Resized axis -> its Axis, from constant scales/sizes/roi and static input dims."""
    r = ctx.rank(x)
    dims = list(x.shape or ())
    axes = [int(a) % r for a in (node.attr("axes") or range(r))] if r else []
    roi, scales, sizes = (ctx.constant_value(ctx.input(node, i)) for i in (1, 2, 3))
    given = sizes if ctx.input(node, 3) is not None else scales
    if r is None or given is None or (_attrs(node)[1] == "tf_crop_and_resize" and roi is None):
        raise ctx.unsupported("computing it by gathers needs constant scales/sizes (and roi)")
    if any(not isinstance(dims[a], int) for a in axes):
        raise ctx.unsupported("computing it by gathers needs static input dims")
    given = given.reshape(-1).astype(np.float64)
    if ctx.input(node, 3) is not None:
        policy = text(node.attr("keep_aspect_ratio_policy", "stretch"))
        ratio = [float(np.float32(s) / np.float32(dims[a])) for a, s in zip(axes, given)]
        pick = {"not_larger": min, "not_smaller": max}.get(policy)
        scale = [pick(ratio)] * len(axes) if pick else ratio
        out = [int(np.floor(np.float32(sc) * dims[a] + 0.5)) if pick else int(s)
               for a, s, sc in zip(axes, given, scale)]
    else:
        scale = [float(s) for s in given]
        out = [int(np.floor(np.float32(dims[a]) * np.float32(s))) for a, s in zip(axes, scale)]
    rois = roi.reshape(2, -1) if roi is not None and roi.size else np.tile([[0.0], [1.0]], (1, len(axes)))
    return {a: Axis(dims[a], o, sc, (float(rois[0][i]), float(rois[1][i])))
            for i, (a, o, sc) in enumerate(zip(axes, out, scale)) if o != dims[a] or sc != 1.0}


def _by_taps(ctx: LiftContext, node: ir.Node, x: ir.Value, axes: dict[int, Axis]) -> ir.Value:
    mode, cmode, rounding, a, excl, antialias = _attrs(node)
    dtype, r = ctx.dtype(x), ctx.rank(x)
    extrapolation = float(node.attr("extrapolation_value", 0.0))
    y = x
    for axis, ax in axes.items():
        idx, w, outside = taps(mode, cmode, ax, rounding, a, excl, antialias)
        shape = [1] * r
        shape[axis] = -1
        terms = []
        for t in range(idx.shape[1]):
            if t and mode != "nearest" and not w[:, t].any():
                continue
            g = ctx.tf("GatherV2", [y, ctx.i32(idx[:, t], "taps"), ctx.i32(axis, "axis")], Tparams=dtype,
                       Tindices=I32, Taxis=I32, batch_dims=0, types=ttype(dtype))
            if mode != "nearest":
                g = ctx.tf("Mul", [g, ctx.const(w[:, t].reshape(shape).astype(dtype.numpy), "weights")],
                           T=dtype, types=ttype(dtype))
            terms.append(g)
        y = terms[0] if len(terms) == 1 else ctx.tf("AddN", terms, T=dtype, N=len(terms), types=ttype(dtype))
        if outside is not None and outside.any():
            fill = np.where(outside, extrapolation, 0.0).reshape(shape).astype(dtype.numpy)
            if mode == "nearest":
                keep = ctx.const((~outside).reshape(shape).astype(dtype.numpy), "inside")
                y = ctx.tf("Mul", [y, keep], T=dtype, types=ttype(dtype))
            y = ctx.tf("AddV2", [y, ctx.const(fill, "extrapolation")], T=dtype, types=ttype(dtype))
    return y


@TF_LIFT.register("Resize")
def lift_resize(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = ctx.input(node, 0)
    dtype = ctx.dtype(x)
    try:
        plan = _plan(ctx, node, x)
        cmode = _cmode(ctx, node, plan)
        op, antialias = _kernel(ctx, node, cmode, plan, dtype)
    except UnsupportedOpError:
        pass
    else:
        if plan.guard:
            return [_guarded(ctx, node, x, plan.sizes)]
        return [_fast(ctx, node, x, plan, cmode, op, antialias)]
    try:
        axes = _static_axes(ctx, node, x)
    except UnsupportedOpError:
        return [resize_at_run_time(ctx, node, x)]
    if not axes:
        return [ctx.tf("Identity", [x], T=dtype)]
    if _attrs(node)[0] != "nearest" and dtype not in _FLOATS:  # rounds: the run-time path does
        return [resize_at_run_time(ctx, node, x)]
    return [_by_taps(ctx, node, x, axes)]


# ---- run-time sizes of every axis: the kernel when N and C stay, else the run-time path --------
def _guarded(ctx: LiftContext, node: ir.Node, x: ir.Value, sizes: ir.Value) -> ir.Value:
    dtype = ctx.dtype(x)
    sizes = ctx.cast(sizes, I64)
    hw = ctx.tf("GatherV2", [sizes, ctx.i64([2, 3], "hw"), ctx.i64(0, "axis")], Tparams=I64, Tindices=I64,
                Taxis=I64, batch_dims=0, types=ttype(I64, [2]))
    kernel = _branch(node, "kernel", [x, None, None, hw], (2, 3))
    general = _branch(node, "general", [x, *node.inputs[1:3], sizes], (0, 1, 2, 3))
    try:
        for g in (kernel, general):
            lift_body(ctx, g)
    except UnsupportedOpError:
        return resize_at_run_time(ctx, node, x)
    outer = captures([kernel, general])
    for g in (kernel, general):
        close_over(ctx, g, outer)
    shape = ctx.tf("Shape", [x], T=dtype, out_type=I64, types=ttype(I64, [4]))
    same = [ctx.tf("StridedSlice", [v, ctx.i32([0], "b"), ctx.i32([2], "e"), ctx.i32([1], "s")],
                   types=ttype(I64, [2]), **strided_attrs(I64, 0, 0)) for v in (sizes, shape)]
    eq = ctx.tf("Equal", same, T=I64, incompatible_shape_error=True, types=ttype(BOOL, [2]))
    cond = ctx.tf("All", [eq, ctx.i32([0], "axis")], keep_dims=False, Tidx=I32, types=ttype(BOOL, []))
    return ctx.tf_node("StatelessIf", [cond, *outer], num_outputs=1, types=ttype(dtype, [None] * 4),
                       Tcond=BOOL, Tin=dtypes_attr([ctx.dtype(v) for v in outer]), Tout=dtypes_attr([dtype]),
                       then_branch=graph_attr(kernel), else_branch=graph_attr(general),
                       output_shapes=[TfShape(None)]).outputs[0]


def _branch(node: ir.Node, name: str, inputs: list, axes: tuple[int, ...]) -> ir.Graph:
    """A body holding a copy of the Resize over ``inputs`` (outer values) with ``axes``."""
    g = ir.Graph(f"{node.name}_{name}")
    attrs = {**node.attrs, "axes": ir.Attr(ir.AttrType.INTS, axes)}
    y = ir.Builder(g).node("Resize", inputs, name=f"{node.name}_{name}", attrs=attrs,
                           types=[ir.TensorType(inputs[0].dtype, (None,) * 4)]).outputs[0]
    g.add_output(y)
    return g


@TF_LIFT.register("DepthToSpace")
def lift_depth_to_space(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    """TF's DepthToSpace is DCR in NHWC; CRD first reorders the channels (a GatherV2)."""
    x = ctx.input(node, 0)
    dtype, b = ctx.dtype(x), int(node.attr("blocksize"))
    if ctx.rank(x) != 4:
        raise ctx.unsupported("DepthToSpace needs a 4-D input")
    xl = transpose(ctx, x, channels_last(4), dtype)
    if text(node.attr("mode", "DCR")) == "CRD":
        c = x.shape[1]
        if not isinstance(c, int):
            raise ctx.unsupported("DepthToSpace CRD needs a static channel count")
        cp = c // (b * b)
        order = [k * b * b + ij for ij in range(b * b) for k in range(cp)]  # DCR slot -> CRD channel
        xl = ctx.tf("GatherV2", [xl, ctx.i32(order, "order"), ctx.i32(3, "axis")], Tparams=dtype,
                    Tindices=I32, Taxis=I32, batch_dims=0, types=ttype(dtype))
    y = ctx.tf("DepthToSpace", [xl], T=dtype, block_size=b, types=ttype(dtype))
    return [to_nchw(ctx, node, y, 4, dtype)]


@TF_LIFT.register("SpaceToDepth")
def lift_space_to_depth(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    x = ctx.input(node, 0)
    dtype = ctx.dtype(x)
    if ctx.rank(x) != 4:
        raise ctx.unsupported("SpaceToDepth needs a 4-D input")
    xl = transpose(ctx, x, channels_last(4), dtype)
    y = ctx.tf("SpaceToDepth", [xl], T=dtype, block_size=int(node.attr("blocksize")), types=ttype(dtype))
    return [to_nchw(ctx, node, y, 4, dtype)]
