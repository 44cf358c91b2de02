"""IR signatures -> SignatureDefs, and assets -> ``asset_file_def`` + ``assets/`` files.

A SignatureDef per IR signature (its key; method ``tensorflow/serving/predict`` unless the IR
says otherwise), TensorInfo keyed by the source's input/output names, tensor names ``op:0``,
dtypes and shapes with -1 for dynamic dims (FORMATS.md 2.1, 9.8).

Assets: ``Model.assets`` files are copied into ``assets/`` (hermetic). A graph reads an asset
through an initializer whose ``meta["asset"]`` names the asset: it is written as a string
``Const`` holding the file name and bound through ``asset_file_def``, so every loader feeds it
``<export_dir>/assets/<filename>`` while restoring and initializing (FORMATS.md 6). Asset file
names must be plain names inside ``assets/``: absolute paths, separators and ``..`` are refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from tensorbridge import ir
from tensorbridge.errors import ModelSaveError
from tensorbridge.protos import meta_graph_pb2

from .attrs_out import shape_to_proto, tf_dtype_code
from .graphdef import GraphDefWriter
from .variables_out import _const

ASSET_META = ir.ASSET_META


def signature_defs(mg: ir.MetaGraph, w: GraphDefWriter, mgd: meta_graph_pb2.MetaGraphDef) -> None:
    """Fill ``mgd.signature_def`` from the meta graph's IR signatures."""
    for key, sig in mg.signatures.items():
        sd = mgd.signature_def[key]
        sd.method_name = sig.method or ir.PREDICT_METHOD
        for side, values in ((sd.inputs, sig.inputs), (sd.outputs, sig.outputs)):
            for name, v in values.items():
                _tensor_info(side[name], v, w.name_of(v, f"signature {key!r} tensor {name!r}"))


def _tensor_info(info: meta_graph_pb2.TensorInfo, v: ir.Value, tensor: str) -> None:
    info.name = tensor
    if v.dtype is not None:
        info.dtype = tf_dtype_code(v.dtype, f"signature tensor {v.name!r}")
    info.tensor_shape.CopyFrom(shape_to_proto(v.shape))


def check_asset_name(name: str) -> str:
    """``name`` if it is a plain file name inside ``assets/``; else ModelSaveError."""
    bad = (not name or name in (".", "..") or "/" in name or "\\" in name
           or PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute())
    if bad:
        raise ModelSaveError(f"asset name {name!r} is not a plain file name",
                             hint="assets live directly in assets/: no absolute paths, separators or '..'")
    return name


class AssetBinder:
    """Writes asset-bound initializers as string Consts and records their AssetFileDefs."""

    def __init__(self, model: ir.Model) -> None:
        self.model = model
        self.defs: list[meta_graph_pb2.AssetFileDef] = []

    def hook(self, w: GraphDefWriter, v: ir.Value) -> str | None:
        name = v.meta.get(ASSET_META)
        if name is None:
            return None
        if name not in self.model.assets:
            raise ModelSaveError(f"initializer {v.name!r} reads asset {name!r}, which the model "
                                 f"does not hold (assets: {sorted(self.model.assets)})")
        filename = check_asset_name(self.model.assets[name].filename)
        tensor = _const(w, v.name, ir.as_tensor(np.array(filename.encode("utf-8"), dtype=object),
                                                ir.DType.STRING))
        afd = meta_graph_pb2.AssetFileDef(filename=filename)
        afd.tensor_info.name = tensor
        afd.tensor_info.dtype = tf_dtype_code(ir.DType.STRING)
        afd.tensor_info.tensor_shape.SetInParent()
        self.defs.append(afd)
        return tensor


def copy_assets(model: ir.Model, root: Path) -> None:
    """Copy (or write) every asset into ``root/assets`` (a file name used twice keeps the first)."""
    written: set[str] = set()
    for asset in model.assets.values():
        filename = check_asset_name(asset.filename)
        if filename in written:
            continue
        written.add(filename)
        dst = root / "assets" / filename
        dst.parent.mkdir(parents=True, exist_ok=True)
        if asset.data is not None:
            dst.write_bytes(asset.data)
        elif asset.path is not None:
            if not Path(asset.path).is_file():
                raise ModelSaveError(f"asset {filename!r}: {asset.path} is not a file")
            shutil.copyfile(asset.path, dst)
        else:
            raise ModelSaveError(f"asset {filename!r} has neither a path nor data")
