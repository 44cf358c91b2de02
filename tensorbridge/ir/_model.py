"""Model: one or more meta graphs (tag set + graph + signatures + functions), the variables
shared between them, the assets, and producer metadata."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ._dtype import DType
from ._graph import Graph
from ._tensor import Tensor
from ._value import Value

# The ONNX opset whose semantics every default-domain IR node follows. The ONNX importer
# converts older files up to it; the ONNX exporter converts down to the requested --opset.
# 26 is the newest opset ONNX Runtime 1.31 runs (onnx 1.23 knows 28; ORT rejects 27+).
CANONICAL_OPSET = 26

SERVE = "serve"
DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
# Value.meta key: the Model.assets entry whose file path a (string) initializer holds at run time
ASSET_META = "asset"


@dataclass
class Signature:
    """A named entry point: ordered named inputs and outputs bound to graph Values."""

    key: str
    inputs: dict[str, Value]
    outputs: dict[str, Value]
    method: str = PREDICT_METHOD
    defaults: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class Variable:
    """A model weight held outside the graph (a checkpoint entry); ``name`` is its key."""

    name: str
    tensor: Tensor
    trainable: bool = True
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def dtype(self) -> DType:
        return self.tensor.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self.tensor.shape


@dataclass
class Asset:
    """A file the model reads at run time: from ``path`` (copied on save) or inline ``data``."""

    filename: str
    path: Path | None = None
    data: bytes | None = None


@dataclass
class Function:
    """A model-local function (ONNX FunctionProto, or a TensorFlow FunctionDef before inlining)."""

    name: str
    graph: Graph
    domain: str = ""
    attr_params: tuple[str, ...] = ()
    attr_defaults: dict[str, object] = field(default_factory=dict)
    opset_imports: dict[str, int] = field(default_factory=dict)
    overload: str = ""
    doc: str = ""
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.domain, self.name, self.overload)


@dataclass
class MetaGraph:
    """One graph with its tag set, signatures and functions (a SavedModel MetaGraphDef)."""

    graph: Graph
    tags: frozenset[str] = frozenset({SERVE})
    signatures: dict[str, Signature] = field(default_factory=dict)
    functions: dict[tuple[str, str, str], Function] = field(default_factory=dict)
    opset_imports: dict[str, int] = field(default_factory=lambda: {"": CANONICAL_OPSET})
    meta: dict[str, object] = field(default_factory=dict)

    def signature(self, key: str | None = None) -> Signature:
        """The signature ``key``, or the default one (``serving_default``, else the only one)."""
        if key is None:
            if DEFAULT_SIGNATURE in self.signatures:
                return self.signatures[DEFAULT_SIGNATURE]
            if len(self.signatures) == 1:
                return next(iter(self.signatures.values()))
        elif key in self.signatures:
            return self.signatures[key]
        raise UsageError(
            f"no signature {key or DEFAULT_SIGNATURE!r} in the meta graph tagged "
            f"{sorted(self.tags)}; signatures: {sorted(self.signatures) or 'none'}"
        )


@dataclass
class Model:
    meta_graphs: list[MetaGraph]
    variables: dict[str, Variable] = field(default_factory=dict)
    assets: dict[str, Asset] = field(default_factory=dict)
    producer_name: str = ""
    producer_version: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def main(self) -> MetaGraph:
        """The only meta graph (most models have exactly one)."""
        if len(self.meta_graphs) != 1:
            tags = [sorted(m.tags) for m in self.meta_graphs]
            raise UsageError(f"the model has {len(self.meta_graphs)} meta graphs {tags}; pick one")
        return self.meta_graphs[0]

    @property
    def graph(self) -> Graph:
        return self.main.graph

    def meta_graph(self, tags: frozenset[str] | None = None) -> MetaGraph:
        """Exact tag-set match; with no tags the only meta graph, else the one tagged {serve}."""
        if tags is None:
            if len(self.meta_graphs) == 1:
                return self.meta_graphs[0]
            tags = frozenset({SERVE})
        for m in self.meta_graphs:
            if m.tags == frozenset(tags):
                return m
        present = ", ".join("{" + ",".join(sorted(m.tags)) + "}" for m in self.meta_graphs)
        raise UsageError(
            f"no meta graph tagged {{{','.join(sorted(tags))}}}; tag sets present: {present}",
            hint="pass --tags with one of them",
        )

    def graphs(self) -> Iterator[Graph]:
        """Every top-level graph: each meta graph's and each function's."""
        for m in self.meta_graphs:
            yield m.graph
            for f in m.functions.values():
                yield f.graph


def single_graph_model(
    graph: Graph,
    signature: Signature | None = None,
    opset_imports: Mapping[str, int] | None = None,
) -> Model:
    """A Model with one meta graph tagged {serve} whose signature mirrors the graph's I/O."""
    if signature is None:
        signature = Signature(
            DEFAULT_SIGNATURE,
            {v.name: v for v in graph.inputs},
            {v.name: v for v in graph.outputs},
        )
    ops = dict(opset_imports or {})
    ops.setdefault("", CANONICAL_OPSET)
    return Model([MetaGraph(graph, signatures={signature.key: signature}, opset_imports=ops)])
