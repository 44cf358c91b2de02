"""keras-hub backbones for tests/e2e/test_keras_hub.py: a BERT-style and a GPT-2-style
backbone from a small config with random weights (seed 0), exported with `model.export()`.

keras-hub is installed without its dependencies (tests/requirements-nodeps.txt: its
tensorflow-text dependency would pull in the full `tensorflow` package beside tensorflow-cpu);
its light dependencies are in the test extra. Cached on disk like tests/tf_fixtures.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/tf_fixtures.py

from tf_fixtures import _cached  # noqa: E402

# a config small enough to build and export in seconds, with every block of the real models
CONFIG = dict(vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64,
              max_sequence_length=16)  # fmt: skip
BACKBONES = ("BertBackbone", "GPT2Backbone")


@_cached
def build_keras_hub_backbone(out: Path, name: str) -> None:
    """`keras_hub.models.<name>(**CONFIG)`, seed 0, exported with `model.export()`."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    model = getattr(keras_hub.models, name)(**CONFIG)
    model.export(str(out), verbose=False)
