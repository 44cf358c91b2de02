"""Lift: ImageDecoder.

The encoded bytes (a uint8 vector) become one string scalar: each byte gathers its
one-byte string from a 256-entry table, and ReduceJoin concatenates them. TF's DecodeImage
reads PNG, BMP, GIF, WebP and JPEG, always as [H, W, 3] here (channels=3, first frame).

JPEG: DecodeImage uses libjpeg's fast integer IDCT, which differs from the reference
decoder (Pillow: libjpeg's accurate integer IDCT, fancy upsampling) by up to 4 levels on the
conformance image; DecodeJpeg with dct_method=INTEGER_ACCURATE matches it exactly. A file
starting with the JPEG marker FF D8 FF is therefore decoded by DecodeJpeg; any other file
feeds DecodeJpeg a built-in 1x1 JPEG instead (so it cannot fail) and the result is selected
by the marker test (the 1x1 result broadcasts against the other decoder's).

PNM (TF has no decoder): a binary 8-bit PPM (P6) or PGM (P5, the gray repeated to RGB)
whose header is "P6|P5 <width> <height> 255" separated by single-or-more blanks (no comments)
is parsed in the graph: the header's length is what an anchored RegexReplace removes from the
first 64 bytes, its fields are split off, and the samples after it are DecodeRaw'd. Both real
decoders then read a built-in image instead, so they cannot fail on PNM bytes, and the results
are selected by the format tests.

Grayscale is computed from RGB as Pillow's convert("L") does: (19595 R + 38470 G + 7471 B +
2^15) >> 16. TIFF and JPEG 2000 have no TF decoder: such bytes make the lifted graph fail at
run time with TF's "Unknown image file format" (the format is only known from the data, so no
handler can refuse them; the two conformance cases are KNOWN_FAILURES).
"""

from __future__ import annotations

import numpy as np

from tensorbridge import ir

from ._context import TF_LIFT, LiftContext
from .array import I32, I64, binary, op
from .ml import text

U8, STR = ir.DType.UINT8, ir.DType.STRING
# a 1x1 black baseline JPEG (quality 50), decoded only when the input is no JPEG
_TINY_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010101012c012c0000ffdb004300100b0c0e0c0a100e0d0e1211101318281a181616"
    "183123251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c656763ff"
    "db0043011112121815182f1a1a2f634238426363636363636363636363636363636363636363636363636363636363"
    "636363636363636363636363636363636363636363ffc00011080001000103012200021101031101ffc40015000101"
    "00000000000000000000000000000007ffc40014100100000000000000000000000000000000ffc400140101000000"
    "00000000000000000000000000ffc40014110100000000000000000000000000000000ffda000c0301000211031100"
    "3f009f800fffd9")
_LUMA = (19595, 38470, 7471)  # Pillow's ITU-R 601-2 weights, scaled by 2^16


def _scalar_str(ctx: LiftContext, value: bytes, name: str) -> ir.Value:
    return ctx.const(np.asarray(value, object), name, STR)


def _as_string(ctx: LiftContext, data: ir.Value) -> ir.Value:
    """The uint8 vector ``data`` as one string scalar."""
    table = ctx.const(np.asarray([bytes([i]) for i in range(256)], object), "bytes", STR)
    idx = op(ctx, "Cast", [data], I32, SrcT=U8, DstT=I32, Truncate=False)
    chars = op(ctx, "GatherV2", [table, idx, ctx.i64(0, "axis")], STR, Tparams=STR, Tindices=I32, Taxis=I64,
               batch_dims=0)
    return op(ctx, "ReduceJoin", [chars, ctx.i32(0, "axis")], STR, keep_dims=False, separator="")


def _marker(ctx: LiftContext, s: ir.Value, magic: bytes) -> ir.Value:
    head = op(ctx, "Substr", [s, ctx.i32(0, "pos"), ctx.i32(len(magic), "len")], STR, T=I32, unit="BYTE")
    return binary(ctx, "Equal", head, _scalar_str(ctx, magic, "marker"))


def _pick(ctx: LiftContext, cond: ir.Value, a: ir.Value, b: ir.Value) -> ir.Value:
    return op(ctx, "SelectV2", [cond, a, b], ctx.dtype(a), T=ctx.dtype(a))


def _decode_rgb(ctx: LiftContext, s: ir.Value) -> ir.Value:
    is_jpeg = _marker(ctx, s, b"\xff\xd8\xff")
    header_len = _pnm_header_len(ctx, s)
    is_pnm = binary(ctx, "Greater", header_len, ctx.i32(0, "zero"))
    tiny = _scalar_str(ctx, _TINY_JPEG, "tiny_jpeg")
    jpeg = op(ctx, "DecodeJpeg", [_pick(ctx, is_jpeg, s, tiny)], U8, channels=3, ratio=1,
              fancy_upscaling=True, try_recover_truncated=False, acceptable_fraction=1.0,
              dct_method="INTEGER_ACCURATE")
    other = ctx.tf("DecodeImage", [_pick(ctx, is_pnm, tiny, s)], types=[ir.TensorType(U8, None)],
                   channels=3, dtype=U8, expand_animations=False)
    pnm = _decode_pnm(ctx, _pick(ctx, is_pnm, s, _scalar_str(ctx, _TINY_PNM, "tiny_pnm")),
                      _pick(ctx, is_pnm, header_len, ctx.i32(len(_TINY_PNM) - 3, "tiny_header")))
    return _pick(ctx, is_jpeg, jpeg, _pick(ctx, is_pnm, pnm, other))


# binary PPM/PGM with 8-bit samples: "P6" or "P5", width, height, 255, one whitespace, samples
_PNM_HEADER = r"^P[56][ \t\n\r]+[0-9]+[ \t\n\r]+[0-9]+[ \t\n\r]+255[ \t\n\r]"
_TINY_PNM = b"P6\n1 1\n255\n\x00\x00\x00"


def _pnm_header_len(ctx: LiftContext, s: ir.Value) -> ir.Value:
    """int32 scalar: the length of a binary 8-bit PNM header starting ``s``, else 0."""
    head = op(ctx, "Substr", [s, ctx.i32(0, "pos"), ctx.i32(64, "len")], STR, T=I32, unit="BYTE")
    rest = op(ctx, "StaticRegexReplace", [head], STR, pattern=_PNM_HEADER, rewrite="", replace_global=False)
    n = [op(ctx, "StringLength", [v], I32, unit="BYTE") for v in (head, rest)]
    return binary(ctx, "Sub", n[0], n[1])


def _decode_pnm(ctx: LiftContext, s: ir.Value, header_len: ir.Value) -> ir.Value:
    """[H, W, 3] uint8 of a binary 8-bit PPM (P6) or PGM (P5, gray repeated)."""
    header = op(ctx, "Substr", [s, ctx.i32(0, "pos"), header_len], STR, T=I32, unit="BYTE")
    as_vector = op(ctx, "Reshape", [header, ctx.i32([1], "one")], STR, T=STR, Tshape=I32)
    _, fields, _ = ctx.tf_multi("StringSplitV2", [as_vector, _scalar_str(ctx, b"", "sep")], 3, maxsplit=-1)
    fields.type = ir.TensorType(STR, None)
    w, h = (op(ctx, "StringToNumber", [op(ctx, "GatherV2", [fields, ctx.i32(i, "field"), ctx.i32(0, "axis")],
                                          STR, Tparams=STR, Tindices=I32, Taxis=I32, batch_dims=0)],
               I32, out_type=I32) for i in (1, 2))
    channels = op(ctx, "Select", [_marker(ctx, s, b"P6"), ctx.i32(3, "rgb"), ctx.i32(1, "gray")], I32, T=I32)
    size = binary(ctx, "Mul", binary(ctx, "Mul", w, h), channels)
    raw = op(ctx, "DecodeRaw", [op(ctx, "Substr", [s, header_len, size], STR, T=I32, unit="BYTE")], U8,
             out_type=U8, little_endian=True)
    img = op(ctx, "Reshape", [raw, op(ctx, "Pack", [h, w, channels], I32, N=3, T=I32, axis=0)], U8, T=U8,
             Tshape=I32)
    reps = op(ctx, "Pack", [ctx.i32(1, "one"), ctx.i32(1, "one"), binary(ctx, "FloorDiv", ctx.i32(3, "three"),
                                                                          channels)], I32, N=3, T=I32, axis=0)
    return op(ctx, "Tile", [img, reps], U8, T=U8, Tmultiples=I32)


def _gray(ctx: LiftContext, rgb: ir.Value) -> ir.Value:
    wide = op(ctx, "Cast", [rgb], I32, SrcT=U8, DstT=I32, Truncate=False)
    weighted = binary(ctx, "Mul", wide, ctx.i32(list(_LUMA), "luma"))
    total = op(ctx, "Sum", [weighted, ctx.i64(-1, "axis")], I32, T=I32, Tidx=I64, keep_dims=True)
    shifted = binary(ctx, "RightShift", binary(ctx, "AddV2", total, ctx.i32(1 << 15, "half")),
                     ctx.i32(16, "shift"))
    return op(ctx, "Cast", [shifted], U8, SrcT=I32, DstT=U8, Truncate=False)


@TF_LIFT.register("ImageDecoder")
def lift_image_decoder(ctx: LiftContext, node: ir.Node) -> list[ir.Value]:
    data = node.inputs[0]
    if ctx.dtype(data) is not U8:
        raise ctx.unsupported("the encoded image must be uint8")
    fmt = text(node.attr("pixel_format", "RGB"))
    if fmt not in ("RGB", "BGR", "Grayscale"):
        raise ctx.unsupported(f"pixel_format {fmt!r}")
    rgb = _decode_rgb(ctx, _as_string(ctx, data))
    if fmt == "BGR":
        return [op(ctx, "ReverseV2", [rgb, ctx.i64([2], "axis")], U8, T=U8, Tidx=I64)]
    return [_gray(ctx, rgb) if fmt == "Grayscale" else rgb]


