"""ONNX Runtime backend: device/provider selection, sessions, seeded inputs, output comparison.

The only package (with converters/onnx and the folding pass) that imports onnxruntime.
"""

from .compare import (
    DEFAULT_TOLERANCES,
    SCHEMA_VERSION,
    CompareReport,
    OutputComparison,
    compare_outputs,
    default_tolerance,
    normalize_name,
)
from .inputs import (
    DEFAULT_BATCH_DIM,
    DEFAULT_DIM,
    load_npz,
    make_inputs,
    parse_shape_overrides,
    specs_from_signature,
)
from .providers import (
    CPU,
    CUDA,
    CudaProbe,
    check_single_distribution,
    probe_cuda,
    reset_probe_cache,
    select_providers,
)
from .session import IOInfo, Session

__all__ = [
    "CPU", "CUDA", "DEFAULT_BATCH_DIM", "DEFAULT_DIM", "DEFAULT_TOLERANCES", "SCHEMA_VERSION",
    "CompareReport", "CudaProbe", "IOInfo", "OutputComparison", "Session",
    "check_single_distribution", "compare_outputs", "default_tolerance", "load_npz",
    "make_inputs", "normalize_name", "parse_shape_overrides", "probe_cuda", "reset_probe_cache",
    "select_providers", "specs_from_signature",
]  # fmt: skip
