"""tensorbridge's intermediate representation: ONNX op semantics at one canonical opset,
use-def links kept exact by the IR, lazy tensors, and SavedModel-level structure (meta graphs,
signatures, variables, assets). Imports nothing from converters, passes or runtime."""

from ._clone import clone_graph, clone_model
from ._dtype import DType
from ._graph import Graph
from ._model import (
    ASSET_META,
    CANONICAL_OPSET,
    DEFAULT_SIGNATURE,
    PREDICT_METHOD,
    SERVE,
    Asset,
    Function,
    MetaGraph,
    Model,
    Signature,
    Variable,
    single_graph_model,
)
from ._node import Attr, AttrType, FuncRef, Node
from ._tensor import ArrayTensor, ExternalTensor, LazyTensor, Tensor, as_tensor, is_lazy, nbytes
from ._types import (
    MapType,
    OptionalType,
    SequenceType,
    Shape,
    SparseTensorType,
    TensorType,
    TypeSpec,
    format_shape,
    is_static,
    normalize_shape,
)
from ._value import Use, Value
from .builder import Builder
from .printer import format_graph
from .verify import verify

__all__ = [
    "ASSET_META", "CANONICAL_OPSET", "DEFAULT_SIGNATURE", "PREDICT_METHOD", "SERVE",
    "ArrayTensor", "Asset", "Attr", "AttrType", "Builder", "DType", "ExternalTensor",
    "FuncRef", "Function", "Graph", "LazyTensor", "MapType", "MetaGraph", "Model", "Node",
    "OptionalType", "SequenceType", "Shape", "Signature", "SparseTensorType", "Tensor",
    "TensorType", "TypeSpec", "Use", "Value", "Variable", "as_tensor", "clone_graph", "clone_model",
    "format_graph",
    "format_shape", "is_lazy", "is_static", "nbytes", "normalize_shape", "single_graph_model",
    "verify",
]  # fmt: skip
