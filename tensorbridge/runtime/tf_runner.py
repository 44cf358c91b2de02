"""Run one signature of a SavedModel directory natively in TensorFlow.

TensorFlow is optional: nothing here imports it at module level, and :func:`import_tensorflow`
is the one place in the package that imports it at all (tests/test_layers.py allows it here,
inside a function only). A TFRunner has the same surface as :class:`~.session.Session` (``inputs``,
``outputs``, ``run``, ``provider``, ``providers``, ``label``), so a check treats both alike.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from tensorbridge.errors import RuntimeSessionError, UsageError
from tensorbridge.ir import DType

from .session import IOInfo, check_feeds, one_line

logger = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"


def import_tensorflow() -> ModuleType | None:
    """The tensorflow module, or None when it cannot be imported (not installed, blocked)."""
    try:
        import tensorflow

        return tensorflow
    except ImportError as e:
        logger.info("TensorFlow is not importable (%s): SavedModels run through the IR", e)
        return None


def tensorflow_version() -> str | None:
    tf = import_tensorflow()
    return None if tf is None else str(tf.__version__)


class TFRunner:
    """A loaded SavedModel signature. ``device``: ``auto`` (TensorFlow's own placement: a GPU
    when TF sees one), ``cpu`` (pinned to /CPU:0) or ``cuda`` (needs a GPU TF can see)."""

    def __init__(
        self,
        path: str | Path,
        *,
        signature: str | None = None,
        tags: Sequence[str] | None = None,
        device: str = "auto",
    ) -> None:
        tf = import_tensorflow()
        if tf is None:
            raise RuntimeSessionError(
                f"{path}: TensorFlow is not importable, cannot run the SavedModel natively",
                hint="install tensorflow-cpu, or use --savedmodel-runtime ir (or auto)",
            )
        self._tf = tf
        self.label = str(path)
        self._device = _tf_device(tf, device, self.label)
        self._fn = self._load(Path(path), signature, tags)
        self.version = str(tf.__version__)
        self.provider = self._device.lstrip("/") if self._device else _default_device(tf)
        self.providers = [self.provider]
        self.inputs = _input_infos(self._fn)
        self.outputs = _output_infos(self._fn)
        logger.info("tensorflow %s runs %s on %s", self.version, self.label, self.provider)

    def _load(self, path: Path, signature: str | None, tags: Sequence[str] | None) -> Any:
        try:
            loaded = self._tf.saved_model.load(str(path), tags=list(tags) if tags else None)
        except Exception as e:  # noqa: BLE001 - the session boundary: add context, re-raise
            raise RuntimeSessionError(f"{path}: TensorFlow cannot load it: {one_line(e)}") from e
        sigs = dict(loaded.signatures)
        key = signature or (DEFAULT_SIGNATURE if DEFAULT_SIGNATURE in sigs or len(sigs) != 1
                            else next(iter(sigs)))  # fmt: skip
        if key not in sigs:
            raise UsageError(f"{path}: no signature {key!r}; signatures: {sorted(sigs) or 'none'}")
        self._keep_alive = loaded  # the concrete function needs its object graph alive
        return sigs[key]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the signature once; every output by its signature key, as numpy arrays."""
        check_feeds(self.label, [i.name for i in self.inputs], feeds, "signature")
        tf = self._tf
        try:
            with tf.device(self._device) if self._device else contextlib.nullcontext():
                args = {k: tf.constant(v) for k, v in feeds.items()}
                out = self._fn(**args)
            return {k: _to_numpy(v) for k, v in out.items()}
        except Exception as e:  # noqa: BLE001 - the session boundary: add context, re-raise
            raise RuntimeSessionError(f"{self.label}: TensorFlow run failed: {one_line(e)}") from e


def _tf_device(tf: ModuleType, device: str, label: str) -> str | None:
    if device == "cpu":
        return "/CPU:0"
    if device == "cuda":
        if not tf.config.list_logical_devices("GPU"):
            raise RuntimeSessionError(
                f"{label}: --device cuda: TensorFlow sees no GPU",
                hint="install a CUDA build of TensorFlow, or use --device cpu/auto",
            )
        return "/GPU:0"
    return None  # auto: TensorFlow places ops itself


def _default_device(tf: ModuleType) -> str:
    return "GPU:0" if tf.config.list_logical_devices("GPU") else "CPU:0"


def _spec_info(name: str, spec: Any) -> IOInfo:
    try:
        dtype: DType | None = DType.from_numpy(np.dtype(spec.dtype.as_numpy_dtype))
    except (ValueError, TypeError):
        dtype = None
    dims = None if spec.shape.rank is None else tuple(spec.shape.as_list())
    return IOInfo(name, dtype, dims)


def _input_infos(fn: Any) -> list[IOInfo]:
    specs = fn.structured_input_signature[1]
    return [_spec_info(k, s) for k, s in specs.items()]


def _output_infos(fn: Any) -> list[IOInfo]:
    return [_spec_info(k, s) for k, s in fn.structured_outputs.items()]


def _to_numpy(value: Any) -> np.ndarray:
    arr = value.numpy()
    return arr.astype(object) if isinstance(arr, np.ndarray) and arr.dtype.kind == "S" else arr
