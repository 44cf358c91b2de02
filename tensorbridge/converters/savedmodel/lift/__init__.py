"""IR (ONNX semantics) -> TF ops: one small handler per IR op, registered in ``TF_LIFT``.

Families: elementwise.py (arithmetic, comparison, logic, activations, Cast), ... (see each
module). Importing this package registers every handler.
"""

# isort: off
from . import activations, attention, attention_flex, elementwise, loss, math, matmul, quantize, reduce  # noqa: F401 - math
from . import random, rotary, signal_extra, spectral, training  # noqa: F401 - registers handlers (math family)
from . import array, control, indexing, optional, shaping, slicing  # noqa: F401 - registers handlers (array/shape ops)
from . import affine_grid  # noqa: F401 - registers handlers (NN: sampling grids)
from . import conv, conv_extra, deform_conv, nms, norm, norm_extra, pool, recurrent, resize, sampling  # noqa: F401 - registers handlers (NN: conv, pool, norm, resize)
from . import image, ml, ml_prep, ml_svm, ml_trees, strings, unique  # noqa: F401 - registers handlers (ai.onnx.ml, strings, Unique, ImageDecoder)
# isort: on
from ._context import TF_DOMAIN, TF_LIFT, Infer, LiftContext, TfShape, tf_attr
from .driver import lift_model
from .layout import prepare_layout

__all__ = ["TF_DOMAIN", "TF_LIFT", "Infer", "LiftContext", "TfShape", "lift_model", "prepare_layout",
           "tf_attr"]
