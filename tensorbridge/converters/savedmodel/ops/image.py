"""Image ops: ResizeBilinear / ResizeNearestNeighbor (FORMATS.md 8 mode tables) and
SpaceToDepth / DepthToSpace (TF's depth order is ONNX's DCR). TF works on NHWC; the ONNX ops
run channels-first inside Transposes (a later layout pass cancels them)."""

from __future__ import annotations

from tensorbridge import ir

from . import TF_IMPORT
from ._context import ImportContext, TfNode
from .conv2 import _wrap

# (align_corners, half_pixel_centers) -> ONNX coordinate_transformation_mode [, nearest_mode]
_LINEAR = {(False, False): "asymmetric", (True, False): "align_corners",
           (False, True): "half_pixel"}
_NEAREST = {(False, False): ("asymmetric", "floor"),
            (True, False): ("align_corners", "round_prefer_ceil"),
            (False, True): ("half_pixel", "round_prefer_ceil")}


def _flags(ctx: ImportContext, node: TfNode) -> tuple[bool, bool]:
    flags = (bool(ctx.attr(node, "align_corners", False)),
             bool(ctx.attr(node, "half_pixel_centers", False)))
    if flags == (True, True):
        raise ctx.unsupported("align_corners and half_pixel_centers together (TF refuses too)",
                              node)
    return flags


def _resize(ctx: ImportContext, node: TfNode, x: ir.Value, **kw) -> ir.Value:
    hw = ctx.as_int64(ctx.input(node, 1), "new_hw")  # [new_height, new_width]

    def resize(t: ir.Value) -> ir.Value:
        # sizes for all four dims, not axes=[2, 3]: ORT 1.31's layout transformer breaks
        # Resize with axes (its sizes end up empty) at the default optimization level
        sizes = ctx.b.op("Concat", [ctx.b.op("Shape", [t], start=0, end=2), hw], axis=0)
        return ctx.b.op("Resize", [t, None, None, sizes], **kw)

    return _wrap(ctx, True, x, 4, resize)


@TF_IMPORT.register("ResizeBilinear")
def import_resizebilinear(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    mode = _LINEAR[_flags(ctx, node)]
    x = ctx.input(node, 0)
    if ctx.attr(node, "T") is not ir.DType.FLOAT:  # TF always returns float32
        x = ctx.cast(x, ir.DType.FLOAT)
    return [_resize(ctx, node, x, mode="linear", coordinate_transformation_mode=mode)]


@TF_IMPORT.register("ResizeNearestNeighbor")
def import_resizenearestneighbor(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    mode, nearest = _NEAREST[_flags(ctx, node)]
    return [_resize(ctx, node, ctx.input(node, 0), mode="nearest",
                    coordinate_transformation_mode=mode, nearest_mode=nearest)]


def _space_depth(ctx: ImportContext, node: TfNode, op: str, **kw) -> ir.Value:
    fmt = ctx.attr(node, "data_format", b"NHWC")
    if fmt not in (b"NHWC", b"NCHW"):
        raise ctx.unsupported(f"data_format {fmt.decode()}", node)
    blocksize = int(ctx.attr(node, "block_size"))
    return _wrap(ctx, fmt == b"NHWC", ctx.input(node, 0), 4,
                 lambda x: ctx.b.op(op, [x], blocksize=blocksize, **kw))


@TF_IMPORT.register("SpaceToDepth")
def import_spacetodepth(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # output depth (bh*b + bw)*C + c, as ONNX SpaceToDepth orders it
    return [_space_depth(ctx, node, "SpaceToDepth")]


@TF_IMPORT.register("DepthToSpace")
def import_depthtospace(ctx: ImportContext, node: TfNode) -> list[ir.Value]:
    # input depth (bh*b + bw)*C + c: ONNX's DCR mode
    return [_space_depth(ctx, node, "DepthToSpace", mode="DCR")]
