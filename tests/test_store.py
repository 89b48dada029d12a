import h5py
import numpy as np
import pytest

from sgnoise.store import NoiseDump, NoiseDumpError, NoiseDumpWriter

LAYERS = [("layers.0.weight", 0, 30), ("layers.1.weight", 30, 20)]


def write_dump(path, iterations=(0, 5), rng=None):
    rng = rng or np.random.default_rng(0)
    columns = np.array([1, 7, 29, 30, 45])
    writer = NoiseDumpWriter(path, columns=columns, layers=LAYERS, attrs=dict(run_id="r", config={"a": 1}, n_params=50))
    matrices = {}
    for it in iterations:
        noise = rng.normal(size=(4, 5)).astype(np.float32)
        matrices[it] = noise
        writer.add_checkpoint(it, noise, noise.mean(0), dict(train_loss=1.0 / (it + 1)), noise_random=noise[:2])
    writer.close()
    return matrices


def test_roundtrip(tmp_path):
    path = tmp_path / "noise.h5"
    matrices = write_dump(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.h5"]
    with NoiseDump(path) as dump:
        assert dump.iterations == [0, 5]
        np.testing.assert_array_equal(dump.noise_array(5), matrices[5])
        np.testing.assert_array_equal(dump.read(0, rows=slice(1, 3)), matrices[0][1:3])
        assert dump.has_random_noise(0)
        assert dump.checkpoint_attrs(5)["train_loss"] == pytest.approx(1 / 6)
        assert dump.attrs["config"] == {"a": 1}
        np.testing.assert_array_equal(dump.column_index, [1, 7, 29, 30, 45])
        np.testing.assert_array_equal(dump.column_layer, [0, 0, 0, 1, 1])
        assert dump.layer_names == ["layers.0.weight", "layers.1.weight"]


def test_unfinished_writer_leaves_only_partial_and_abort_removes_it(tmp_path):
    path = tmp_path / "noise.h5"
    writer = NoiseDumpWriter(path, columns=[0], layers=LAYERS, attrs={})
    writer.add_checkpoint(0, np.ones((2, 1)), np.ones(1), {})
    assert not path.exists()
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_truncated_file_error_names_file(tmp_path):
    path = tmp_path / "noise.h5"
    write_dump(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NoiseDumpError, match="noise.h5"):
        with NoiseDump(path) as dump:
            for it in dump.iterations:
                dump.noise_array(it)


def test_other_layout_and_missing_file(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(NoiseDumpError, match="not an sgnoise noise dump"):
        NoiseDump(other)
    with pytest.raises(NoiseDumpError, match="does not exist"):
        NoiseDump(tmp_path / "missing.h5")
    future = tmp_path / "future.h5"
    write_dump(future)
    with h5py.File(future, "a") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(NoiseDumpError, match="version 99"):
        NoiseDump(future)
