"""SavedModel -> ir.Model for one signature, without TensorFlow.

The driver walks back from the signature outputs (TensorInfo names ``op:idx``), inlining
StatefulPartitionedCall/PartitionedCall bodies on the way (callee args bound to the caller's
inputs, ``ret`` mapped to call outputs). Only data edges are followed, so control edges,
NoOps, the init op and the saver subgraph never enter the IR. Variables become initializer
Values whose ``.variable`` holds the lazy bundle tensor; captured resources are bound to
checkpoint keys through the object graph (FORMATS.md 4.2, route A), TF1 variables by op name.

1. discover: an iterative post-order walk gives every TF node the outputs need;
2. pre-scan: ops with no handler are listed (an error with ``unsupported="error"``; by
   default they become opaque ``tf``-domain nodes that carry their attrs);
3. convert: each node through its handler, in that order.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tensorbridge import ir
from tensorbridge.errors import ConversionError, ModelLoadError, UnsupportedOpError
from tensorbridge.protos import (
    function_pb2,
    meta_graph_pb2,
    node_def_pb2,
    trackable_object_graph_pb2,
)

from .attrs import attr_to_ir, shape_from_proto
from .functions import FunctionBody, OpDefs, TensorRef, opaque_output_types, parse_graph_ref
from .ops import TF_IMPORT
from .ops._context import ImportContext, TfNode
from .reader import VARIABLES_PREFIX, read_saved_model, select_meta_graph, select_signature
from .value_names import read_value_names

logger = logging.getLogger(__name__)

CALL_OPS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})
PLACEHOLDERS = frozenset({"Placeholder", "PlaceholderWithDefault"})
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
TF_DOMAIN = "tf"


def import_savedmodel(
    path: str | Path,
    *,
    tags: object = None,
    signature: str | None = None,
    opset: int = ir.CANONICAL_OPSET,
    unsupported: str = "tf",
) -> ir.Model:
    """Import one signature of a SavedModel directory as an ir.Model (one meta graph).

    ``unsupported``: ``"tf"`` keeps ops with no handler as ``tf``-domain nodes; ``"error"``
    raises one UnsupportedOpError listing them all before converting anything."""
    if unsupported not in ("tf", "error"):
        raise ValueError(f"unsupported= must be 'tf' or 'error', not {unsupported!r}")
    root = Path(path)
    sm = read_saved_model(root)
    mgd = select_meta_graph(sm, tags)  # type: ignore[arg-type]
    key, sigdef = select_signature(mgd, signature)
    importer = _Importer(root, mgd, key, sigdef, opset)
    return importer.run(strict=unsupported == "error")


def _info_shape(info: meta_graph_pb2.TensorInfo) -> ir.Shape | None:
    """A TensorInfo's shape; no tensor_shape at all means unknown (not a scalar)."""
    return shape_from_proto(info.tensor_shape) if info.HasField("tensor_shape") else None


def _named_dims(key: str, shape: ir.Shape | None) -> ir.Shape | None:
    """A signature input's unknown dims as symbolic dims named after it (``x_dim0``): shape
    inference carries the names through the graph, so a runtime can tell equal shapes apart
    from unknown ones (ONNX Runtime reuses a buffer in place only for provably equal shapes; with
    anonymous batch dims every residual Add of MobileNetV2 copied its input). One name per input
    dim: TF does not say that two inputs' unknown dims are equal."""
    if shape is None:
        return None
    return tuple(f"{key}_dim{i}" if d is None else d for i, d in enumerate(shape))


# ---- frames: the main graph and each inlined call -----------------------------------------


@dataclass(frozen=True)
class VarKey:
    """A resource argument bound (route A) to a checkpoint key."""

    key: str


@dataclass(eq=False)
class _Frame:
    prefix: str
    nodes: Mapping[str, node_def_pb2.NodeDef]
    body: FunctionBody | None = None  # None: the main graph
    # function frames: arg name -> (caller frame, caller input ref) or VarKey
    args: dict[str, object] = field(default_factory=dict)
    children: dict[str, _Frame] = field(default_factory=dict)

    def parse(self, ref: str) -> TensorRef:
        return self.body.parse(ref) if self.body is not None else parse_graph_ref(ref)


# A canonical reference: a real TF node output, a bound variable key, or a graph input Value
_Site = tuple  # ("node", frame, node_name, index) | ("var", key) | ("value", Value)


class _Importer:
    def __init__(self, root: Path, mgd: meta_graph_pb2.MetaGraphDef, key: str,
                 sigdef: meta_graph_pb2.SignatureDef, opset: int) -> None:
        self.root = root
        self.mgd = mgd
        self.key = key
        self.sigdef = sigdef
        self.opset = opset
        self.opdefs = OpDefs(mgd.meta_info_def.stripped_op_list)
        self.library: dict[str, function_pb2.FunctionDef] = {
            f.signature.name: f for f in mgd.graph_def.library.function}
        self.bodies: dict[str, FunctionBody] = {}
        self.main = _Frame("", {n.name: n for n in mgd.graph_def.node})
        self.graph = ir.Graph(name=key)
        self.model = ir.Model([], producer_name="tensorflow",
                              producer_version=mgd.meta_info_def.tensorflow_version)
        self._bundle = None
        self._object_keys: dict[int, str] | None = None
        self._var_values: dict[str, ir.Value] = {}
        self.value_names = read_value_names(root, mgd.meta_info_def.tags)
        self._renamed: set[ir.Value] = set()
        self._inputs: dict[str, ir.Value] = {}  # placeholder node name -> graph input
        self._tfnodes: dict[tuple[int, str], TfNode] = {}
        self._outputs: dict[tuple[int, str], tuple[ir.Value, ...]] = {}
        self._input_sites: dict[int, list[_Site]] = {}

    # ---- top level -------------------------------------------------------------------------
    def survey(self) -> tuple[collections.Counter[str], dict[str, int]]:
        """TF op histogram of what the signature's outputs need, and the ops with no handler."""
        self._make_inputs()
        sites = [self._site(self.main, parse_graph_ref(self._tensor_name(k, info)))
                 for k, info in sorted(self.sigdef.outputs.items())]
        order = self._discover(sites)
        table = TF_IMPORT.resolve(self.opset)
        hist = collections.Counter(n.op for n in order)
        missing = collections.Counter(n.op for n in order
                                      if not self._driver_op(n) and ("", n.op) not in table)
        return hist, dict(sorted(missing.items()))

    def run(self, *, strict: bool) -> ir.Model:
        inputs = self._make_inputs()
        out_sites = {k: self._site(self.main, parse_graph_ref(self._tensor_name(k, info)))
                     for k, info in sorted(self.sigdef.outputs.items())}
        order = self._discover(list(out_sites.values()))
        table = TF_IMPORT.resolve(self.opset)
        missing: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
        for node in order:
            if not self._driver_op(node) and ("", node.op) not in table:
                missing[("", node.op)].append(node.name)
        if missing:
            if strict:
                raise UnsupportedOpError("savedmodel->ir", missing,
                                         hint="no import handler for these TensorFlow ops")
            logger.warning("kept as tf-domain nodes (no handler): %s",
                           ", ".join(f"{op} x{len(n)}" for (_, op), n in sorted(missing.items())))
        ctx = ImportContext(ir.Builder(self.graph), self.opset, self._input_value, self.variable)
        for node in order:
            self._convert(ctx, node, table)
        outputs = {k: self._output_value(k, self._site_value(s)) for k, s in out_sites.items()}
        for v in outputs.values():
            self.graph.add_output(v)
        sig = ir.Signature(self.key, inputs, outputs, method=self.sigdef.method_name or
                           ir.PREDICT_METHOD)
        opsets = {"": ir.CANONICAL_OPSET}
        if any(n.domain == TF_DOMAIN for n in self.graph):
            opsets[TF_DOMAIN] = 1
        mg = ir.MetaGraph(self.graph, frozenset(self.mgd.meta_info_def.tags),
                          signatures={self.key: sig}, opset_imports=opsets)
        self.model.meta_graphs.append(mg)
        logger.info("imported signature %r: %d nodes, %d variables", self.key, len(self.graph),
                    len(self.model.variables))
        return self.model

    @staticmethod
    def _tensor_name(key: str, info: meta_graph_pb2.TensorInfo) -> str:
        if info.WhichOneof("encoding") != "name":
            raise ModelLoadError(f"signature tensor {key!r} is not a dense tensor "
                                 f"({info.WhichOneof('encoding')}); not supported yet")
        return info.name

    def _make_inputs(self) -> dict[str, ir.Value]:
        inputs: dict[str, ir.Value] = {}
        for k, info in sorted(self.sigdef.inputs.items()):
            ref = parse_graph_ref(self._tensor_name(k, info))
            node = self.main.nodes.get(ref.node)
            if node is None:
                raise ModelLoadError(f"signature input {k!r} names {info.name!r}, which is not "
                                     "in the graph")
            dtype = ir.DType.from_tf(info.dtype)
            v = ir.Value(k, ir.TensorType(dtype, _named_dims(k, _info_shape(info))))
            self.graph.add_input(v)
            inputs[k] = v
            if node.op in PLACEHOLDERS:
                self._inputs[node.name] = v
            else:  # a signature input fed into the middle of a graph: feed that tensor
                self._inputs[f"{ref.node}:{ref.index}"] = v
        return inputs

    def _output_value(self, key: str, v: ir.Value) -> ir.Value:
        info = self.sigdef.outputs[key]
        if v.producer() is None or v.is_graph_output:  # an input, initializer or repeat
            v = ir.Builder(self.graph).op("Identity", [v], name=key)
        if v.type is None:
            v.type = ir.TensorType(ir.DType.from_tf(info.dtype), _info_shape(info))
        v.name = key
        return v

    # ---- references ----------------------------------------------------------------------
    def _body(self, name: str) -> FunctionBody:
        if name not in self.bodies:
            if name not in self.library:
                raise ModelLoadError(f"function {name!r} is not in the graph's library",
                                     path=self.root)
            self.bodies[name] = FunctionBody(self.library[name], self.opdefs, self.library)
        return self.bodies[name]

    def _site(self, frame: _Frame, ref: TensorRef) -> _Site:
        """Follow args, call outputs and placeholders to a real node output (iteratively)."""
        while True:
            if ref.arg:
                src = frame.args[ref.node]
                if isinstance(src, VarKey):
                    return ("var", src.key)
                frame, ref_str = src  # type: ignore[misc]
                ref = frame.parse(ref_str)
                continue
            node = frame.nodes.get(ref.node)
            if node is None:
                raise ModelLoadError(f"reference to unknown node {frame.prefix}{ref.node!r}")
            if frame.body is None:
                fed = self._inputs.get(ref.node) or self._inputs.get(f"{ref.node}:{ref.index}")
                if fed is not None:
                    return ("value", fed)
            if node.op in CALL_OPS or node.op in self.library:
                child = self._call_frame(frame, node)
                out = child.body.fdef.signature.output_arg[ref.index]  # type: ignore[union-attr]
                frame, ref = child, child.parse(child.body.fdef.ret[out.name])  # type: ignore[union-attr]
                continue
            return ("node", frame, ref.node, ref.index)

    def _call_frame(self, frame: _Frame, node: node_def_pb2.NodeDef) -> _Frame:
        if node.name in frame.children:
            return frame.children[node.name]
        # PartitionedCall(f=...) or a direct call: a node whose op is a library function
        fname = node.attr["f"].func.name if node.op in CALL_OPS else node.op
        body = self._body(fname)
        child = _Frame(f"{frame.prefix}{node.name}/", body.nodes, body)
        data = [r for r in node.input if not r.startswith("^")]
        arg_defs = body.fdef.signature.input_arg
        if len(data) != len(arg_defs):
            raise ModelLoadError(f"call {frame.prefix}{node.name!r} passes {len(data)} inputs to "
                                 f"{fname!r}, which takes {len(arg_defs)}")
        bound = self._bound_inputs(fname)
        n_user = len(arg_defs) - len(bound)
        for i, (arg, ref) in enumerate(zip(arg_defs, data)):
            key = bound[i - n_user] if i >= n_user and bound else None
            child.args[arg.name] = VarKey(key) if key is not None else (frame, ref)
        frame.children[node.name] = child
        return child

    def _bound_inputs(self, fname: str) -> list[str | None]:
        """Route A: checkpoint keys of a concrete function's captured inputs (None: not a
        variable, bound through the caller's input instead)."""
        og = self.mgd.object_graph_def
        if not self.mgd.HasField("object_graph_def") or fname not in og.concrete_functions:
            return []
        keys = self._checkpoint_keys()
        out: list[str | None] = []
        for node_id in og.concrete_functions[fname].bound_inputs:
            obj = og.nodes[node_id]
            out.append(keys.get(node_id) if obj.WhichOneof("kind") == "variable" else None)
        return out

    def _checkpoint_keys(self) -> dict[int, str]:
        if self._object_keys is None:
            bundle = self.bundle()
            if OBJECT_GRAPH_KEY not in bundle:
                raise ModelLoadError(f"the variables bundle has no {OBJECT_GRAPH_KEY} entry",
                                     path=self.root / "variables")
            raw = bundle.tensor(OBJECT_GRAPH_KEY).numpy().reshape(-1)[0]
            tog = trackable_object_graph_pb2.TrackableObjectGraph.FromString(bytes(raw))
            self._object_keys = {}
            for i, obj in enumerate(tog.nodes):
                for attr in obj.attributes:
                    if attr.name == "VARIABLE_VALUE":
                        self._object_keys[i] = attr.checkpoint_key
        return self._object_keys

    def bundle(self):
        if self._bundle is None:
            from .bundle import BundleReader

            self._bundle = BundleReader(self.root / VARIABLES_PREFIX)
        return self._bundle

    def variable(self, key: str) -> ir.Value:
        if key not in self._var_values:
            bundle = self.bundle()
            if key not in bundle:
                raise ModelLoadError(f"variable {key!r} is not in the variables bundle",
                                     path=self.root / "variables")
            tensor = bundle.tensor(key)
            var = ir.Variable(key, tensor)
            self.model.variables[key] = var
            v = ir.Value(key, ir.TensorType(tensor.dtype, tensor.shape), variable=var)
            self._var_values[key] = self.graph.add_initializer(v)
        return self._var_values[key]

    # ---- discovery -------------------------------------------------------------------------
    def _tfnode(self, frame: _Frame, name: str) -> TfNode:
        k = (id(frame), name)
        if k not in self._tfnodes:
            nd = frame.nodes[name]
            attrs = self.opdefs.with_defaults(nd)
            if frame.body is not None:
                n_out = sum(n for _, n in frame.body.ranges(name).values())
            elif self.opdefs.get(nd.op) is not None:
                n_out = self.opdefs.num_outputs(nd.op, attrs)
            else:
                n_out = 1
            data = tuple(r for r in nd.input if not r.startswith("^"))
            self._tfnodes[k] = TfNode(frame.prefix + name, nd.op, data, attrs, n_out, key=frame)
        return self._tfnodes[k]

    def _deps(self, node: TfNode) -> list[_Site]:
        k = id(node)
        if k not in self._input_sites:
            frame: _Frame = node.key  # type: ignore[assignment]
            if self._driver_op(node):
                sites = []  # a Placeholder that is no signature input: an error in _convert
            else:
                sites = [self._site(frame, frame.parse(r)) for r in node.inputs]
            self._input_sites[k] = sites
        return self._input_sites[k]

    def _discover(self, roots: list[_Site]) -> list[TfNode]:
        order: list[TfNode] = []
        done: set[int] = set()
        active: set[int] = set()
        stack: list[tuple[TfNode, bool]] = []
        for site in reversed(roots):
            if site[0] == "node":
                stack.append((self._tfnode(site[1], site[2]), False))
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                active.discard(id(node))
                done.add(id(node))
                order.append(node)
                continue
            if id(node) in active:
                raise ModelLoadError(f"the graph has a cycle through {node.name!r}")
            active.add(id(node))
            stack.append((node, True))
            for site in reversed(self._deps(node)):
                if site[0] == "node":
                    dep = self._tfnode(site[1], site[2])
                    if id(dep) not in done:
                        stack.append((dep, False))
        return order

    # ---- conversion ------------------------------------------------------------------------
    @staticmethod
    def _driver_op(node: TfNode) -> bool:
        return node.op == "Placeholder"

    def _site_value(self, site: _Site) -> ir.Value:
        if site[0] == "value":
            return site[1]
        if site[0] == "var":
            return self.variable(site[1])
        _, frame, name, index = site
        outs = self._outputs[(id(frame), name)]
        return outs[index]

    def _input_value(self, node: TfNode, i: int) -> ir.Value:
        return self._site_value(self._deps(node)[i])

    def _convert(self, ctx: ImportContext, node: TfNode, table) -> None:
        frame: _Frame = node.key  # type: ignore[assignment]
        if node.op == "Placeholder":
            raise ModelLoadError(
                f"placeholder {node.name!r} feeds signature {self.key!r} but is not one of its "
                f"inputs ({', '.join(sorted(self.sigdef.inputs))})")
        ctx.b.prefix = node.name + "/"
        n_before = len(ctx.b.created)
        handler = table.get(("", node.op))
        if handler is None:
            outs = self._opaque(ctx, node)
            where = "opaque tf node"
        else:
            try:
                outs = list(handler.fn(ctx, node))
            except Exception as e:  # noqa: BLE001 - the handler boundary: add context
                raise ConversionError(
                    f"{node.op} {node.name!r} via {handler.where} at opset {self.opset}: {e}"
                ) from e
            where = handler.where
        if len(outs) != node.num_outputs:
            raise ConversionError(f"{node.op} {node.name!r} via {where}: returned {len(outs)} "
                                  f"values for {node.num_outputs} outputs")
        bare = node.name.removeprefix(frame.prefix)
        self._outputs[(id(frame), bare)] = tuple(outs)
        if self.value_names:
            self._source_names(bare, outs, ctx.b.created[n_before:])

    def _source_names(self, bare: str, outs: list[ir.Value], created: list[ir.Node]) -> None:
        """Outputs this node's handler made take the source value names the writer recorded
        (value_names.py), when the name is free."""
        made = {o for n in created for o in n.outputs}
        for i, v in enumerate(outs):
            src = self.value_names.get(f"{bare}:{i}")
            if src and v in made and v not in self._renamed and self.graph.rename_value(v, src):
                self._renamed.add(v)

    def _opaque(self, ctx: ImportContext, node: TfNode) -> list[ir.Value]:
        attrs = {k: attr_to_ir(v) for k, v in sorted(node.attrs.items())}
        n = ir.Node(node.op, ctx.inputs(node), attrs, domain=TF_DOMAIN,
                    name=ctx.b.prefix + node.op, num_outputs=node.num_outputs)
        for v, t in zip(n.outputs, opaque_output_types(self.opdefs, node.op, node.attrs)):
            v.type = t
        return list(ctx.b.add(n).outputs)

