"""TensorFlow tensor bundles (``variables.index`` + ``variables.data-*``): read and write.

No TensorFlow needed. See FORMATS.md section 3 for the layout.
"""

from .crc32c import ACCELERATOR, Crc32c, crc32c, mask, unmask
from .reader import BundleReader, data_path, index_path
from .writer import DEFAULT_SHARD_SIZE, BundleWriter

__all__ = [
    "ACCELERATOR",
    "BundleReader",
    "BundleWriter",
    "Crc32c",
    "DEFAULT_SHARD_SIZE",
    "crc32c",
    "data_path",
    "index_path",
    "mask",
    "unmask",
]
