"""Cheap facts about ONNX files and schemas, without importing a model into the IR."""

from __future__ import annotations

from pathlib import Path

import onnx

from ...ir import CANONICAL_OPSET


def read_opsets(path: str | Path) -> dict[str, int]:
    """The opsets an .onnx file imports, by domain ("" for ai.onnx); weights are not read."""
    model = onnx.load(str(path), load_external_data=False)
    return {("" if i.domain == "ai.onnx" else i.domain): int(i.version) for i in model.opset_import}


def read_opset(path: str | Path) -> int | None:
    """The default-domain opset an .onnx file imports."""
    return read_opsets(path).get("")


def supported_onnx_ops() -> list[str]:
    """Default-domain ONNX ops that exist, not deprecated, at the IR's canonical opset."""
    names = set()
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain not in ("", "ai.onnx") or s.since_version > CANONICAL_OPSET:
            continue
        if not onnx.defs.get_schema(s.name, CANONICAL_OPSET, s.domain).deprecated:
            names.add(s.name)
    return sorted(names)
