"""OpDef-driven helpers: default attrs and flat output indices of function-body tensor names.

Inside a FunctionDef body a tensor is ``node:out_arg:idx`` (FORMATS.md 4.1); its flat output
index needs the op's output_arg list, with list-valued args sized by ``number_attr`` (N) or
``type_list_attr`` (length of the type list). The OpDefs come from
``meta_info_def.stripped_op_list``, which also supplies the stripped default attr values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tensorbridge import ir
from tensorbridge.errors import ModelLoadError
from tensorbridge.protos import attr_value_pb2, function_pb2, node_def_pb2, op_def_pb2

from .attrs import shape_from_proto

_CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
AttrMap = Mapping[str, attr_value_pb2.AttrValue]


@dataclass(frozen=True)
class TensorRef:
    """A parsed input reference: a node output (``node``, flat ``index``), or a function
    argument (``node`` is the arg name, ``arg=True``); ``control`` for ``^node``."""

    node: str
    index: int = 0
    arg: bool = False
    control: bool = False


class OpDefs:
    """The OpDefs of one meta graph, keyed by op name."""

    def __init__(self, op_list: op_def_pb2.OpList) -> None:
        self.ops: dict[str, op_def_pb2.OpDef] = {op.name: op for op in op_list.op}

    def get(self, op: str) -> op_def_pb2.OpDef | None:
        return self.ops.get(op)

    def with_defaults(self, node: node_def_pb2.NodeDef) -> dict[str, attr_value_pb2.AttrValue]:
        """The node's attrs with every stripped default restored from its OpDef."""
        attrs = dict(node.attr)
        op = self.ops.get(node.op)
        if op is not None:
            for a in op.attr:
                if a.name not in attrs and a.HasField("default_value"):
                    attrs[a.name] = a.default_value
        return attrs

    def output_ranges(self, op: str, attrs: AttrMap, fn_sig: op_def_pb2.OpDef | None = None
                      ) -> dict[str, tuple[int, int]]:
        """output_arg name -> (flat start, length). ``fn_sig`` for calls of library functions."""
        opdef = fn_sig if fn_sig is not None else self.ops.get(op)
        if opdef is None and op in _CALL_OPS and "Tout" in attrs:
            return {"output": (0, len(attrs["Tout"].list.type))}  # the OpDef is well known
        if opdef is None:
            raise KeyError(op)
        return arg_ranges(opdef.output_arg, attrs)

    def output_dtypes(self, op: str, attrs: AttrMap) -> list[int]:
        """The TF DataType code of each flat output (0 where the OpDef does not fix it)."""
        opdef = self.ops.get(op)
        if opdef is None:
            return []
        codes: list[int] = []
        for arg in opdef.output_arg:
            if arg.type_list_attr:
                codes.extend(attrs[arg.type_list_attr].list.type if arg.type_list_attr in attrs else [])
                continue
            n = int(attrs[arg.number_attr].i) if arg.number_attr in attrs else 1
            code = arg.type or (attrs[arg.type_attr].type if arg.type_attr in attrs else 0)
            codes.extend([code] * n)
        return codes

    def num_outputs(self, op: str, attrs: AttrMap, fn_sig: op_def_pb2.OpDef | None = None) -> int:
        ranges = self.output_ranges(op, attrs, fn_sig)
        return sum(n for _, n in ranges.values())


def arg_ranges(args, attrs: AttrMap) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    start = 0
    for arg in args:
        if arg.number_attr:
            n = int(attrs[arg.number_attr].i)
        elif arg.type_list_attr:
            n = len(attrs[arg.type_list_attr].list.type)
        else:
            n = 1
        out[arg.name] = (start, n)
        start += n
    return out


def parse_graph_ref(ref: str) -> TensorRef:
    """A main-graph input: ``node``, ``node:k`` or ``^node``."""
    if ref.startswith("^"):
        return TensorRef(ref[1:], 0, control=True)
    name, sep, idx = ref.rpartition(":")
    if sep and idx.isdigit():
        return TensorRef(name, int(idx))
    return TensorRef(ref, 0)


class FunctionBody:
    """A FunctionDef with its nodes by name and reference parsing for its body."""

    def __init__(self, fdef: function_pb2.FunctionDef, opdefs: OpDefs,
                 library: Mapping[str, function_pb2.FunctionDef]) -> None:
        self.fdef = fdef
        self.name = fdef.signature.name
        self.nodes: dict[str, node_def_pb2.NodeDef] = {n.name: n for n in fdef.node_def}
        self.args = {a.name: i for i, a in enumerate(fdef.signature.input_arg)}
        self.opdefs = opdefs
        self.library = library
        self._ranges: dict[str, dict[str, tuple[int, int]]] = {}

    def ranges(self, node_name: str) -> dict[str, tuple[int, int]]:
        if node_name not in self._ranges:
            node = self.nodes[node_name]
            attrs = self.opdefs.with_defaults(node)
            fn = self.library.get(node.op)
            sig = fn.signature if fn is not None else None
            try:
                self._ranges[node_name] = self.opdefs.output_ranges(node.op, attrs, sig)
            except KeyError:
                raise ModelLoadError(
                    f"function {self.name!r}: node {node_name!r} uses op {node.op!r}, which has "
                    "no OpDef in meta_info_def.stripped_op_list"
                ) from None
        return self._ranges[node_name]

    def parse(self, ref: str) -> TensorRef:
        """A body reference: ``arg``, ``node:out_arg:idx`` or ``^node``."""
        if ref.startswith("^"):
            return TensorRef(ref[1:], 0, control=True)
        parts = ref.split(":")
        if len(parts) == 1:
            if ref in self.args:
                return TensorRef(ref, 0, arg=True)
            raise ModelLoadError(f"function {self.name!r}: unknown argument {ref!r}")
        if len(parts) == 2:  # `arg:0` style, seen in older writers
            if parts[0] in self.args:
                return TensorRef(parts[0], 0, arg=True)
            raise ModelLoadError(f"function {self.name!r}: bad tensor reference {ref!r}")
        node, out_arg, idx = ":".join(parts[:-2]), parts[-2], parts[-1]
        if node not in self.nodes:
            raise ModelLoadError(f"function {self.name!r}: reference {ref!r} to unknown node")
        ranges = self.ranges(node)
        if out_arg not in ranges:
            raise ModelLoadError(
                f"function {self.name!r}: {ref!r}: op {self.nodes[node].op} has no output "
                f"{out_arg!r} (outputs: {', '.join(ranges)})"
            )
        start, n = ranges[out_arg]
        if not idx.isdigit() or int(idx) >= n:
            raise ModelLoadError(f"function {self.name!r}: {ref!r}: index out of range ({n})")
        return TensorRef(node, start + int(idx))


def opaque_output_types(opdefs: OpDefs, op: str, attrs: AttrMap) -> list[ir.TensorType | None]:
    """Output types of a node kept opaque (no import handler): element types from its OpDef (a
    fixed type or its type attr), shapes from ``_output_shapes`` where the graph recorded them,
    so the ops that read it stay convertible."""
    shapes = list(attrs["_output_shapes"].list.shape) if "_output_shapes" in attrs else []
    types: list[ir.TensorType | None] = []
    for i, code in enumerate(opdefs.output_dtypes(op, attrs)):
        try:
            dtype = ir.DType.from_tf(code) if code else None
        except (KeyError, ValueError):
            dtype = None
        shape = shape_from_proto(shapes[i]) if i < len(shapes) else None
        types.append(ir.TensorType(dtype, shape) if dtype is not None else None)
    return types
