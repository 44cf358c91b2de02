"""tensorbridge: convert between TensorFlow SavedModel and ONNX without TensorFlow."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
