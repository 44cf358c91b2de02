"""Read a SavedModel directory and choose a meta graph and a signature (no TensorFlow)."""

from __future__ import annotations

import logging
from pathlib import Path

from google.protobuf import message, text_format

from tensorbridge import ir
from tensorbridge.errors import ModelLoadError, UsageError
from tensorbridge.protos import meta_graph_pb2, saved_model_pb2
from tensorbridge.protos.anyutil import tf_named_pool

logger = logging.getLogger(__name__)

PB = "saved_model.pb"
PBTXT = "saved_model.pbtxt"
INIT_OP_SIGNATURE_KEY = "__saved_model_init_op"
TRAIN_OP_SIGNATURE_KEY = "__saved_model_train_op"
NON_USER_SIGNATURES = frozenset({INIT_OP_SIGNATURE_KEY, TRAIN_OP_SIGNATURE_KEY})
VARIABLES_PREFIX = Path("variables") / "variables"


def read_saved_model(path: str | Path) -> saved_model_pb2.SavedModel:
    """Parse ``<path>/saved_model.pb`` (or ``saved_model.pbtxt`` when there is no .pb)."""
    root = Path(path)
    if not root.is_dir():
        raise ModelLoadError("not a SavedModel directory (no such directory)", path=root)
    pb, pbtxt = root / PB, root / PBTXT
    sm = saved_model_pb2.SavedModel()
    if pb.is_file():
        data = pb.read_bytes()
        try:
            sm.ParseFromString(data)
        except message.DecodeError as e:
            raise ModelLoadError(f"not a SavedModel protobuf (truncated or corrupt: {e})",
                                 path=pb) from None
    elif pbtxt.is_file():
        try:
            text_format.Parse(pbtxt.read_text(encoding="utf-8"), sm,
                              descriptor_pool=tf_named_pool())
        except (text_format.ParseError, UnicodeDecodeError) as e:
            raise ModelLoadError(f"not a text-format SavedModel: {e}", path=pbtxt) from None
    else:
        raise ModelLoadError(f"no {PB} or {PBTXT} in the directory", path=root,
                             hint="give the SavedModel's export directory")
    if not sm.meta_graphs:
        raise ModelLoadError("the SavedModel has no meta graphs",
                             path=pb if pb.is_file() else pbtxt)
    logger.info("read %s: %d meta graph(s)", root, len(sm.meta_graphs))
    return sm


def _tagset(tags: object) -> str:
    return "{" + ",".join(sorted(tags)) + "}"  # type: ignore[arg-type]


def select_meta_graph(sm: saved_model_pb2.SavedModel,
                      tags: set[str] | frozenset[str] | list[str] | tuple[str, ...] | str | None = None,
                      ) -> meta_graph_pb2.MetaGraphDef:
    """Exact tag-set match; ``tags=None``: the only meta graph, else the one tagged {serve}."""
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    if tags is None:
        if len(sm.meta_graphs) == 1:
            return sm.meta_graphs[0]
        want = frozenset({ir.SERVE})
    else:
        want = frozenset(tags)
    for mg in sm.meta_graphs:
        if frozenset(mg.meta_info_def.tags) == want:
            return mg
    present = ", ".join(_tagset(mg.meta_info_def.tags) for mg in sm.meta_graphs)
    raise UsageError(f"no meta graph tagged {_tagset(want)}; tag sets present: {present}",
                     hint="pass --tags with one of them")


def user_signatures(mg: meta_graph_pb2.MetaGraphDef) -> dict[str, meta_graph_pb2.SignatureDef]:
    return {k: v for k, v in sorted(mg.signature_def.items()) if k not in NON_USER_SIGNATURES}


def describe_signature(key: str, sig: meta_graph_pb2.SignatureDef) -> str:
    def side(m) -> str:
        return ", ".join(f"{k}: {_describe_info(v)}" for k, v in sorted(m.items()))

    return f"{key}({side(sig.inputs)}) -> ({side(sig.outputs)})"


def _describe_info(info: meta_graph_pb2.TensorInfo) -> str:
    from .attrs import shape_from_proto

    try:
        dtype = str(ir.DType.from_tf(info.dtype))
    except ValueError:
        dtype = f"dtype{info.dtype}"
    return f"{dtype}{ir.format_shape(shape_from_proto(info.tensor_shape))}"


def select_signature(mg: meta_graph_pb2.MetaGraphDef, key: str | None = None
                     ) -> tuple[str, meta_graph_pb2.SignatureDef]:
    """The signature ``key``; by default ``serving_default``, else the only user signature."""
    sigs = user_signatures(mg)
    if key is None:
        if ir.DEFAULT_SIGNATURE in sigs:
            key = ir.DEFAULT_SIGNATURE
        elif len(sigs) == 1:
            key = next(iter(sigs))
    if key is not None and key in sigs:
        return key, sigs[key]
    listing = "; ".join(describe_signature(k, s) for k, s in sigs.items()) or "none"
    wanted = repr(key) if key is not None else f"{ir.DEFAULT_SIGNATURE!r} (default)"
    raise UsageError(
        f"no signature {wanted} in the meta graph tagged {_tagset(mg.meta_info_def.tags)}; "
        f"signatures: {listing}",
        hint="pass --signature with one of them",
    )
