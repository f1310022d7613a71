"""Tests for the dataset registry, the dataset readers and the device-resident loader."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ablate.data import (
    DataConfig,
    DatasetInfo,
    DeviceLoader,
    augment_batch,
    list_datasets,
    load_dataset,
    register_dataset,
)
from ablate.errors import ConfigError
from ablate.yamlio import validate_section


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataConfig(), "cpu")


def test_registry_lists_builtin_datasets():
    assert [info.name for info in list_datasets()] == ["cifar10", "cifar100", "digits", "image_folder", "svhn"]


def test_registry_rejects_duplicate_name():
    info = list_datasets()[0]
    with pytest.raises(ValueError, match="already registered"):
        register_dataset(DatasetInfo(info.name, "copy", info.read, 3, 32, 10, 4, True))


def test_unknown_dataset_is_config_error():
    with pytest.raises(ConfigError, match="unknown dataset 'mnist'; registered: cifar10"):
        validate_section(DataConfig, {"dataset": "mnist"}, prefix="data")


def test_digits_fixed_stratified_split(digits):
    assert digits.train.images.shape == (1437, 1, 8, 8)
    assert digits.test.images.shape == (360, 1, 8, 8)
    assert digits.train.images.dtype == torch.uint8
    assert digits.train.labels.dtype == torch.int64
    assert torch.bincount(digits.test.labels).tolist() == [36, 36, 35, 37, 36, 37, 36, 36, 35, 36]
    assert int(digits.train.images.max()) == 255
    again = load_dataset(DataConfig(), "cpu")
    assert torch.equal(again.test.images, digits.test.images)
    assert digits.pad == 1
    assert digits.flip is False


def test_validation_split_stratified_and_seeded(digits):
    held = load_dataset(DataConfig(validation=0.2), "cpu")
    assert len(held.train) + len(held.val) == 1437
    assert len(held.val) == 288
    assert torch.bincount(held.val.labels).min() >= 28
    assert torch.equal(held.test.images, digits.test.images)
    same = load_dataset(DataConfig(validation=0.2), "cpu")
    other = load_dataset(DataConfig(validation=0.2, validation_seed=1), "cpu")
    assert torch.equal(same.val.images, held.val.images)
    assert not torch.equal(other.val.images, held.val.images)


@pytest.mark.parametrize(("mode", "torch_mode"), [
    ("zeros", "constant"), ("reflect", "reflect"), ("replicate", "replicate"), ("circular", "circular"),
])
def test_augment_matches_pad_crop_flip(mode, torch_mode):
    images = torch.randint(0, 256, (16, 3, 6, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = augment_batch(images, 2, mode, True, torch.Generator().manual_seed(5))

    # Replay the same draws (row offsets, column offsets, flips) and crop by slicing.
    generator = torch.Generator().manual_seed(5)
    dy = torch.randint(-2, 3, (16, 1), generator=generator)[:, 0]
    dx = torch.randint(-2, 3, (16, 1), generator=generator)[:, 0]
    flips = (torch.rand(16, 1, generator=generator) < 0.5)[:, 0]
    padded = F.pad(images, (2, 2, 2, 2), mode=torch_mode)
    for b in range(16):
        crop = padded[b, :, 2 + dy[b] : 2 + dy[b] + 6, 2 + dx[b] : 2 + dx[b] + 7]
        expected = crop.flip(-1) if flips[b] else crop
        assert torch.equal(out[b], expected), f"image {b}"
    assert out.dtype == torch.uint8


def test_train_loader_drops_partial_batch(digits):
    loader = DeviceLoader(digits.train, 128, mean=digits.mean, std=digits.std, train=True, pad=1,
                          generator=torch.Generator().manual_seed(0))
    sizes = [labels.shape[0] for _, labels in loader]
    assert sizes == [128] * 11
    assert len(loader) == 11


def test_train_loader_order_seeded(digits):
    def first_labels(seed):
        loader = DeviceLoader(digits.train, 64, mean=digits.mean, std=digits.std, train=True, pad=1,
                              generator=torch.Generator().manual_seed(seed))
        return next(iter(loader))[1]

    assert torch.equal(first_labels(3), first_labels(3))
    assert not torch.equal(first_labels(3), first_labels(4))


def test_eval_loader_unaugmented_normalized(digits):
    loader = DeviceLoader(digits.test, 100, mean=digits.mean, std=digits.std)
    batches = list(loader)
    assert [labels.shape[0] for _, labels in batches] == [100, 100, 100, 60]
    images = torch.cat([images for images, _ in batches])
    expected = (digits.test.images.double() / 255 - digits.mean[0]) / digits.std[0]
    assert torch.allclose(images.double(), expected, atol=1e-5)
    assert torch.equal(torch.cat([labels for _, labels in batches]), digits.test.labels)


def test_digits_shift_is_one_pixel(digits):
    # Pad 1 and crop 8: every augmented image equals its source shifted by at most one pixel.
    images = digits.train.images[:64]
    out = augment_batch(images, 1, "zeros", False, torch.Generator().manual_seed(2))
    padded = F.pad(images, (1, 1, 1, 1))
    for b in range(64):
        shifts = [padded[b, :, y : y + 8, x : x + 8] for y in range(3) for x in range(3)]
        assert any(torch.equal(out[b], shifted) for shifted in shifts)


def test_batch_larger_than_training_set(digits):
    with pytest.raises(ConfigError, match="batch size 2000 is larger than the 1437 training images"):
        DeviceLoader(digits.train, 2000, mean=digits.mean, std=digits.std, train=True)


# -- CIFAR in its python-pickle format --------------------------------------------------------


def write_tiny_cifar10(root: Path, per_batch: int = 20, test: int = 30) -> Path:
    """Write a CIFAR-10 folder in the exact distribution format, with few images."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def dump(name: str, count: int, offset: int) -> None:
        batch = {
            "batch_label": name,
            "labels": [int(label) for label in (np.arange(count) + offset) % 10],
            "data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
            "filenames": [f"img_{offset + index}.png" for index in range(count)],
        }
        with (folder / name).open("wb") as handle:
            pickle.dump(batch, handle)

    for index in range(1, 6):
        dump(f"data_batch_{index}", per_batch, index)
    dump("test_batch", test, 0)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with (folder / "batches.meta").open("wb") as handle:
        pickle.dump({"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072}, handle)
    return folder


def test_cifar10_tiny_folder_loads(tmp_path):
    folder = write_tiny_cifar10(tmp_path)
    splits = load_dataset(DataConfig(dataset="cifar10", root=str(tmp_path)), "cpu")
    assert splits.train.images.shape == (100, 3, 32, 32)
    assert splits.test.images.shape == (30, 3, 32, 32)
    assert splits.train.images.dtype == torch.uint8
    assert splits.train.labels.dtype == torch.int64
    assert splits.test.labels.tolist() == [index % 10 for index in range(30)]
    assert splits.class_names[0] == "airplane"
    assert (splits.pad, splits.flip) == (4, True)

    # Pixel (row 0, column 0) of image 0 of data_batch_1, channel 0, is byte 0 of its row.
    with (folder / "data_batch_1").open("rb") as handle:
        first = pickle.load(handle)["data"][0]
    assert int(splits.train.images[0, 0, 0, 0]) == int(first[0])
    assert int(splits.train.images[0, 1, 0, 0]) == int(first[1024])

    # The extracted folder itself is accepted as root too.
    direct = load_dataset(DataConfig(dataset="cifar10", root=str(folder)), "cpu")
    assert torch.equal(direct.train.images, splits.train.images)

    loader = DeviceLoader(splits.train, 32, mean=splits.mean, std=splits.std, train=True, pad=4, flip=True,
                          generator=torch.Generator().manual_seed(0))
    images, labels = next(iter(loader))
    assert images.shape == (32, 3, 32, 32)
    assert images.dtype == torch.float32
    mean = torch.tensor(splits.mean).view(1, 3, 1, 1)
    std = torch.tensor(splits.std).view(1, 3, 1, 1)
    assert bool(((images >= (0 - mean) / std - 1e-5) & (images <= (1 - mean) / std + 1e-5)).all())
    # Zero padding reaches some crops, so black pixels appear after normalization.
    assert bool(torch.isclose(images, ((0 - mean) / std).expand_as(images)).any())


def test_cifar10_missing_root_names_files(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError) as info:
        load_dataset(DataConfig(dataset="cifar10", root=str(missing)), "cpu")
    message = str(info.value)
    assert f"cifar10 files not found in {missing / 'cifar-10-batches-py'}" in message
    assert "data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch, batches.meta" in message
    assert "data.download: true" in message
    assert "\n" not in message


def test_cifar10_incomplete_folder_names_missing(tmp_path):
    folder = write_tiny_cifar10(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(ConfigError, match="missing data_batch_3 "):
        load_dataset(DataConfig(dataset="cifar10", root=str(tmp_path)), "cpu")


def test_cifar100_tiny_folder_loads(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, count in (("train", 40), ("test", 10)):
        batch = {"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
                 "fine_labels": [i % 100 for i in range(count)], "coarse_labels": [i % 20 for i in range(count)]}
        with (folder / name).open("wb") as handle:
            pickle.dump(batch, handle)
    with (folder / "meta").open("wb") as handle:
        pickle.dump({"fine_label_names": [f"class{i}" for i in range(100)], "coarse_label_names": []}, handle)
    splits = load_dataset(DataConfig(dataset="cifar100", root=str(tmp_path)), "cpu")
    assert splits.train.images.shape == (40, 3, 32, 32)
    assert splits.num_classes == 100


def test_svhn_mat_files_load(tmp_path):
    import scipy.io

    rng = np.random.default_rng(0)
    for name, count in (("train_32x32.mat", 12), ("test_32x32.mat", 5)):
        labels = np.arange(1, count + 1).reshape(-1, 1) % 10
        labels[labels == 0] = 10  # SVHN stores digit 0 as 10
        scipy.io.savemat(tmp_path / name, {"X": rng.integers(0, 256, (32, 32, 3, count), dtype=np.uint8), "y": labels})
    splits = load_dataset(DataConfig(dataset="svhn", root=str(tmp_path)), "cpu")
    assert splits.train.images.shape == (12, 3, 32, 32)
    assert splits.train.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    assert splits.flip is False


def test_image_folder_resizes(tmp_path):
    from PIL import Image

    for split in ("train", "test"):
        for label, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
            (tmp_path / split / label).mkdir(parents=True)
            for index in range(3):
                Image.new("RGB", (20, 12), colour).save(tmp_path / split / label / f"{index}.png")
    splits = load_dataset(DataConfig(dataset="image_folder", root=str(tmp_path), image_size=16), "cpu")
    assert splits.train.images.shape == (6, 3, 16, 16)
    assert splits.class_names == ("cat", "dog")
    assert splits.train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert splits.train.images[0, :, 5, 5].tolist() == [255, 0, 0]
    assert splits.pad == 2


def test_image_folder_missing_test_split(tmp_path):
    from PIL import Image

    (tmp_path / "train" / "a").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "train" / "a" / "0.png")
    with pytest.raises(ConfigError, match="test not found"):
        load_dataset(DataConfig(dataset="image_folder", root=str(tmp_path)), "cpu")
