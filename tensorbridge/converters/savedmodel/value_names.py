"""Which TF tensor computes which source value: recorded by the SavedModel writer, read back by
the importer, so a model converted ONNX -> SavedModel -> IR keeps the source's value names and
`check --bisect` can pair intermediate values across the two formats.

The record is ``assets.extra/tensorbridge_value_names.json`` (``assets.extra/`` holds files the
model does not read; TensorFlow ignores it): ``{"version": 1, "meta_graphs": {TAGS: {"node:i":
"source value name"}}}`` with TAGS the meta graph's sorted tags joined by ``,``. A TF2-form
model's nodes are those of its signature function body. The importer ignores a record that is
missing, unreadable or of another version: names are a convenience, never needed to convert.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

FILENAME = "tensorbridge_value_names.json"
VERSION = 1


def tags_key(tags: Iterable[str]) -> str:
    return ",".join(sorted(tags))


def write_value_names(root: Path, names: dict[str, dict[str, str]]) -> None:
    """Write the record into ``root/assets.extra/`` (nothing when there are no names)."""
    if not any(names.values()):
        return
    extra = root / "assets.extra"
    extra.mkdir(parents=True, exist_ok=True)
    record = {"version": VERSION, "meta_graphs": names}
    (extra / FILENAME).write_text(json.dumps(record, sort_keys=True, separators=(",", ":")))


def read_value_names(model_dir: Path, tags: Iterable[str]) -> dict[str, str]:
    """The "node:index" -> source name map of the meta graph tagged ``tags``, or {}."""
    path = Path(model_dir) / "assets.extra" / FILENAME
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
        names = record["meta_graphs"].get(tags_key(tags), {}) if record.get("version") == VERSION else {}
    except (OSError, ValueError, KeyError, AttributeError) as e:
        logger.warning("%s: ignored (%s)", path, e)
        return {}
    return {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}
