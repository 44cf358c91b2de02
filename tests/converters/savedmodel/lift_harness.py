"""Test harness for IR -> TF lifting: lift an IR model (or an ONNX ModelProto), write its graph
as a frozen GraphDef, import that into a fresh tf.Graph and run it in a tf.compat.v1 Session.

    outs = run_onnx_in_tf(model_proto, [x, y])      # one array per ONNX graph output
    outs = run_ir_in_tf(ir_model, {"x": x})

TensorFlow is imported lazily; callers mark their tests `tf` and importorskip it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tensorbridge import ir
from tensorbridge.converters.onnx import import_onnx
from tensorbridge.converters.savedmodel.graphdef import GraphDefWriter
from tensorbridge.converters.savedmodel.lift import lift_model
from tensorbridge.passes import PassContext, shape_inference


def _infer(model: ir.Model) -> None:
    shape_inference(model, PassContext())


def lift_to_graph_def(model: ir.Model):
    """(GraphDef, input tensor names, output tensor names) of a lifted copy of ``model``."""
    lifted = ir.clone_model(model)
    shape_inference(lifted, PassContext())  # as the API does before lifting: handlers need types
    lift_model(lifted, infer=_infer)
    w = GraphDefWriter()
    gd = w.write_graph(lifted.graph)
    return gd, [w.tensor[v] for v in lifted.graph.inputs], [w.tensor[v] for v in lifted.graph.outputs]


def run_ir_in_tf(model: ir.Model, feeds: dict[str, np.ndarray] | Sequence[np.ndarray]) -> list[np.ndarray]:
    import tensorflow as tf

    gd, in_names, out_names = lift_to_graph_def(model)
    if not isinstance(feeds, dict):
        feeds = dict(zip([v.name for v in model.graph.inputs], feeds))
    order = [v.name for v in model.graph.inputs]
    g = tf.Graph()
    with g.as_default():
        tf.graph_util.import_graph_def(tf.compat.v1.GraphDef.FromString(gd.SerializeToString()), name="")
    with tf.compat.v1.Session(graph=g) as sess:
        feed = {in_names[order.index(k)]: v for k, v in feeds.items()}
        return list(sess.run(out_names, feed))


def run_onnx_in_tf(proto, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run an ONNX ModelProto (e.g. a backend node test case) lifted to TF; inputs in graph order."""
    model = import_onnx(proto)
    names = [v.name for v in model.graph.inputs]
    return run_ir_in_tf(model, dict(zip(names, inputs)))
