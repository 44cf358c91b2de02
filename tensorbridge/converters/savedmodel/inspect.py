"""What a SavedModel holds, read without TensorFlow (what `saved_model_cli show --all` prints,
plus variables, the op histogram of each signature and the ops with no import handler yet)."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from tensorbridge import ir
from tensorbridge.protos import meta_graph_pb2

from .attrs import shape_from_proto
from .importer import _Importer
from .reader import VARIABLES_PREFIX, read_saved_model

NOT_USER = ("__saved_model_init_op", "__saved_model_train_op")


def describe_savedmodel(path: str | Path) -> dict[str, Any]:
    root = Path(path)
    sm = read_saved_model(root)
    hist: collections.Counter[str] = collections.Counter()
    missing: collections.Counter[str] = collections.Counter()
    metas = []
    for mgd in sm.meta_graphs:
        sigs = []
        for key in sorted(mgd.signature_def):
            sigdef = mgd.signature_def[key]
            sigs.append(_signature(key, sigdef))
            if key in NOT_USER:
                continue
            h, m = _Importer(root, mgd, key, sigdef, ir.CANONICAL_OPSET).survey()
            hist.update(h)
            missing.update(m)
        metas.append({"tags": sorted(mgd.meta_info_def.tags), "signatures": sigs})
    count, size = _variables(root)
    return {
        "producer": f"tensorflow {sm.meta_graphs[0].meta_info_def.tensorflow_version}".strip(),
        "meta_graphs": metas,
        "op_histogram": dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))),
        "unsupported_ops": dict(sorted(missing.items())),
        "variable_count": count,
        "variable_bytes": size,
    }


def _signature(key: str, sigdef: meta_graph_pb2.SignatureDef) -> dict[str, Any]:
    def io(infos) -> dict[str, str]:
        out = {}
        for name in sorted(infos):
            info = infos[name]
            shape = shape_from_proto(info.tensor_shape) if info.HasField("tensor_shape") else None
            try:
                dtype = str(ir.DType.from_tf(info.dtype))
            except ValueError:
                dtype = f"dtype {info.dtype}"
            out[name] = f"{dtype}{ir.format_shape(shape)} ({info.name or 'composite'})"
        return out

    return {"key": key, "method": sigdef.method_name, "inputs": io(sigdef.inputs),
            "outputs": io(sigdef.outputs)}  # fmt: skip


def _variables(root: Path) -> tuple[int, int]:
    prefix = root / VARIABLES_PREFIX
    if not prefix.with_name(prefix.name + ".index").is_file():
        return 0, 0
    from .bundle import BundleReader

    reader = BundleReader(str(prefix))
    keys = [k for k in reader.keys() if k != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    return len(keys), sum(int(reader.entry(k).size) for k in keys)
