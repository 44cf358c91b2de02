"""Output argument names of TF ops, for references inside a FunctionDef body.

A FunctionDef names a node's output ``node:<output_arg>:<index within that arg>`` (FORMATS.md
4.1), so writing a function needs each op's OpDef output args. These are facts of the ops
(checked against TensorFlow's op registry by tests/converters/savedmodel/test_writer_tf2.py);
the table covers the ops the lift handlers and the SavedModel importer use plus common
pass-through ops. A graph using an op outside it is written without the TF2 object graph.

Spec grammar: output args separated by spaces; ``name*attr`` is a list sized by the int attr,
``name+attr`` a list sized by the type-list attr.
"""

from __future__ import annotations

from tensorbridge.protos import meta_graph_pb2, node_def_pb2, op_def_pb2

_SPECS: tuple[tuple[str, str], ...] = (
    ('',
     'Assert AssignVariableOp InitializeTableFromTextFileV2 LookupTableImportV2 NoOp PrintV2 SaveV2'),
    ('activations',
     'Elu LeakyRelu Relu Relu6 Selu Softplus Softsign'),
    ('band',
     'MatrixBandPart'),
    ('handle',
     'EmptyTensorList TensorListReserve'),
    ('index',
     'Where'),
    ('indices values shape',
     'StringSplitV2'),
    ('item',
     'TensorListGetItem'),
    ('logsoftmax',
     'LogSoftmax'),
    ('out',
     'Cumprod Cumsum'),
    ('output',
     'All Any ArgMax ArgMin AsString AvgPool AvgPool3D BatchMatMul BatchMatMulV2 BatchMatMulV3 BiasAdd '
     'BiasAddV1 Bitcast BroadcastTo Bucketize CheckNumerics ClipByValue Concat ConcatV2 Const Conv '
     'Conv2D Conv2DBackpropInput Conv3D Conv3DBackpropInputV2 DepthToSpace DepthwiseConv2dNative '
     'Dilation2D Einsum EnsureShape ExpandDims Fill Gather GatherNd GatherV2 Identity LRN '
     'MatrixDeterminant Max MaxPool MaxPool3D MaxPoolV2 Mean Min MirrorPad OneHot Pack Pad PadV2 '
     'Placeholder PlaceholderWithDefault PreventGradient Print Prod Range Rank RegexReplace Reshape '
     'ResourceGather ResourceGatherNd ReverseSequence ReverseV2 ScatterNd SegmentSum Select SelectV2 '
     'Shape Size Slice Snapshot SpaceToDepth Squeeze StaticRegexFullMatch StopGradient StridedSlice '
     'StridedSliceGrad StringJoin StringLength StringLower StringToHashBucketFast StringToNumber '
     'StringUpper Substr Sum TensorScatterAdd TensorScatterMax TensorScatterMin TensorScatterUpdate '
     'Tile UnravelIndex UnsortedSegmentProd UnsortedSegmentSum'),
    ('output argmax',
     'MaxPoolWithArgmax'),
    ('output*num',
     'Unpack'),
    ('output*num_split',
     'Split SplitV'),
    ('output+T',
     'IdentityN StatelessWhile While'),
    ('output+Tout',
     'Case If PartitionedCall StatefulPartitionedCall StatelessCase StatelessIf'),
    ('output_handle',
     'TensorListFromTensor TensorListPushBack TensorListSetItem'),
    ('product',
     'MatMul'),
    ('r0',
     'BroadcastArgs'),
    ('ref',
     'Variable VariableV2'),
    ('resized_images',
     'ResizeBicubic ResizeBilinear ResizeNearestNeighbor ScaleAndTranslate'),
    ('resource',
     'VarHandleOp'),
    ('result',
     'RaggedTensorToTensor'),
    ('size',
     'LookupTableSizeV2'),
    ('softmax',
     'Softmax'),
    ('sum',
     'AddN'),
    ('table_handle',
     'HashTableV2 MutableHashTableV2'),
    ('tensor',
     'TensorListStack'),
    ('tensors+dtypes',
     'RestoreV2'),
    ('value',
     'ReadVariableOp'),
    ('values',
     'LookupTableFindV2'),
    ('values indices',
     'TopK TopKV2'),
    ('y',
     'Abs Acos Acosh Asin Asinh Atan Atanh Cast Ceil Cos Cosh Erf Erfc Exp Expm1 Floor Inv Invert '
     'IsFinite IsInf IsNan Log LogicalNot Neg OnesLike Reciprocal Round Rsqrt Sigmoid Sign Sin Sinh '
     'Sqrt Square Tan Tanh Transpose ZerosLike'),
    ('y batch_mean batch_variance reserve_space_1 reserve_space_2',
     'FusedBatchNorm FusedBatchNormV2'),
    ('y batch_mean batch_variance reserve_space_1 reserve_space_2 reserve_space_3',
     'FusedBatchNormV3'),
    ('z',
     'Add AddV2 BitwiseAnd BitwiseOr BitwiseXor Div Equal FloorDiv FloorMod Greater GreaterEqual '
     'LeftShift Less LessEqual LogicalAnd LogicalOr Maximum Minimum Mod Mul NotEqual Pow RealDiv '
     'RightShift SquaredDifference Sub TruncateDiv TruncateMod'),
    # string, Unique and image ops of the lift (lift/strings.py, unique.py, image.py)
    ('dense', 'SparseToDense'),
    ('image', 'DecodeImage DecodeJpeg'),
    ('output', 'DecodeRaw ReduceJoin StaticRegexReplace UnsortedSegmentMin'),
    ('y', 'InvertPermutation'),
    ('y idx count', 'UniqueWithCounts UniqueWithCountsV2'),
    # NonMaxSuppression over a run-time number of batches and classes (lift/nms.py)
    ('selected_indices selected_scores valid_outputs', 'NonMaxSuppressionV5'),
    ('tensor lengths', 'TensorListConcatV2'),
    # random ops (lift/random.py)
    ('output', 'Multinomial RandomStandardNormal RandomUniform'),
)

OUTPUT_ARGS: dict[str, tuple[str, ...]] = {
    op: tuple(spec.split()) for spec, ops in _SPECS for op in ops.split()
}


def known(op: str) -> bool:
    return op in OUTPUT_ARGS


def function_ref(node: node_def_pb2.NodeDef, index: int) -> str:
    """``node``'s flat output ``index`` as a FunctionDef body reference ``name:arg:k``."""
    start = 0
    for spec in OUTPUT_ARGS[node.op]:
        count = _count(node, spec)
        if index < start + count:
            return f"{node.name}:{spec.split('*')[0].split('+')[0]}:{index - start}"
        start += count
    raise ValueError(f"{node.op} {node.name!r} has no output {index}")


def _count(node: node_def_pb2.NodeDef, spec: str) -> int:
    if "*" in spec:
        return int(node.attr[spec.split("*")[1]].i)
    if "+" in spec:
        return len(node.attr[spec.split("+")[1]].list.type)
    return 1


def strip_op_list(mgd: meta_graph_pb2.MetaGraphDef) -> None:
    """``meta_info_def.stripped_op_list``: for each known op used in the graph or its functions,
    an OpDef holding its output args (what readers need to size outputs and resolve function
    references; every attr is written explicitly, so no defaults are needed)."""
    used = {n.op for n in mgd.graph_def.node}
    for f in mgd.graph_def.library.function:
        used.update(n.op for n in f.node_def)
    op_list = mgd.meta_info_def.stripped_op_list
    for op in sorted(used):
        if op not in OUTPUT_ARGS:
            continue
        opdef = op_list.op.add(name=op)
        for spec in OUTPUT_ARGS[op]:
            name, _, number = spec.partition("*")
            name, _, type_list = name.partition("+")
            opdef.output_arg.append(op_def_pb2.OpDef.ArgDef(name=name, number_attr=number,
                                                             type_list_attr=type_list))
