"""Reading an ONNX file into a ModelProto (without its external data) and normalizing its opset."""

from __future__ import annotations

import logging
from pathlib import Path

import onnx
import onnx.version_converter
from google.protobuf.message import DecodeError

from tensorbridge import ir
from tensorbridge.errors import ModelLoadError

from ._compat import hide_fitting, relabel_fits, unhide

logger = logging.getLogger(__name__)

MIN_OPSET = 13


def read_model(src: str | Path | onnx.ModelProto,
               base_dir: str | Path | None) -> tuple[onnx.ModelProto, Path | None, Path | None]:
    """(proto, path, base_dir) for a path or a proto; the proto's external data stays on disk."""
    if isinstance(src, onnx.ModelProto):
        return src, None, None if base_dir is None else Path(base_dir)
    path = Path(src)
    if not path.is_file():
        raise ModelLoadError("no such ONNX file", path=path)
    data = path.read_bytes()
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ModelLoadError(f"not a valid ONNX protobuf (truncated or corrupt file): {e}",
                             path=path) from None
    if not proto.HasField("graph") or proto.ir_version <= 0 or not proto.opset_import:
        raise ModelLoadError("not an ONNX ModelProto (no graph, ir_version or opset_import)",
                             path=path)
    return proto, path, Path(base_dir) if base_dir is not None else path.parent


def default_opset(opsets) -> int | None:
    for o in opsets:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return None


def default_ops(proto: onnx.ModelProto) -> list[tuple[str, str]]:
    """(op_type, node name) of every default-domain node of the main graph and its subgraphs."""
    found: list[tuple[str, str]] = []

    def walk(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            if node.domain in ("", "ai.onnx"):
                found.append((node.op_type, node.name))
            for a in node.attribute:
                for g in [a.g] if a.HasField("g") else a.graphs:
                    walk(g)

    walk(proto.graph)
    return found


def same_schemas(ops: list[tuple[str, str]], a: int, b: int) -> bool:
    """True when every op has the same schema version at opsets ``a`` and ``b``."""
    for op in dict.fromkeys(o for o, _ in ops):
        try:
            if onnx.defs.get_schema(op, a).since_version != onnx.defs.get_schema(op, b).since_version:
                return False
        except onnx.defs.SchemaError:
            return False
    return True


def set_default_opset(proto: onnx.ModelProto, version: int) -> None:
    for o in proto.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = version
            return
    proto.opset_import.add(domain="", version=version)


def convert_opset(proto: onnx.ModelProto, target: int) -> onnx.ModelProto:
    """``proto`` at default-domain opset ``target``: relabelled when no op changed between the
    two versions, else through onnx.version_converter (which may raise)."""
    current = default_opset(proto.opset_import)
    if current == target:
        return proto
    if current is not None and (same_schemas(default_ops(proto), current, target)
                                or (target < current and relabel_fits(proto, current, target))):
        out = onnx.ModelProto()
        out.CopyFrom(proto)
        set_default_opset(out, target)
        return out
    logger.info("converting the default-domain opset %s -> %s", current, target)
    if current is not None and target < current:
        hidden = hide_fitting(proto, current, target)
        if hidden is not None:
            try:
                return unhide(onnx.version_converter.convert_version(hidden, target))
            except Exception as e:  # noqa: BLE001 - retried below without hiding
                logger.debug("partial conversion failed (%s); converting every node", e)
    return onnx.version_converter.convert_version(proto, target)


def normalize_opset(proto: onnx.ModelProto, path: Path | None) -> onnx.ModelProto:
    """The model at ir.CANONICAL_OPSET, or a ModelLoadError saying why it cannot be."""
    version = default_opset(proto.opset_import)
    target = ir.CANONICAL_OPSET
    if version is None:
        out = onnx.ModelProto()
        out.CopyFrom(proto)
        set_default_opset(out, target)
        return out
    newest = onnx.defs.onnx_opset_version()
    if version > newest:
        raise ModelLoadError(f"opset {version} is newer than the installed onnx knows ({newest})",
                             path=path, hint="upgrade the onnx package")
    old = f" (older than {MIN_OPSET}, the oldest supported)" if version < MIN_OPSET else ""
    try:
        out = convert_opset(proto, target)
    except Exception as e:  # noqa: BLE001 - the C++ converter raises assorted types
        raise ModelLoadError(
            f"cannot convert opset {version}{old} to the canonical opset {target}: {e}",
            path=path,
        ) from e
    if _interface(out) != _interface(proto):
        raise ModelLoadError(
            f"converting opset {version}{old} to the canonical opset {target} changes the "
            f"model's inputs or outputs (e.g. Scan-8's batch axis): {_interface(proto)} -> "
            f"{_interface(out)}", path=path, hint="re-export the model at opset 13 or newer")
    return out


def _interface(proto: onnx.ModelProto) -> list[tuple[str, str, int, int | None]]:
    """(name, kind, element type, rank) of each graph input and output."""
    out = []
    for vi in [*proto.graph.input, *proto.graph.output]:
        kind = vi.type.WhichOneof("value") or ""
        t = vi.type.tensor_type
        rank = len(t.shape.dim) if kind == "tensor_type" and t.HasField("shape") else None
        out.append((vi.name, kind, t.elem_type if kind == "tensor_type" else 0, rank))
    return out
