import numpy as np
import pytest
import torch

from sgnoise.data import dataset_info, load_prepared, prepare_dataset, prepare_mnist5k, save_prepared, stratified_split


@pytest.fixture(scope="module")
def mnist5k():
    return prepare_mnist5k(seed=0)


def test_mnist5k_split_is_stratified_and_disjoint(mnist5k):
    assert mnist5k["train_images"].shape == (4000, 1, 28, 28) and mnist5k["train_images"].dtype == np.uint8
    assert mnist5k["test_images"].shape == (1000, 1, 28, 28)
    assert np.array_equal(np.bincount(mnist5k["train_labels"]), [400] * 10)
    assert np.array_equal(np.bincount(mnist5k["test_labels"]), [100] * 10)
    train = {im.tobytes() for im in mnist5k["train_images"]}
    assert not any(im.tobytes() in train for im in mnist5k["test_images"][:200])
    # shuffled: the source is sorted by class
    assert len(set(mnist5k["train_labels"][:50].tolist())) > 5


def test_mnist5k_is_reproducible_and_seed_dependent(mnist5k):
    again = prepare_mnist5k(seed=0)
    assert np.array_equal(again["train_labels"], mnist5k["train_labels"])
    assert np.array_equal(again["train_images"], mnist5k["train_images"])
    other = prepare_mnist5k(seed=1)
    assert not np.array_equal(other["train_labels"], mnist5k["train_labels"])


def test_prepared_roundtrip_normalises(tmp_path, mnist5k):
    path = tmp_path / "mnist5k.npz"
    save_prepared(mnist5k, path)
    assert [p.name for p in tmp_path.iterdir()] == ["mnist5k.npz"]
    data = load_prepared(path)
    assert data["train_x"].dtype == torch.float32 and data["train_x"].shape == (4000, 1, 28, 28)
    expected = (mnist5k["train_images"][0, 0].astype(np.float32) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(data["train_x"][0, 0].numpy(), expected, rtol=1e-5, atol=1e-6)
    # MNIST normalised with the paper's statistics: mean ≈ 0, sd ≈ 1 on this subset
    assert abs(float(data["train_x"].mean())) < 0.1 and abs(float(data["train_x"].std()) - 1) < 0.1
    assert data["num_classes"] == 10


def test_unreadable_prepared_file_names_the_file(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="broken.npz"):
        load_prepared(path)


def test_stratified_split_checks_and_unknown_dataset():
    labels = np.repeat(np.arange(3), 10)
    train, test = stratified_split(labels, 6, np.random.default_rng(0))
    assert np.array_equal(np.bincount(labels[test]), [2, 2, 2]) and len(train) == 24
    with pytest.raises(ValueError, match="multiple"):
        stratified_split(labels, 7, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        dataset_info("imagenet")


def test_prepare_dataset_writes_what_prepare_mnist5k_returns(tmp_path, mnist5k):
    path = tmp_path / "mnist5k.npz"
    arrays = prepare_dataset("mnist5k", path, split_seed=0)
    with np.load(path) as saved:
        for key, value in mnist5k.items():
            assert np.array_equal(arrays[key], value) and np.array_equal(saved[key], value)
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        prepare_dataset("imagenet", tmp_path / "imagenet.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["mnist5k.npz"]


def test_importing_sgnoise_data_does_not_import_torch():
    import subprocess
    import sys

    code = "import sgnoise.data, sys; print('torch' in sys.modules, 'torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
