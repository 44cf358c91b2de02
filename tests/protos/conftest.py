"""Session-scoped, disk-cached TensorFlow-written SavedModels (see tests/tf_fixtures.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests/tf_fixtures.py


@pytest.fixture(scope="session")
def tf_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for all TF-built models; shared by pytest-xdist workers of a run."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / "tf_models"


@pytest.fixture(scope="session")
def tf_model(tf_models_dir: Path):
    """`tf_model(name)` -> directory of the TF-written model `name` (tf_fixtures.BUILDERS)."""
    pytest.importorskip("tensorflow")
    import tf_fixtures

    def get(name: str) -> Path:
        return tf_fixtures.BUILDERS[name](tf_models_dir / name)

    return get
