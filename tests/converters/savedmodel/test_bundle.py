"""Tensor-bundle reader/writer against real TensorFlow checkpoints (SaveV2 / RestoreV2)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tensorbridge import ir
from tensorbridge.converters.savedmodel.bundle import BundleReader, BundleWriter, crc32c
from tensorbridge.converters.savedmodel.bundle.reader import data_path
from tensorbridge.errors import ModelLoadError

tf = pytest.importorskip("tensorflow")

N_SMALL = 12000  # enough small tensors for several 256 KiB index blocks


def _mixed_tensors() -> dict[str, np.ndarray]:
    """Every bundle dtype, incl. scalar, empty and string tensors; insertion order = add order."""
    rng = np.random.default_rng(1)
    t: dict[str, np.ndarray] = {
        "z_scalar": np.array(3.5, np.float32),
        "b_empty": np.zeros((0, 3), np.float32),
        "c_str": np.array([b"", "h\u00e9llo \u2713".encode(), b"x" * 300, b"\x00\xff"], object),
        "c_str_scalar": np.array(b"only", object),
        "c_str_empty": np.zeros((0,), object),
        "f64": rng.standard_normal((3, 4)),
        "f16": rng.standard_normal(7).astype(np.float16),
        "bf16": rng.standard_normal(5).astype(ir.DType.BFLOAT16.numpy),
        "bool": np.array([True, False, True]),
        "c64": (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype(np.complex64),
        "c128": rng.standard_normal(3) + 1j * rng.standard_normal(3),
    }
    for dt in ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]:
        info = np.iinfo(dt)
        t[dt] = np.array([info.min, 0, 1, info.max], dt)
    for i in range(N_SMALL):
        t[f"small/{i:05d}/w"] = np.array([i, -i], np.float32)
    return t


def _tf_save(prefix: Path, tensors: dict[str, np.ndarray]) -> Path:
    names = list(tensors)
    values = [tf.constant(v) for v in tensors.values()]
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=values,
    )
    return prefix


@pytest.fixture(scope="session")
def tensors() -> dict[str, np.ndarray]:
    return _mixed_tensors()


@pytest.fixture(scope="session")
def tf_bundle(tmp_path_factory, tensors) -> Path:
    return _tf_save(tmp_path_factory.mktemp("tf_bundle") / "variables", tensors)


@pytest.fixture(scope="session")
def our_bundle(tmp_path_factory, tensors) -> Path:
    prefix = tmp_path_factory.mktemp("our_bundle") / "variables"
    with BundleWriter(prefix) as w:
        for k, v in tensors.items():
            w.add(k, v)
    return prefix


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype == object or b.dtype == object:
        return [bytes(x) for x in a.reshape(-1)] == [bytes(x) for x in b.reshape(-1)]
    if a.dtype != b.dtype:
        return False
    return a.tobytes() == b.tobytes()


def _copy(prefix: Path, dest: Path) -> Path:
    shutil.copytree(prefix.parent, dest)
    return dest / prefix.name


def _one_line_error(fn) -> ModelLoadError:
    with pytest.raises(ModelLoadError) as info:
        fn()
    assert "\n" not in str(info.value)
    return info.value


def test_crc32c_check_value_and_mask():
    assert crc32c.__module__.endswith("crc32c")
    from tensorbridge.converters.savedmodel.bundle import crc32c as crc
    from tensorbridge.converters.savedmodel.bundle import mask, unmask

    assert crc(b"123456789") == 0xE3069283
    assert mask(0) == 0xA282EAD8
    data = np.random.default_rng(0).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    assert crc(data) == crc(data[1000:], crc(data[:1000]))
    assert unmask(mask(crc(data))) == crc(data)


def test_reader_matches_tf(tf_bundle, tensors):
    reader = BundleReader(tf_bundle)
    tf_reader = tf.train.load_checkpoint(str(tf_bundle))
    assert set(reader.keys()) == set(tensors)
    dtypes = tf_reader.get_variable_to_dtype_map()
    for key in reader.keys():
        ours = reader.tensor(key)
        assert isinstance(ours, ir.ExternalTensor)
        want = tf_reader.get_tensor(key)
        assert _same(ours.numpy(), want), key
        assert ours.dtype.tf_code == dtypes[key].as_datatype_enum
    reader.verify_all()


def test_writer_is_byte_identical_to_savev2(tf_bundle, our_bundle):
    for suffix in [".index", ".data-00000-of-00001"]:
        theirs = Path(f"{tf_bundle}{suffix}").read_bytes()
        ours = Path(f"{our_bundle}{suffix}").read_bytes()
        assert ours == theirs, suffix


def test_tf_reads_our_bundle(our_bundle, tensors):
    tf_reader = tf.train.load_checkpoint(str(our_bundle))
    for key in list(tensors)[:40] + ["small/11999/w"]:
        assert _same(tf_reader.get_tensor(key), tensors[key]), key
    keys = ["f64", "c_str", "bf16", "uint64", "z_scalar"]
    dtypes = [tf.as_dtype(ir.DType.from_numpy(tensors[k].dtype).tf_code) for k in keys]
    restored = tf.raw_ops.RestoreV2(
        prefix=str(our_bundle),
        tensor_names=keys,
        shape_and_slices=[""] * len(keys),
        dtypes=dtypes,
    )
    for key, value in zip(keys, restored):
        assert _same(value.numpy(), tensors[key]), key


def test_multi_shard_roundtrip(tmp_path, tensors):
    prefix = tmp_path / "variables"
    keys = [k for k in tensors if not k.startswith("small/")][:20]
    with BundleWriter(prefix, shard_size=64) as w:
        for k in keys:
            w.add(k, tensors[k])
    reader = BundleReader(prefix)
    assert reader.num_shards > 3
    assert data_path(prefix, reader.num_shards - 1, reader.num_shards).exists()
    tf_reader = tf.train.load_checkpoint(str(prefix))
    for k in keys:
        assert _same(reader.tensor(k).numpy(), tensors[k]), k
        assert _same(tf_reader.get_tensor(k), tensors[k]), k


def test_copy_between_bundles_streams_raw_bytes(tmp_path, tf_bundle, tensors):
    reader = BundleReader(tf_bundle)
    prefix = tmp_path / "copy"
    with BundleWriter(prefix) as w:
        for k in ["f64", "c_str", "bool", "b_empty"]:
            w.add(k, reader.tensor(k))
    copy = BundleReader(prefix)
    for k in copy.keys():
        assert _same(copy.tensor(k).numpy(), tensors[k])


# ---- corruption ------------------------------------------------------------------------------
def test_corrupt_index_block(tmp_path, tf_bundle):
    prefix = _copy(tf_bundle, tmp_path / "b")
    index = Path(f"{prefix}.index")
    raw = bytearray(index.read_bytes())
    raw[40] ^= 0x55
    index.write_bytes(bytes(raw))
    err = _one_line_error(lambda: BundleReader(prefix))
    assert "variables.index" in str(err) and "checksum" in str(err)


def test_corrupt_tensor_data_detected_at_read(tmp_path, tf_bundle):
    prefix = _copy(tf_bundle, tmp_path / "b")
    entry = BundleReader(prefix).entry("f64")
    data = data_path(prefix, 0, 1)
    raw = bytearray(data.read_bytes())
    raw[entry.offset + 5] ^= 0x01
    data.write_bytes(bytes(raw))
    reader = BundleReader(prefix)  # the index alone is fine
    tensor = reader.tensor("f64")
    err = _one_line_error(tensor.numpy)
    assert "'f64'" in str(err) and "checksum" in str(err)
    err = _one_line_error(reader.verify_all)
    assert "'f64'" in str(err)


def test_corrupt_string_tensor(tmp_path, tf_bundle):
    prefix = _copy(tf_bundle, tmp_path / "b")
    entry = BundleReader(prefix).entry("c_str")
    data = data_path(prefix, 0, 1)
    raw = bytearray(data.read_bytes())
    raw[entry.offset + entry.size - 1] ^= 0x01
    data.write_bytes(bytes(raw))
    err = _one_line_error(BundleReader(prefix).tensor("c_str").numpy)
    assert "'c_str'" in str(err)


@pytest.mark.parametrize("keep", [0, 30, 0.5])
def test_truncated_index(tmp_path, tf_bundle, keep):
    prefix = _copy(tf_bundle, tmp_path / "b")
    index = Path(f"{prefix}.index")
    raw = index.read_bytes()
    index.write_bytes(raw[: int(keep * len(raw)) if isinstance(keep, float) else keep])
    err = _one_line_error(lambda: BundleReader(prefix))
    assert "variables.index" in str(err) and "truncated" in str(err)


def test_wrong_magic(tmp_path, tf_bundle):
    prefix = _copy(tf_bundle, tmp_path / "b")
    index = Path(f"{prefix}.index")
    raw = bytearray(index.read_bytes())
    raw[-1] ^= 0xFF
    index.write_bytes(bytes(raw))
    err = _one_line_error(lambda: BundleReader(prefix))
    assert "magic" in str(err)


def test_missing_data_shard(tmp_path, tf_bundle):
    prefix = _copy(tf_bundle, tmp_path / "b")
    data_path(prefix, 0, 1).unlink()
    err = _one_line_error(lambda: BundleReader(prefix))
    assert "variables.data-00000-of-00001" in str(err)


def test_truncated_data_shard(tmp_path, tf_bundle):
    prefix = _copy(tf_bundle, tmp_path / "b")
    data = data_path(prefix, 0, 1)
    data.write_bytes(data.read_bytes()[:-10])
    err = _one_line_error(lambda: BundleReader(prefix))
    assert "truncated" in str(err)


def test_missing_index(tmp_path):
    err = _one_line_error(lambda: BundleReader(tmp_path / "nothing"))
    assert "nothing.index" in str(err)


# ---- laziness --------------------------------------------------------------------------------
_RSS_PROBE = textwrap.dedent(
    """
    import resource, sys
    from tensorbridge import ir
    from tensorbridge.converters.savedmodel.bundle import BundleReader
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reader = BundleReader(sys.argv[1])
    t = reader.tensor("big")
    assert isinstance(t, ir.ExternalTensor), t
    assert t.shape == (50 * 1024 * 1024,)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) // 1024)
    """
)


def test_index_read_is_lazy(tmp_path):
    src = tmp_path / "zeros.bin"
    with open(src, "wb") as f:
        f.truncate(200 * 1024 * 1024)
    big = ir.ExternalTensor(src, 0, 200 * 1024 * 1024, ir.DType.FLOAT, (50 * 1024 * 1024,))
    prefix = tmp_path / "variables"
    with BundleWriter(prefix) as w:
        w.add("small", np.arange(3, dtype=np.int32))
        w.add("big", big)
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(prefix)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert int(out.stdout.strip()) < 40, out.stdout  # MiB; the tensor alone is 200
    value = BundleReader(prefix).tensor("big").numpy()
    assert value.shape == (50 * 1024 * 1024,) and not value.any()


# ---- partitioned variables -------------------------------------------------------------------
@pytest.fixture(scope="session")
def sliced_bundle(tmp_path_factory) -> Path:
    prefix = tmp_path_factory.mktemp("sliced") / "model.ckpt"
    graph = tf.Graph()
    with graph.as_default():
        init = np.arange(40, dtype=np.float32).reshape(10, 4)
        part = tf.compat.v1.get_variable(
            "part",
            shape=[10, 4],
            partitioner=tf.compat.v1.fixed_size_partitioner(3),
        )
        assigns = []
        for piece in part:
            start = piece._save_slice_info.var_offset[0]
            assigns.append(piece.assign(init[start : start + piece.shape[0]]))
        tf.compat.v1.get_variable("plain", initializer=tf.constant([1.0, 2.0]))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(assigns)
            saver.save(sess, str(prefix), write_meta_graph=False)
    return prefix


def test_sliced_variable_is_reassembled(sliced_bundle):
    reader = BundleReader(sliced_bundle)
    assert sorted(reader.keys()) == ["part", "plain"]
    assert len(reader.entry("part").slices) == 3
    part = reader.tensor("part")
    assert part.shape == (10, 4)
    expected = np.arange(40, dtype=np.float32).reshape(10, 4)
    assert _same(part.numpy(), expected)
    assert _same(part.numpy(), tf.train.load_checkpoint(str(sliced_bundle)).get_tensor("part"))
    reader.verify_all()
