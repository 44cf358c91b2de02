"""Put this folder first on PYTHONPATH to run a Python process in which importing TensorFlow
or Keras raises: the proof that conversion needs no TensorFlow."""

import importlib.abc
import sys


class _NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tensorflow_core"):
            raise ImportError(f"{name} is blocked: tensorbridge must not need TensorFlow")
        return None


sys.meta_path.insert(0, _NoTensorFlow())
