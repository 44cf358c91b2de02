"""One meta graph in the TF2 form (objgraph_out.py says what it holds): the lifted graph becomes
a function body; the main graph holds the input Placeholders, the VarHandleOps, one call per
signature and the TF1-style save/restore subgraph."""

from __future__ import annotations

import re

from tensorbridge import ir
from tensorbridge.protos import meta_graph_pb2

from .graphdef import GraphDefWriter
from .objgraph_out import VARIABLE_SUFFIX, ObjectGraph, call_node, signature_function
from .signatures_out import _tensor_info
from .variables_out import GraphVariables, VariableTable

_FN_BAD = re.compile(r"[^A-Za-z0-9_]")


def tf2_meta_graph(mg: ir.MetaGraph, table: VariableTable, freeze: bool,
                   names: dict[str, str]) -> tuple[meta_graph_pb2.MetaGraphDef, bytes]:
    """(the MetaGraphDef, the serialized TrackableObjectGraph for the checkpoint); ``names``
    gets the body's "node:index" -> source value names."""
    body_vars = GraphVariables(table, freeze=freeze)
    body = GraphDefWriter(initializer_hook=body_vars.hook)
    body.write_graph(mg.graph, only_used=True)
    names.update(body.sources)
    main = GraphDefWriter()
    mgd = meta_graph_pb2.MetaGraphDef()
    mgd.meta_info_def.tags.extend(sorted(mg.tags))
    for v in mg.graph.inputs:
        main.placeholder(v)
    main_vars = GraphVariables(table)
    handles = [main_vars.declare(main, gv.key).handle for gv in body_vars.used]
    og = ObjectGraph()
    bound = [og.variable(table.entries[gv.key].name.removesuffix(VARIABLE_SUFFIX), gv.key, gv.dtype,
                         gv.shape, gv.trainable) for gv in body_vars.used]
    resources = [(gv.handle, gv.dtype, gv.shape) for gv in body_vars.used]
    functions = []
    for i, (key, sig) in enumerate(mg.signatures.items()):
        fname = f"__inference_signature_wrapper_{_FN_BAD.sub('_', key)}_{i}"
        ins, outs = sorted(sig.inputs.items()), sorted(sig.outputs.items())
        fdef = signature_function(
            fname, body.graph_def,
            [(k, body.tensor[v].split(":")[0]) for k, v in ins], resources,
            [(k, body.name_of(v, f"signature {key!r} output {k!r}"), _dtype(v)) for k, v in outs])
        functions.append(fdef)
        call = call_node(main, fname, [main.tensor[v] for _, v in ins] + handles,
                         [_dtype(v) for _, v in ins] + [ir.DType.RESOURCE] * len(handles),
                         [_dtype(v) for _, v in outs])
        sd = mgd.signature_def[key]
        sd.method_name = sig.method or ir.PREDICT_METHOD
        for k, v in ins:
            _tensor_info(sd.inputs[k], v, main.tensor[v])
        for j, (k, v) in enumerate(outs):
            _tensor_info(sd.outputs[k], v, f"{call}:{j}")
        og.signature(key, fname, sig.inputs, sig.outputs, bound)
    main_vars.finish(main, mgd)
    mgd.graph_def.CopyFrom(main.graph_def)
    mgd.graph_def.library.function.extend(functions)
    mgd.graph_def.library.function.extend(body.graph_def.library.function)  # control-flow bodies
    return mgd, og.attach(mgd)


def _dtype(v: ir.Value) -> ir.DType:
    if v.dtype is None:
        raise ValueError(f"signature tensor {v.name!r} has no known element type")
    return v.dtype
