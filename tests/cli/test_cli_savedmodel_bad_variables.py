"""Issue 4, bad input: damaged variables of a TF-written SavedModel. Each damage gives one
error line naming the file and what is wrong, a non-zero exit code, no traceback and no output
file, in a process where importing TensorFlow raises; the source folder is left untouched."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from test_cli_savedmodel import mlp_dir, tb  # noqa: F401 - mlp_dir is a fixture

pytestmark = pytest.mark.tf


def _shard(d: Path) -> Path:
    (shard,) = sorted((d / "variables").glob("variables.data-*"))
    return shard


def _drop_shard(d: Path) -> str:
    _shard(d).unlink()
    return "variables.data-00000-of-00001"


def _truncate_index(d: Path) -> str:
    index = d / "variables" / "variables.index"
    index.write_bytes(index.read_bytes()[:-20])
    return "variables.index"


def _flip_data_byte(d: Path) -> str:
    shard = _shard(d)
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x55
    shard.write_bytes(bytes(data))
    return "variables.data-00000-of-00001: tensor"


def _flip_index_byte(d: Path) -> str:
    index = d / "variables" / "variables.index"
    data = bytearray(index.read_bytes())
    data[10] ^= 0x55  # inside the first data block: its masked CRC32C no longer matches
    index.write_bytes(bytes(data))
    return "variables.index"


DAMAGE = {"missing shard": _drop_shard, "truncated index": _truncate_index,
          "data CRC mismatch": _flip_data_byte, "index block CRC mismatch": _flip_index_byte}


def _digest(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_variables_one_clear_error(damage, mlp_dir, tmp_path):  # noqa: F811
    src = tmp_path / "model"
    shutil.copytree(mlp_dir, src)
    expect = DAMAGE[damage](src)
    before = _digest(src)
    out = tmp_path / "out.onnx"
    proc = tb("convert", str(src), str(out))
    assert proc.returncode not in (0, None), proc.stdout
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    assert len(err.splitlines()) <= 2, err  # the error line, and at most one hint line
    assert expect.lower() in err.lower(), err
    if "CRC" in damage:
        assert "checksum mismatch" in err, err
    assert not out.exists() and list(tmp_path.glob("out*")) == []
    assert _digest(src) == before
