"""ir.Model -> a SavedModel directory, without TensorFlow.

    export_savedmodel(model, "out_dir")

1. ``lift_model`` on a clone (one UnsupportedOpError lists every op TF cannot express);
2. each meta graph through GraphDefWriter: graph inputs -> Placeholders, weights -> resource
   variables (variables_out.py) or Consts, ``tf`` nodes -> NodeDefs; SignatureDefs and assets
   (signatures_out.py);
3. the directory is built in a temporary sibling and renamed into place at the end, so a
   failure leaves nothing behind; the variables stream tensor by tensor into the bundle.

Forms written (no fingerprint.pb in either):

- TF2 (the default where objgraph_out.tf2_blocker allows): the signature as a FunctionDef
  called by StatefulPartitionedCall, the SavedObjectGraph and ``_CHECKPOINTABLE_OBJECT_GRAPH``,
  so ``tf.saved_model.load`` takes its v2 path (``.signatures``, ``.variables``), PLUS the
  TF1-style restore subgraph and saver_def below for the Session and C++ (TF Serving) loaders;
- TF1 (several meta graphs, asset-bound values, ``object_graph=False``, or ops whose output
  argument names op_outputs.py lacks): the graph in the main GraphDef with resource variables,
  a RestoreV2 restore subgraph and a saver_def (FORMATS.md 5.2). Every loader takes it too:
  ``tf.saved_model.load`` through its ``load_v1_in_v2`` path (``.signatures``, ``.variables``
  from the TF1 variable collections), the Session loader, C++ and ``saved_model_cli``.

Several meta graphs share one ``variables/`` and one ``assets/``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from google.protobuf import text_format

from tensorbridge import ir
from tensorbridge.errors import ModelSaveError, UsageError
from tensorbridge.protos import meta_graph_pb2, saved_model_pb2

from .bundle import DEFAULT_SHARD_SIZE
from .graphdef import GraphDefWriter
from .lift import Infer, lift_model
from .objgraph_out import OBJECT_GRAPH_KEY, checkpoint_key, tf2_blocker
from .op_outputs import strip_op_list
from .reader import PB, PBTXT, VARIABLES_PREFIX
from .signatures_out import AssetBinder, copy_assets, signature_defs
from .tf2_out import tf2_meta_graph
from .value_names import tags_key, write_value_names
from .variables_out import GraphVariables, VarEntry, VariableTable, value_tensor

logger = logging.getLogger(__name__)

# A protobuf message must serialize to < 2 GiB (FORMATS.md 5.2); tests monkeypatch this.
FROZEN_LIMIT = (1 << 31) - 1
META_GRAPH_VERSION = "tensorbridge"

Progress = Callable[[int, int], None]


def export_savedmodel(
    model: ir.Model,
    path: str | Path,
    *,
    freeze: bool = False,
    pbtxt: bool = False,
    overwrite: bool = False,
    shard_bytes: int = DEFAULT_SHARD_SIZE,
    tags: Sequence[str] | None = None,
    progress: Progress | None = None,
    object_graph: bool = True,
    infer: Infer | None = None,
) -> Path:
    """Write ``model`` (ONNX-semantics IR; left untouched) as a SavedModel directory ``path``.

    ``freeze``: every weight as a Const (refused past 2 GB). ``pbtxt``: saved_model.pbtxt.
    ``tags``: the tag set of a single-meta-graph model (default: its own). ``progress``:
    called with (bytes written, total bytes) while the variables are written.
    ``object_graph``: write the TF2 form where possible (see the module doc). ``infer``: types
    a model's values in place (lift_model; control-flow bodies need it).
    """
    out = Path(path)
    check_destination(out, overwrite)
    lifted = lift_model(ir.clone_model(model), infer=infer)
    if tags is not None:
        if len(lifted.meta_graphs) != 1:
            raise UsageError(f"tags= retags a single meta graph; the model has "
                             f"{len(lifted.meta_graphs)}")
        lifted.meta_graphs[0].tags = frozenset(tags)
    blocker = tf2_blocker(lifted) if object_graph else "object_graph=False"
    if blocker is not None:
        logger.info("writing the TF1 form (no TF2 object graph): %s", blocker)
    table = VariableTable(key_style=checkpoint_key if blocker is None else None)
    names: dict[str, dict[str, str]] = {}
    sm = _saved_model(lifted, table, freeze, tf2=blocker is None, names=names)
    with staging(out, overwrite) as tmp:
        data = text_format.MessageToString(sm).encode("utf-8") if pbtxt else sm.SerializeToString(
            deterministic=True)
        (tmp / (PBTXT if pbtxt else PB)).write_bytes(data)
        if table.entries:
            table.write_bundle(tmp / VARIABLES_PREFIX, shard_bytes, progress)
        copy_assets(lifted, tmp)
        write_value_names(tmp, names)
    logger.info("wrote SavedModel %s: %d meta graph(s), %d variables", out, len(sm.meta_graphs),
                len(table.entries))
    return out


def _saved_model(model: ir.Model, table: VariableTable, freeze: bool, tf2: bool,
                 names: dict[str, dict[str, str]]) -> saved_model_pb2.SavedModel:
    if freeze:
        _check_frozen_size(model)
    sm = saved_model_pb2.SavedModel(saved_model_schema_version=1)
    if tf2:
        mg = model.meta_graphs[0]
        mgd, object_graph = tf2_meta_graph(mg, table, freeze, names.setdefault(tags_key(mg.tags), {}))
        mgd.meta_info_def.meta_graph_version = META_GRAPH_VERSION
        strip_op_list(mgd)
        sm.meta_graphs.append(mgd)
        table.entries[OBJECT_GRAPH_KEY] = VarEntry(OBJECT_GRAPH_KEY, ir.as_tensor(
            np.array(object_graph, dtype=object), ir.DType.STRING), False, OBJECT_GRAPH_KEY)
        if freeze and sm.ByteSize() > FROZEN_LIMIT:
            raise _too_big(sm.ByteSize())
        return sm
    seen: set[frozenset[str]] = set()
    for mg in model.meta_graphs:
        if mg.tags in seen:
            raise ModelSaveError(f"two meta graphs are tagged {sorted(mg.tags)}; tag sets must differ")
        seen.add(mg.tags)
        sm.meta_graphs.append(_meta_graph(model, mg, table, freeze, names.setdefault(tags_key(mg.tags), {})))
    if freeze and sm.ByteSize() > FROZEN_LIMIT:
        raise _too_big(sm.ByteSize())
    return sm


def _meta_graph(model: ir.Model, mg: ir.MetaGraph, table: VariableTable, freeze: bool,
                names: dict[str, str]) -> meta_graph_pb2.MetaGraphDef:
    variables = GraphVariables(table, freeze=freeze)
    assets = AssetBinder(model)

    def hook(w: GraphDefWriter, v: ir.Value) -> str | None:
        return assets.hook(w, v) or variables.hook(w, v)

    w = GraphDefWriter(initializer_hook=hook)
    mgd = meta_graph_pb2.MetaGraphDef()
    mgd.meta_info_def.tags.extend(sorted(mg.tags))
    mgd.meta_info_def.meta_graph_version = META_GRAPH_VERSION
    w.write_graph(mg.graph, only_used=True)
    names.update(w.sources)
    variables.finish(w, mgd)
    signature_defs(mg, w, mgd)
    mgd.asset_file_def.extend(assets.defs)
    mgd.graph_def.CopyFrom(w.graph_def)
    strip_op_list(mgd)
    return mgd


def _check_frozen_size(model: ir.Model) -> None:
    total = 0
    for mg in model.meta_graphs:
        for v in mg.graph.initializers.values():
            t = value_tensor(v)
            if t is not None:
                total += ir.nbytes(t)
    if total > FROZEN_LIMIT:
        raise _too_big(total)


def _too_big(size: int) -> ModelSaveError:
    return ModelSaveError(
        f"a frozen SavedModel would hold {size} bytes of constants; a GraphDef must stay under "
        f"{FROZEN_LIMIT} bytes (2 GB, a protobuf limit)",
        hint="write it without --freeze: the weights then go into variables/")


# ---- the directory: refuse, stage, rename -------------------------------------------------
def check_destination(out: Path, overwrite: bool) -> None:
    """Refuse an existing non-empty output unless ``overwrite``."""
    if not out.exists() or overwrite:
        return
    if out.is_dir() and not any(out.iterdir()):
        return
    raise ModelSaveError(f"{out} exists and is not empty", hint="pass --overwrite to replace it")


@contextlib.contextmanager
def staging(out: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary sibling of ``out`` to build in; renamed to ``out`` on success, removed on
    failure (``out`` untouched then)."""
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tb-tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        _replace(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace(tmp: Path, out: Path, overwrite: bool) -> None:
    check_destination(out, overwrite)  # something may have appeared meanwhile
    old = None
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    elif out.exists():
        old = out.with_name(f".{out.name}.tb-old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
