"""An ONNX Runtime session over an IR model, an ``onnx.ModelProto`` or an ONNX file.

The session asserts that the requested device is the one really in use (ORT falls back to the
CPU silently), wraps creation and run failures in one-line RuntimeSessionErrors naming the model,
and returns outputs by name.
"""

from __future__ import annotations

import ctypes
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from tensorbridge.errors import RuntimeSessionError
from tensorbridge.ir import DType

from .providers import CUDA, import_ort, select_providers

if TYPE_CHECKING:
    import onnx

    from tensorbridge import ir

logger = logging.getLogger(__name__)

# protobuf refuses to serialize a message of 2 GiB or more; such protos go through a file.
_PROTO_LIMIT = 2**31 - 1
_ORT_TYPE_NAMES = {"float": DType.FLOAT, "double": DType.DOUBLE}


class IOInfo(NamedTuple):
    """A session input or output; unpacks as the ``(name, dtype, shape)`` spec of make_inputs.
    ``dtype`` is None for non-tensor values (sequences, maps); dims are int, str (symbolic) or
    None (unknown); ``shape`` is None for unknown rank."""

    name: str
    dtype: DType | None
    shape: tuple[int | str | None, ...] | None


def dtype_from_ort(type_str: str) -> DType | None:
    """``'tensor(float)'`` -> DType.FLOAT; None for non-tensor types like ``seq(tensor(float))``."""
    if not (type_str.startswith("tensor(") and type_str.endswith(")")):
        return None
    name = type_str[len("tensor(") : -1]
    if name in _ORT_TYPE_NAMES:
        return _ORT_TYPE_NAMES[name]
    try:
        return DType(name)
    except ValueError:
        return None


def one_line(error: BaseException | str, limit: int = 500) -> str:
    """An ORT message on one line (ORT's own messages span several), cut to ``limit``."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _io_info(arg: Any) -> IOInfo:
    shape = arg.shape
    dims = None if shape is None else tuple(d if d is None or isinstance(d, str) else int(d)
                                            for d in shape)  # fmt: skip
    return IOInfo(arg.name, dtype_from_ort(arg.type), dims)


class Session:
    """An ORT InferenceSession built from an ``ir.Model``, an ``onnx.ModelProto`` or a path.

    ``device`` is ``auto|cpu|cuda`` (see :func:`select_providers`); ``providers`` overrides the
    selection. ``.providers`` lists the providers actually active, ``.provider`` the first."""

    def __init__(
        self,
        model: ir.Model | onnx.ModelProto | str | Path,
        device: str = "auto",
        *,
        providers: list[str] | None = None,
        opset: int | None = None,
    ) -> None:
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self.device = device
        requested = list(providers) if providers is not None else select_providers(device)
        source, self.label = self._source(model, opset)
        self._sess = self._create(source, requested)
        self.providers: list[str] = list(self._sess.get_providers())
        self.provider = self.providers[0]
        if (device == "cuda" or CUDA in requested[:1]) and self.provider != CUDA:
            raise RuntimeSessionError(
                f"{self.label}: CUDAExecutionProvider was requested but the session runs on "
                f"{', '.join(self.providers)}",
                hint="ONNX Runtime fell back to the CPU; see `--device auto` or install CUDA",
            )
        self.inputs = [_io_info(a) for a in self._sess.get_inputs()]
        self.outputs = [_io_info(a) for a in self._sess.get_outputs()]
        logger.info("session %s on %s", self.label, ", ".join(self.providers))

    # ---- construction -----------------------------------------------------------------
    def _source(self, model: Any, opset: int | None) -> tuple[str | bytes, str]:
        if isinstance(model, (str, Path)):
            path = Path(model)
            if not path.is_file():
                raise RuntimeSessionError(f"{path}: no such ONNX file")
            return str(path), str(path)
        import onnx

        if isinstance(model, onnx.ModelProto):
            return self._proto_source(model, f"<ModelProto {model.graph.name or 'unnamed'}>")
        from tensorbridge import ir

        if isinstance(model, ir.Model):
            proto = ir_to_proto(model, opset)
            return self._proto_source(proto, f"<IR model {proto.graph.name or 'unnamed'}>")
        raise TypeError(f"Session needs an ir.Model, onnx.ModelProto or path, not {type(model)}")

    def _proto_source(self, proto: onnx.ModelProto, label: str) -> tuple[str | bytes, str]:
        if proto.ByteSize() < _PROTO_LIMIT:
            return proto.SerializeToString(), label
        import onnx

        self._tmpdir = tempfile.TemporaryDirectory(prefix="tensorbridge-session-")
        path = Path(self._tmpdir.name) / "model.onnx"
        onnx.save_model(proto, str(path), save_as_external_data=True, location="model.data")
        logger.info("%s is over 2 GiB: loading it through %s", label, path)
        return str(path), label

    def _create(self, source: str | bytes, providers: list[str]) -> Any:
        ort = import_ort()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(source, options, providers=providers)
        except Exception as e:  # noqa: BLE001 - the session boundary: add context, re-raise
            if isinstance(source, str) and "Unsupported model IR version" in str(e):
                return self._create(_lowered_ir_version(Path(source), str(e)), providers)
            raise RuntimeSessionError(
                f"{self.label}: cannot create an ONNX Runtime session: {one_line(e)}"
            ) from e

    # ---- running ----------------------------------------------------------------------
    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; returns every output by name."""
        check_feeds(self.label, [i.name for i in self.inputs], feeds, "model")
        names = [o.name for o in self.outputs]
        try:
            if not any(_is_ml(i.dtype) for i in self.inputs + self.outputs):
                plain = {k: _plain(v) for k, v in feeds.items()}
                return dict(zip(names, self._sess.run(names, plain)))
            # bfloat16 / float8 ...: ORT's numpy bridge lacks them, so go through OrtValues
            ort_feeds = {k: _to_ortvalue(v) for k, v in feeds.items()}
            values = self._sess.run_with_ort_values(names, ort_feeds)
            return {o.name: _from_ortvalue(o, v) for o, v in zip(self.outputs, values)}
        except Exception as e:  # noqa: BLE001 - the session boundary: add context, re-raise
            raise RuntimeSessionError(f"{self.label}: run failed: {one_line(e)}") from e


def ir_to_proto(model: ir.Model, opset: int | None = None) -> onnx.ModelProto:
    """The IR model as an ONNX proto to run; the ONNX checker's refusal becomes a one-line
    RuntimeSessionError (the session boundary) instead of an internal error."""
    import onnx

    from tensorbridge.converters.onnx import to_model_proto

    try:
        return to_model_proto(model, opset=opset)
    except onnx.checker.ValidationError as e:
        raise RuntimeSessionError(
            f"the IR model does not export to a valid ONNX model to run: {one_line(e)}"
        ) from e


def _lowered_ir_version(path: Path, message: str) -> bytes:
    """The file's model with its ir_version lowered in memory to what this ONNX Runtime loads
    (onnx 1.23 writes IR 14 by default, ORT 1.31 reads up to 13); the file is not touched.
    ORT still refuses the model if it really uses something newer."""
    import onnx

    from tensorbridge.converters.onnx import max_runtime_ir_version

    proto = onnx.load(str(path))  # with its external data: bytes cannot point at files
    if proto.ByteSize() >= _PROTO_LIMIT:
        raise RuntimeSessionError(f"{path}: {one_line(message)}",
                                  hint="re-export it with tensorbridge convert")
    logger.warning("%s has IR version %d, newer than this ONNX Runtime loads; running it with "
                   "ir_version %d (in memory only)", path, proto.ir_version,
                   max_runtime_ir_version())  # fmt: skip
    proto.ir_version = max_runtime_ir_version()
    return proto.SerializeToString()


def _is_ml(dtype: DType | None) -> bool:
    return dtype is not None and dtype.bits >= 8 and _is_ml_dtype(dtype.numpy)


def _plain(value: Any) -> np.ndarray:
    arr = np.asarray(value)
    return arr.astype(object) if arr.dtype.kind in "US" else arr


def _to_ortvalue(value: Any) -> Any:
    """numpy arrays; ml_dtypes arrays (bfloat16, float8 ...) passed as raw bytes + ONNX type."""
    ort = import_ort()
    arr = np.ascontiguousarray(value)
    if not _is_ml_dtype(arr.dtype):
        return ort.OrtValue.ortvalue_from_numpy(arr)
    code = DType.from_numpy(arr.dtype).onnx_code
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(_raw_view(arr), code)


def _from_ortvalue(info: IOInfo, value: Any) -> Any:
    """ORT cannot hand bfloat16 (or float8 on some builds) to numpy: copy those bytes out."""
    want = info.dtype.numpy if info.dtype is not None and info.dtype.bits >= 8 else None
    if want is None or not _is_ml_dtype(want) or not value.is_tensor():
        return value.numpy()
    nbytes = value.tensor_size_in_bytes()
    raw = ctypes.string_at(value.data_ptr(), nbytes) if nbytes else b""
    return np.frombuffer(raw, dtype=want).reshape(value.shape()).copy()


def _is_ml_dtype(dt: np.dtype) -> bool:
    return type(dt).__module__.startswith("ml_dtypes") or dt.type.__module__.startswith("ml_dtypes")


def _raw_view(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr).view(np.dtype(f"u{arr.dtype.itemsize}"))


def check_feeds(label: str, expected: list[str], feeds: Mapping[str, np.ndarray], what: str) -> None:
    """One clear error when ``feeds`` are not exactly the ``expected`` input names."""
    missing = [n for n in expected if n not in feeds]
    extra = [n for n in feeds if n not in expected]
    if missing or extra:
        raise RuntimeSessionError(
            f"{label}: inputs do not match the {what}: missing {missing or 'none'}, "
            f"unexpected {extra or 'none'} ({what} inputs: {', '.join(expected)})"
        )
