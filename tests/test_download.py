"""Dataset download through torchvision's real code path, against a loopback HTTP mirror of fake archives;
then prepared and loaded as the workflow does (prepare_dataset, load_prepared)."""

import json
import socket
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

import fakedata
from sgnoise.data import (
    DatasetChecksumError,
    DatasetDownloadError,
    DatasetOfflineError,
    dataset_info,
    download,
    download_dataset,
    download_manifest,
    load_prepared,
    load_raw,
    prepare_dataset,
)

N_TRAIN, N_TEST = 10, 5


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """Directory of fake archives and their checksums {dataset: {file: md5}}."""
    directory = tmp_path_factory.mktemp("mirror")
    return directory, fakedata.write_fake_archives(directory, N_TRAIN, N_TEST, seed=0)


@pytest.fixture
def mirror(archives):
    with fakedata.serve_directory(archives[0]) as server:
        yield server


@pytest.fixture
def refused_url():
    """A loopback port that is bound but not listening: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"


def load_dataset(name, root):
    """A downloaded dataset as a run gets it: prepared into ``<root>/<name>.npz``, then loaded as tensors."""
    path = Path(root) / f"{name}.npz"
    prepare_dataset(name, path)
    return load_prepared(path)


def _visible_entries(root):
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_fake_archives_are_reproducible():
    first = fakedata.archive_bytes(N_TRAIN, N_TEST, seed=0)
    assert first == fakedata.archive_bytes(N_TRAIN, N_TEST, seed=0)
    assert first[1] != fakedata.archive_bytes(N_TRAIN, N_TEST, seed=1)[1]
    # the checksum tables cover exactly the files torchvision checks
    for name, sums in first[1].items():
        assert sorted(sums) == sorted(download.default_checksums(name))


@pytest.mark.parametrize("name", ["mnist", "cifar10", "cifar100"])
def test_download_and_load_all_datasets(name, archives, mirror, tmp_path):
    root = tmp_path / "data"
    raw = download_dataset(name, root, mirror=mirror.url, checksums=archives[1][name], backoff_s=0)
    assert raw == root / name / download.raw_subdir(name) and raw.is_dir()
    assert {p.rsplit("/", 1)[-1] for p in mirror.requests} >= set(download.archive_names(name))
    assert _visible_entries(root) == [name]  # no temporary directories left behind

    manifest = json.loads((root / name / "MANIFEST.json").read_text())
    assert manifest["dataset"] == name and manifest["expected_md5"] == archives[1][name]
    assert all((root / name / f).is_file() for f in manifest["files"])

    data = load_dataset(name, root)
    reference = fakedata.fake_arrays(N_TRAIN, N_TEST, seed=0)[name]
    shape = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32), "cifar100": (3, 32, 32)}[name]
    assert dataset_info(name).input_shape == shape
    assert data["num_classes"] == (100 if name == "cifar100" else 10)
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        x, y = data[f"{split}_x"], data[f"{split}_y"]
        assert x.shape == (n, *shape) and x.dtype == torch.float32
        assert y.dtype == torch.int64
        np.testing.assert_array_equal(y.numpy(), reference[f"{split}_y"])
        mean = np.array(dataset_info(name).mean).reshape(1, -1, 1, 1)
        sd = np.array(dataset_info(name).std).reshape(1, -1, 1, 1)
        expected = (reference[f"{split}_x"] / 255.0 - mean) / sd  # independent float64 normalisation
        np.testing.assert_allclose(x.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_dataset_stats_are_the_papers():
    assert (dataset_info("mnist").mean, dataset_info("mnist").std) == ((0.1307,), (0.3081,))
    assert dataset_info("cifar10").std == (0.247, 0.243, 0.262)
    assert dataset_info("cifar100").mean == (0.5071, 0.4867, 0.4408)
    assert dataset_info("mnist5k").mean == dataset_info("mnist").mean  # the same digits' statistics


def test_second_call_does_not_download_again(archives, mirror, tmp_path, refused_url):
    sums = archives[1]["cifar10"]
    first = download_dataset("cifar10", tmp_path, mirror=mirror.url, checksums=sums, backoff_s=0)
    manifest = tmp_path / "cifar10" / "MANIFEST.json"
    stamp, n_requests = manifest.stat().st_mtime_ns, len(mirror.requests)
    assert download_dataset("cifar10", tmp_path, mirror=mirror.url, checksums=sums, backoff_s=0) == first
    assert download_dataset("cifar10", tmp_path, mirror=refused_url, checksums=sums, retries=0) == first  # offline
    assert len(mirror.requests) == n_requests and manifest.stat().st_mtime_ns == stamp


def test_corrupted_install_is_repaired(archives, mirror, tmp_path, refused_url):
    sums = archives[1]["mnist"]
    raw = download_dataset("mnist", tmp_path, mirror=mirror.url, checksums=sums, backoff_s=0)
    (raw / "train-images-idx3-ubyte").write_bytes(b"garbage")
    with pytest.raises(FileNotFoundError, match="MANIFEST"):
        load_dataset("mnist", tmp_path)  # sizes no longer match the manifest
    # the archives are intact: re-extracted without the network
    download_dataset("mnist", tmp_path, mirror=refused_url, checksums=sums, retries=0)
    assert load_dataset("mnist", tmp_path)["train_x"].shape == (N_TRAIN, 1, 28, 28)
    # a damaged archive is fetched again
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    n_requests = len(mirror.requests)
    download_dataset("mnist", tmp_path, mirror=mirror.url, checksums=sums, backoff_s=0)
    assert [p for p in mirror.requests[n_requests:] if p.endswith(".gz")] == ["/t10k-labels-idx1-ubyte.gz"] * 2
    assert load_dataset("mnist", tmp_path)["test_y"].shape == (N_TEST,)


def test_forced_rerun_without_manifest_reuses_archives(archives, mirror, tmp_path, refused_url, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative root, as in the workflow
    sums = archives[1]["cifar10"]
    download_dataset("cifar10", "data", mirror=mirror.url, checksums=sums, backoff_s=0)
    (tmp_path / "data" / "cifar10" / "MANIFEST.json").unlink()  # what snakemake does before rerunning the rule
    download_dataset("cifar10", "data", mirror=refused_url, checksums=sums, retries=0)
    assert load_dataset("cifar10", "data")["test_x"].shape == (N_TEST, 3, 32, 32)


def test_stale_directory_without_manifest_is_replaced(archives, mirror, tmp_path):
    (tmp_path / "cifar100").mkdir()
    (tmp_path / "cifar100" / "leftover").write_text("not data")
    with pytest.raises(FileNotFoundError, match="MANIFEST"):
        load_dataset("cifar100", tmp_path)
    download_dataset("cifar100", tmp_path, mirror=mirror.url, checksums=archives[1]["cifar100"], backoff_s=0)
    assert not (tmp_path / "cifar100" / "leftover").exists()
    assert _visible_entries(tmp_path) == ["cifar100"]


@pytest.mark.parametrize(
    "name, wrong_file",
    [("mnist", "train-labels-idx1-ubyte.gz"), ("cifar10", "cifar-10-python.tar.gz"), ("cifar10", "data_batch_3")],
)
def test_wrong_checksum_fails_cleanly(name, wrong_file, archives, mirror, tmp_path):
    sums = dict(archives[1][name])
    sums[wrong_file] = "0" * 32
    root = tmp_path / "data"
    with pytest.raises(DatasetChecksumError) as error:
        download_dataset(name, root, mirror=mirror.url, checksums=sums, retries=1, backoff_s=0)
    message = str(error.value)
    assert wrong_file in message and "0" * 32 in message and "pre-stage" in message
    assert archives[1][name][wrong_file] in message  # the md5 actually found
    assert _visible_entries(root) == []  # nothing a later run could mistake for data
    with pytest.raises(FileNotFoundError):
        load_dataset(name, root)


def test_real_torchvision_checksums_reject_the_fake_archives(mirror, tmp_path):
    with pytest.raises(DatasetChecksumError, match="cifar-100-python.tar.gz"):
        download_dataset("cifar100", tmp_path, mirror=mirror.url, retries=0)
    assert _visible_entries(tmp_path) == []


def test_server_down_gives_offline_error_with_prestaging_help(refused_url, tmp_path):
    with pytest.raises(DatasetOfflineError) as error:
        download_dataset("mnist", tmp_path / "data", mirror=refused_url, retries=1, backoff_s=0)
    message = str(error.value)
    assert "'mnist'" in message and refused_url + "train-images-idx3-ubyte.gz" in message
    assert "pre-stage" in message and str(tmp_path / "data" / "archives") in message
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in message  # the real md5 of the file to fetch
    assert isinstance(error.value, RuntimeError)
    assert _visible_entries(tmp_path / "data") == []


def test_offline_error_classification():
    assert download._is_offline_error(urllib.error.URLError(socket.gaierror(-2, "Name or service not known")))
    assert download._is_offline_error(urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")))
    folded = RuntimeError("Tried http://x/, got:\n<urlopen error [Errno 111] Connection refused>")  # MNIST's wrapping
    assert download._is_offline_error(folded)
    assert not download._is_offline_error(urllib.error.HTTPError("http://x/f", 404, "Not Found", None, None))
    assert not download._is_offline_error(RuntimeError("File not found or corrupted."))


def test_retries_recover_from_transient_failures(archives, tmp_path):
    sums = archives[1]["cifar10"]
    with fakedata.serve_directory(archives[0], fail_first=1) as flaky:
        with pytest.raises(DatasetDownloadError, match="503") as error:
            download_dataset("cifar10", tmp_path, mirror=flaky.url, checksums=sums, retries=0)
        assert not isinstance(error.value, (DatasetOfflineError, DatasetChecksumError))
        assert _visible_entries(tmp_path) == []
    with fakedata.serve_directory(archives[0], fail_first=2) as flaky:
        download_dataset("cifar10", tmp_path, mirror=flaky.url, checksums=sums, retries=2, backoff_s=0)
        assert len(flaky.requests) > 2
    assert load_dataset("cifar10", tmp_path)["train_y"].shape == (N_TRAIN,)


def test_prestaged_archives_are_used_without_network(archives, refused_url, tmp_path):
    directory, sums = archives
    staged = tmp_path / "archives"
    staged.mkdir()
    for filename in download.archive_names("mnist"):
        (staged / filename).write_bytes((directory / filename).read_bytes())
    download_dataset("mnist", tmp_path, mirror=refused_url, checksums=sums["mnist"], retries=0)
    assert load_dataset("mnist", tmp_path)["test_x"].shape == (N_TEST, 1, 28, 28)


def test_prestaged_archive_with_wrong_md5_is_reported(archives, refused_url, tmp_path):
    (tmp_path / "archives").mkdir()
    (tmp_path / "archives" / "cifar-10-python.tar.gz").write_bytes(b"truncated")
    with pytest.raises(DatasetChecksumError, match="Pre-staged file .*cifar-10-python.tar.gz"):
        download_dataset("cifar10", tmp_path, mirror=refused_url, checksums=archives[1]["cifar10"], retries=3)
    assert _visible_entries(tmp_path) == ["archives"]


def test_file_url_mirror(archives, tmp_path):
    directory, sums = archives
    download_dataset("cifar100", tmp_path, mirror=directory.as_uri(), checksums=sums["cifar100"], retries=0)
    assert load_dataset("cifar100", tmp_path)["num_classes"] == 100
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetDownloadError, match="lacks cifar-10-python.tar.gz"):
        download_dataset("cifar10", tmp_path, mirror=empty.as_uri(), checksums=sums["cifar10"], retries=0)


def test_read_checksums_accepts_the_fakedata_file(archives):
    directory, sums = archives
    assert download.read_checksums("cifar10", directory / fakedata.CHECKSUMS_FILE) == sums["cifar10"]
    assert download.read_checksums("mnist", sums["mnist"]) == sums["mnist"]
    assert download.read_checksums("mnist", None) is None


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="name must be one of"):
        download_dataset("imagenet", tmp_path)
    with pytest.raises(ValueError, match="mirror"):
        download_dataset("mnist", tmp_path, mirror="127.0.0.1:8000/")
    with pytest.raises(ValueError, match="retries"):
        download_dataset("mnist", tmp_path, retries=-1)
    with pytest.raises(TypeError, match="retries"):
        download_dataset("mnist", tmp_path, retries="3")
    with pytest.raises(ValueError, match="unknown file 'train.gz'"):
        download_dataset("mnist", tmp_path, checksums={"train.gz": "0" * 32})
    with pytest.raises(ValueError, match="32-character hex md5"):
        download_dataset("mnist", tmp_path, checksums={"train-images-idx3-ubyte.gz": "abc"})
    with pytest.raises(TypeError, match="root"):
        load_raw("mnist", None)
    with pytest.raises(ValueError, match="name must be one of"):
        load_raw("MNIST", tmp_path)
    assert _visible_entries(tmp_path) == []


def test_download_manifest_is_the_rules_output(archives, mirror, tmp_path):
    directory, sums = archives
    manifest = tmp_path / "data" / "cifar10" / "MANIFEST.json"
    raw = download_manifest("cifar10", manifest, mirror=mirror.url, checksums=directory / fakedata.CHECKSUMS_FILE)
    assert raw == tmp_path / "data" / "cifar10" / download.raw_subdir("cifar10")
    assert json.loads(manifest.read_text())["expected_md5"] == sums["cifar10"]
    elsewhere = tmp_path / "data" / "cifar10" / "copy.json"  # a rule declaring another output: a copy
    download_manifest("cifar10", elsewhere, mirror=mirror.url, checksums=sums["cifar10"], retries=0)
    assert elsewhere.read_bytes() == manifest.read_bytes()
