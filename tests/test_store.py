import h5py
import numpy as np
import pytest

import sgnoise

from sgnoise.noise.dump import NoiseDump, NoiseDumpError, NoiseDumpWriter

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


def test_layout_attributes_checksums_and_extras_are_pinned(tmp_path):
    """The dump format as written (what older dumps and other readers rely on), not only the roundtrip."""
    path = tmp_path / "noise.h5"
    writer = NoiseDumpWriter(path, columns=[3, 30], layers=LAYERS, attrs=dict(config={"b": 2, "a": 1}, n=7), checksum=True)
    assert writer.partial_path == tmp_path / "noise.h5.partial"
    writer.add_checkpoint(5, np.ones((2, 2)), np.arange(2.0), dict(loss=0.5),
                          extra={"pooled.sums": np.arange(3.0), "pooled.count": 4})
    writer.add_checkpoint(12, np.zeros((2, 2)), np.zeros(2), {})
    writer.close(attrs=dict(status="ok"))
    writer.close()  # a second close does nothing
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "sgnoise.noise" and f.attrs["format_version"] == 2
        assert f.attrs["sgnoise_version"] == sgnoise.__version__
        assert f.attrs["n_columns"] == 2 and bool(f.attrs["complete"]) and f.attrs["status"] == "ok"
        assert f.attrs["config"] == '{"a": 1, "b": 2}'
        assert sorted(f["checkpoints"]) == ["00000005", "00000012"]
        group = f["checkpoints/00000005"]
        assert group.attrs["iteration"] == 5 and group["noise"].fletcher32 and group["pooled/sums"].fletcher32
        assert group["noise"].dtype == np.float32 and group["full_gradient"].dtype == np.float32
        assert not group["pooled/count"].fletcher32  # scalars cannot carry a checksum
        assert "noise_random" not in group
    with NoiseDump(path) as dump:
        attrs = dump.attrs
        assert attrs["n"] == 7 and type(attrs["n"]) is int and attrs["config"] == {"a": 1, "b": 2}
        assert dump.checkpoint_attrs(5) == {"iteration": 5, "loss": 0.5}
        assert type(dump.checkpoint_attrs(5)["iteration"]) is int
        np.testing.assert_array_equal(dump.full_gradient(5), [0.0, 1.0])
        np.testing.assert_array_equal(dump.noise(5)[()], np.ones((2, 2)))
        np.testing.assert_array_equal(dump.read(5, "full_gradient", columns=slice(1, 2)), [1.0])
        statistics = dump.pooled_statistics(5)
        assert set(statistics) == {"sums", "count"} and statistics["count"] == 4
        np.testing.assert_array_equal(statistics["sums"], np.arange(3.0))
        assert dump.pooled_statistics(12) is None and dump.pooled_statistics(5, "pooled_test") is None
        assert not dump.has_random_noise(5)
        np.testing.assert_array_equal(dump.column_layer, [0, 1])
        with pytest.raises(NoiseDumpError, match=r"^noise dump .*noise.h5, checkpoint 6: no such checkpoint$") as error:
            dump.noise(6)
        assert error.value.checkpoint == 6 and error.value.path == str(path)
        with pytest.raises(NoiseDumpError, match=r"checkpoint 12: missing dataset 'noise_random'"):
            dump.noise_random(12)
    other = tmp_path / "other" / "dump.h5"
    writer = NoiseDumpWriter(other, columns=[0], layers=LAYERS, attrs={}, partial_path=tmp_path / "elsewhere")
    assert writer.partial_path == tmp_path / "elsewhere" and other.parent.is_dir()
    writer.add_checkpoint(0, np.ones((2, 1)), np.ones(1), {})
    writer.close(complete=False)
    writer.abort()  # closed already: only removes the partial file
    writer.abort()  # which is gone now: nothing to do
    assert not (tmp_path / "elsewhere").exists()
    writer = NoiseDumpWriter(other, columns=[0], layers=LAYERS, attrs={}, partial_path=tmp_path / "elsewhere")
    writer.add_checkpoint(0, np.ones((2, 1)), np.ones(1), {})
    writer.close(complete=False)
    assert not other.exists() and (tmp_path / "elsewhere").exists()
    (tmp_path / "elsewhere").rename(other)
    with pytest.raises(NoiseDumpError, match=r"^noise dump [^,]*dump.h5: file is incomplete"):
        NoiseDump(other)
    with h5py.File(other, "a") as f:
        f.attrs["complete"] = True
        del f["columns/layer"]
    with pytest.raises(NoiseDumpError, match="missing 'columns/layer'"):
        NoiseDump(other)
