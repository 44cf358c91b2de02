"""IR (ONNX semantics) -> TF ops: one small handler per IR op, registered in ``TF_LIFT``.

Families: elementwise.py (arithmetic, comparison, logic, activations, Cast), ... (see each
module). Importing this package registers every handler.
"""

from . import elementwise  # noqa: F401 - registers handlers
from ._context import TF_DOMAIN, TF_LIFT, LiftContext, TfShape, tf_attr
from .driver import lift_model

__all__ = ["TF_DOMAIN", "TF_LIFT", "LiftContext", "TfShape", "lift_model", "tf_attr"]
