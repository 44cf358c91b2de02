"""The TF2 form (FORMATS.md 4.2, 5 "hand-written TF2 with variables"): what ``tf.saved_model.load``
needs to take its v2 path and return an object with ``.signatures`` and ``.variables``.

- one FunctionDef per signature, ``__inference_signature_wrapper_<key>_<i>``: the lifted graph
  as a function body (user inputs, then one DT_RESOURCE arg per variable read through
  ``ReadVariableOp``; outputs in sorted key order, as TF flattens a dict);
- in the main graph a ``StatefulPartitionedCall`` of it fed by the input Placeholders and the
  VarHandleOps; the SignatureDef names its outputs (``StatefulPartitionedCall:i``);
- the SavedObjectGraph: root -> ``variables`` (a list: ``obj.variables``) -> SavedVariable
  nodes, and root -> ``signatures`` (signature_map) -> one bare concrete function each, whose
  ``bound_inputs`` are the variable nodes; the checkpoint's ``_CHECKPOINTABLE_OBJECT_GRAPH``
  mirrors it node for node and names each variable's key.

The TF1-style restore subgraph and saver_def stay in the main graph for the C++ (TF Serving)
and Session loaders. Only possible with one meta graph (the v2 loader wants exactly one), no
asset-bound values, every signature reading every graph input, and only ops whose output
arguments op_outputs.py knows; otherwise the writer keeps the TF1 form.
"""

from __future__ import annotations

import re

from tensorbridge import ir
from tensorbridge.protos import (
    function_pb2,
    graph_pb2,
    meta_graph_pb2,
    saved_object_graph_pb2,
    struct_pb2,
    trackable_object_graph_pb2,
)

from .attrs_out import shape_to_proto, tf_dtype_code
from .graphdef import GraphDefWriter, claim
from .op_outputs import function_ref, known
from .signatures_out import ASSET_META

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
VARIABLE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
ARG_OPS = frozenset({"Placeholder", "VarHandleOp"})
K = ir.AttrType
_ARG_BAD = re.compile(r"[^a-z0-9_]")


def tf2_blocker(model: ir.Model) -> str | None:
    """Why the model cannot take the TF2 form (None: it can)."""
    if len(model.meta_graphs) != 1:
        return f"{len(model.meta_graphs)} meta graphs (the TF2 loader takes exactly one)"
    mg = model.meta_graphs[0]
    if any(ASSET_META in v.meta for v in mg.graph.initializers.values()):
        return "asset-bound values"
    inputs = set(mg.graph.inputs)
    for key, sig in mg.signatures.items():
        if set(sig.inputs.values()) != inputs:
            return f"signature {key!r} does not read every graph input"
    unknown = sorted({n.op_type for n in mg.graph if not known(n.op_type)})
    return f"ops with no known output arguments: {', '.join(unknown)}" if unknown else None


def checkpoint_key(name: str) -> str:
    """A TF2-style checkpoint key for a variable called ``name`` (FORMATS.md 4.2 escaping)."""
    if name.endswith(VARIABLE_SUFFIX):
        return name
    return name.replace(".", "..").replace("/", ".S") + VARIABLE_SUFFIX


def _arg_name(base: str, taken: set[str]) -> str:
    name = _ARG_BAD.sub("_", base.lower()) or "arg"
    if not name[0].isalpha():
        name = "a" + name
    return claim(name, taken)


def signature_function(name: str, body: graph_pb2.GraphDef, inputs: list[tuple[str, str]],
                       resources: list[tuple[str, ir.DType, tuple[int, ...]]],
                       outputs: list[tuple[str, str, ir.DType]], *,
                       stateful: bool = True) -> function_pb2.FunctionDef:
    """``body`` as a FunctionDef. ``inputs``: (key, Placeholder node); ``resources``:
    (VarHandleOp node, dtype, shape); ``outputs``: (key, tensor name, dtype). Also writes
    lifted control-flow bodies (graphdef.py; ``stateful=False``)."""
    fdef = function_pb2.FunctionDef()
    fdef.signature.name, fdef.signature.is_stateful = name, stateful
    taken: set[str] = set()
    args = _input_args(fdef, body, inputs, resources, taken)
    nodes = {n.name: n for n in body.node}

    def ref(tensor: str) -> str:
        node, _, idx = tensor.partition(":")
        return args[node] if node in args else function_ref(nodes[node], int(idx or 0))

    for n in body.node:
        if n.op not in ARG_OPS:
            _body_node(fdef, n, args, ref)
    for key, tensor, dtype in outputs:
        out = fdef.signature.output_arg.add(name=_arg_name(f"output_{key}", taken),
                                            type=tf_dtype_code(dtype))
        fdef.ret[out.name] = ref(tensor)
    return fdef


def _input_args(fdef: function_pb2.FunctionDef, body: graph_pb2.GraphDef,
                inputs: list[tuple[str, str]], resources: list[tuple[str, ir.DType, tuple[int, ...]]],
                taken: set[str]) -> dict[str, str]:
    """Declare the user and resource args; returns {Placeholder/VarHandleOp node: arg name}."""
    sig = fdef.signature
    dtypes = {n.name: n.attr["dtype"].type for n in body.node if n.op == "Placeholder"}
    args: dict[str, str] = {}
    for i, (key, node) in enumerate(inputs):
        arg = sig.input_arg.add(name=_arg_name(key, taken), type=dtypes[node])
        args[node] = arg.name
        fdef.arg_attr[i].attr["_user_specified_name"].s = key.encode("utf-8")
    for node, dtype, shape in resources:
        arg = sig.input_arg.add(name=_arg_name("resource", taken), type=tf_dtype_code(ir.DType.RESOURCE))
        arg.handle_data.add(dtype=tf_dtype_code(dtype)).shape.CopyFrom(shape_to_proto(shape))
        args[node] = arg.name
    return args


def _body_node(fdef: function_pb2.FunctionDef, n, args: dict[str, str], ref) -> None:
    """Copy NodeDef ``n`` into the body with its inputs as function references; stateful
    variable ops become control outputs (so they run)."""
    nd = fdef.node_def.add()
    nd.CopyFrom(n)
    del nd.input[:]
    for r in n.input:
        if not r.startswith("^"):
            nd.input.append(ref(r))
        elif r[1:] not in args:  # a control edge from an arg has no meaning in a body
            nd.input.append(r)
    if n.op in ("ReadVariableOp", "AssignVariableOp"):
        fdef.control_ret[n.name] = n.name
        fdef.signature.control_output.append(n.name)


def call_node(w: GraphDefWriter, fname: str, inputs: list[str], in_types: list[ir.DType],
              out_types: list[ir.DType]) -> str:
    """A StatefulPartitionedCall of ``fname`` in the main graph; returns its node name."""
    nd = w.add("StatefulPartitionedCall", "StatefulPartitionedCall", inputs,
               f=ir.Attr(K.FUNC, ir.FuncRef(fname, {})),
               Tin=ir.Attr(K.DTYPES, tuple(in_types)), Tout=ir.Attr(K.DTYPES, tuple(out_types)))
    return nd.name


def _spec(name: str, v: ir.Value) -> struct_pb2.StructuredValue:
    sv = struct_pb2.StructuredValue()
    spec = sv.tensor_spec_value
    spec.name = name
    spec.shape.CopyFrom(shape_to_proto(v.shape))
    spec.dtype = tf_dtype_code(v.dtype)  # type: ignore[arg-type]
    return sv


class ObjectGraph:
    """The SavedObjectGraph and its checkpoint twin, built side by side."""

    def __init__(self) -> None:
        self.saved = saved_object_graph_pb2.SavedObjectGraph()
        self.trackable = trackable_object_graph_pb2.TrackableObjectGraph()
        root = self._node()
        self._user_object(root, "_generic_user_object")
        self.var_list = self._child(0, "variables")
        self._user_object(self.var_list, "trackable_list_wrapper")
        self.sig_map = self._child(0, "signatures")
        self._user_object(self.sig_map, "signature_map")

    def _node(self) -> int:
        self.saved.nodes.add()
        self.trackable.nodes.add()
        return len(self.saved.nodes) - 1

    def _child(self, parent: int, local_name: str) -> int:
        node = self._node()
        self.saved.nodes[parent].children.add(node_id=node, local_name=local_name)
        self.trackable.nodes[parent].children.add(node_id=node, local_name=local_name)
        return node

    def _user_object(self, node: int, identifier: str) -> None:
        uo = self.saved.nodes[node].user_object
        uo.identifier = identifier
        uo.version.producer = uo.version.min_consumer = 1

    def variable(self, name: str, key: str, dtype: ir.DType, shape: tuple[int, ...],
                 trainable: bool) -> int:
        node = self._child(self.var_list, str(len(self.saved.nodes[self.var_list].children)))
        sv = self.saved.nodes[node].variable
        sv.dtype, sv.trainable, sv.name = tf_dtype_code(dtype), trainable, name
        sv.shape.CopyFrom(shape_to_proto(shape))
        self.trackable.nodes[node].attributes.add(name="VARIABLE_VALUE", full_name=name,
                                                  checkpoint_key=key)
        return node

    def signature(self, key: str, fname: str, inputs: dict[str, ir.Value],
                  outputs: dict[str, ir.Value], bound: list[int]) -> None:
        node = self._child(self.sig_map, key)
        bare = self.saved.nodes[node].bare_concrete_function
        bare.concrete_function_name = fname
        bare.argument_keywords.extend(sorted(inputs))
        cf = self.saved.concrete_functions[fname]
        cf.bound_inputs.extend(bound)
        args = cf.canonicalized_input_signature.tuple_value
        args.values.add().tuple_value.SetInParent()
        kwargs = args.values.add().dict_value
        kwargs.SetInParent()
        for k, v in sorted(inputs.items()):
            kwargs.fields[k].CopyFrom(_spec(k, v))
        outs = cf.output_signature.dict_value
        outs.SetInParent()
        for k, v in sorted(outputs.items()):
            outs.fields[k].CopyFrom(_spec(k, v))

    def attach(self, mgd: meta_graph_pb2.MetaGraphDef) -> bytes:
        """Set ``mgd.object_graph_def``; returns the serialized checkpoint twin."""
        mgd.object_graph_def.CopyFrom(self.saved)
        return self.trackable.SerializeToString(deterministic=True)
