"""Weights -> TF resource variables, their restore subgraph, saver_def and tensor bundle.

Which initializers become variables (the rest stay ``Const`` nodes):

- every initializer bound to an IR ``Variable`` (``value.variable``), keyed by its name;
- every other floating-point initializer of at least ``VARIABLE_MIN_ELEMENTS`` elements (a
  weight), and any other initializer of at least ``VARIABLE_MIN_BYTES`` (e.g. int8 weights;
  no shape tensor is that big, and Consts that big would push the GraphDef to its 2 GB limit),
  keyed by the value's name.

Small or non-float constants (shapes, axes, indices, scalars such as an epsilon) stay ``Const``,
so TF's constant folding and shape inference still see them. With ``freeze=True`` every
initializer is a ``Const`` (the writer refuses a frozen GraphDef past 2 GB).

Per meta graph (FORMATS.md 4.3, 5.1, 5.2): ``VarHandleOp`` (``shared_name`` = node name, dtype,
shape) with ``<name>/Read/ReadVariableOp`` where the value is used; a string ``saver_filename``
Placeholder; ``save/SaveV2`` + ``save/control_dependency`` (the save tensor Python's Saver
requires); ``save/RestoreV2`` + one ``AssignVariableOp`` per variable + ``save/restore_all``;
a saver_def (version V2) naming them; and the TF1 ``variables``/``trainable_variables``
collections (resource VariableDefs), so Python loaders list the variables. Meta graphs share one
bundle: a variable used by several of them is stored once under one key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tensorbridge import ir
from tensorbridge.protos import meta_graph_pb2, saver_pb2, variable_pb2

from .attrs_out import tensor_to_proto
from .bundle import BundleWriter
from .graphdef import GraphDefWriter

logger = logging.getLogger(__name__)

VARIABLE_MIN_ELEMENTS = 16
VARIABLE_MIN_BYTES = 1 << 20
FILENAME_NODE = "saver_filename"
K = ir.AttrType


def value_tensor(v: ir.Value) -> ir.Tensor | None:
    """An initializer's data: its constant, else its variable's tensor."""
    if v.const is not None:
        return v.const
    return v.variable.tensor if v.variable is not None else None


def becomes_variable(v: ir.Value) -> bool:
    """The rule in the module doc."""
    if v.variable is not None:
        return True
    t = v.const
    if t is None:
        return False
    if t.dtype.is_floating and int(np.prod(t.shape, dtype=np.int64)) >= VARIABLE_MIN_ELEMENTS:
        return True
    return t.dtype is not ir.DType.STRING and ir.nbytes(t) >= VARIABLE_MIN_BYTES


@dataclass
class VarEntry:
    key: str  # the checkpoint key (bundle entry name)
    tensor: ir.Tensor
    trainable: bool = True
    name: str = ""  # the variable's name (its key unless a key style maps it)


class VariableTable:
    """The variables of every meta graph, by checkpoint key, in first-use order."""

    def __init__(self, key_style: Callable[[str], str] | None = None) -> None:
        self.entries: dict[str, VarEntry] = {}
        self._by_id: dict[int, str] = {}
        self._style = key_style or (lambda name: name)

    def key_for(self, v: ir.Value) -> str:
        """The key of ``v``'s variable (the same for the same IR variable or weight tensor)."""
        source: object = v.variable if v.variable is not None else v.const
        if id(source) in self._by_id:
            return self._by_id[id(source)]
        name = v.variable.name if v.variable is not None else v.name
        key, k = self._style(name), 0
        while key in self.entries:
            k += 1
            key = self._style(f"{name}_{k}")
        tensor = value_tensor(v)
        assert tensor is not None
        trainable = v.variable.trainable if v.variable is not None else True
        self.entries[key] = VarEntry(key, tensor, trainable, name)
        self._by_id[id(source)] = key
        return key

    @property
    def total_bytes(self) -> int:
        return sum(ir.nbytes(e.tensor) for e in self.entries.values())

    def write_bundle(self, prefix: Path, shard_bytes: int,
                     progress: Callable[[int, int], None] | None = None) -> int:
        """Stream every variable, tensor by tensor, into ``prefix``.index/.data-*; returns the
        number of shards."""
        total, done = self.total_bytes, 0
        with BundleWriter(prefix, shard_size=shard_bytes) as bw:
            for e in self.entries.values():
                bw.add(e.key, e.tensor)
                done += ir.nbytes(e.tensor)
                if progress is not None:
                    progress(done, total)
            shards = bw.num_shards
        logger.info("wrote %d variables (%d bytes) in %d shard(s)", len(self.entries), total, shards)
        return shards


@dataclass
class _GraphVar:
    key: str
    handle: str  # VarHandleOp node name
    read: str  # ReadVariableOp tensor name
    dtype: ir.DType
    shape: tuple[int, ...]
    trainable: bool


@dataclass
class GraphVariables:
    """One meta graph's variables: the initializer hook, then ``finish`` adds the saver."""

    table: VariableTable
    freeze: bool = False
    used: list[_GraphVar] = field(default_factory=list)
    _by_key: dict[str, _GraphVar] = field(default_factory=dict)

    def hook(self, w: GraphDefWriter, v: ir.Value) -> str | None:
        """GraphDefWriter initializer hook: a variable read, or None (a Const)."""
        if self.freeze or not becomes_variable(v):
            if v.const is None and v.variable is not None:  # a variable written frozen
                return _const(w, v.name, v.variable.tensor)
            return None
        key = self.table.key_for(v)
        return self.declare(w, key).read

    def declare(self, w: GraphDefWriter, key: str) -> _GraphVar:
        """The VarHandleOp and ReadVariableOp of variable ``key`` (made once per graph)."""
        if key in self._by_key:
            return self._by_key[key]
        e = self.table.entries[key]
        nd = w.add("VarHandleOp", key, dtype=ir.Attr(K.DTYPE, e.tensor.dtype),
                   shape=ir.Attr(K.SHAPE, tuple(e.tensor.shape)))
        nd.attr["shared_name"].s = nd.name.encode("utf-8")
        rd = w.add("ReadVariableOp", f"{nd.name}/Read/ReadVariableOp", [nd.name],
                   dtype=ir.Attr(K.DTYPE, e.tensor.dtype))
        gv = _GraphVar(key, nd.name, f"{rd.name}:0", e.tensor.dtype, tuple(e.tensor.shape),
                       e.trainable)
        self.used.append(gv)
        self._by_key[key] = gv
        return gv

    def finish(self, w: GraphDefWriter, mgd: meta_graph_pb2.MetaGraphDef) -> None:
        """Add the save/restore subgraph, saver_def and variable collections (if any)."""
        if not self.used:
            return
        string = ir.Attr(K.DTYPE, ir.DType.STRING)
        fname = w.add("Placeholder", FILENAME_NODE, dtype=string, shape=ir.Attr(K.SHAPE, ()))
        keys = [g.key for g in self.used]
        dtypes = ir.Attr(K.DTYPES, tuple(g.dtype for g in self.used))
        save = w.add("SaveV2", "save/SaveV2",
                     [fname.name, _strings(w, "save/SaveV2/tensor_names", keys),
                      _strings(w, "save/SaveV2/shape_and_slices", [""] * len(keys)),
                      *[g.read for g in self.used]], dtypes=dtypes)
        save_id = w.add("Identity", "save/control_dependency", [fname.name, f"^{save.name}"], T=string)
        restore = w.add("RestoreV2", "save/RestoreV2",
                        [fname.name, _strings(w, "save/RestoreV2/tensor_names", keys),
                         _strings(w, "save/RestoreV2/shape_and_slices", [""] * len(keys))],
                        dtypes=dtypes)
        assigns = []
        for i, g in enumerate(self.used):
            a = w.add("AssignVariableOp", "save/AssignVariableOp", [g.handle, f"{restore.name}:{i}"],
                      dtype=ir.Attr(K.DTYPE, g.dtype))
            assigns.append(a.name)
        restore_all = w.add("NoOp", "save/restore_all", [f"^{a}" for a in assigns])
        mgd.saver_def.CopyFrom(saver_pb2.SaverDef(
            filename_tensor_name=f"{fname.name}:0", save_tensor_name=f"{save_id.name}:0",
            restore_op_name=restore_all.name, max_to_keep=5, keep_checkpoint_every_n_hours=10000.0,
            version=saver_pb2.SaverDef.V2))
        self._collections(mgd, assigns)

    def _collections(self, mgd: meta_graph_pb2.MetaGraphDef, assigns: list[str]) -> None:
        """TF1 ``variables``/``trainable_variables``: resource VariableDefs (their initializer
        is the restore assign), so Python's loaders list the variables."""
        for g, assign in zip(self.used, assigns):
            vd = variable_pb2.VariableDef(variable_name=f"{g.handle}:0", initializer_name=assign,
                                          snapshot_name=g.read, is_resource=True, trainable=g.trainable)
            blob = vd.SerializeToString()
            mgd.collection_def["variables"].bytes_list.value.append(blob)
            if g.trainable:
                mgd.collection_def["trainable_variables"].bytes_list.value.append(blob)


def _strings(w: GraphDefWriter, name: str, values: list[str]) -> str:
    return _const(w, name, ir.as_tensor(np.array([s.encode("utf-8") for s in values], dtype=object),
                                        ir.DType.STRING))


def _const(w: GraphDefWriter, name: str, tensor: ir.Tensor) -> str:
    nd = w.add("Const", name, dtype=ir.Attr(K.DTYPE, tensor.dtype))
    nd.attr["value"].tensor.CopyFrom(tensor_to_proto(tensor))
    return f"{nd.name}:0"
