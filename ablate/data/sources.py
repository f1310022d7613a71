"""The built-in datasets: digits, cifar10, cifar100, svhn and image_folder.

Every reader returns uint8 arrays in N, C, H, W layout. CIFAR and SVHN are read from their
standard distribution files (the python-pickle batches, the `*_32x32.mat` files) without the
MD5 check that torchvision's dataset classes apply, so that a partial or re-packed copy in the
same format loads too. torchvision does the downloading when `data.download` is true.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np

from ablate.data.registry import DatasetInfo, RawData, register_dataset
from ablate.errors import AblateError, ConfigError

logger = logging.getLogger(__name__)

# Folder searched for dataset files when `data.root` is not set.
DEFAULT_ROOT = Path("~/.cache/ablate/datasets")

# The digits split is fixed (not drawn from the trial seed) so that every trial of every sweep
# is tested on the same 360 images.
DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0


def _root(config) -> Path:
    return Path(config.root).expanduser() if config.root else DEFAULT_ROOT.expanduser()


def _download(dataset_class, root: Path, name: str, **kwargs) -> None:
    """Fetch a dataset with torchvision, turning network and file errors into one-line messages."""
    logger.info("downloading %s into %s", name, root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        dataset_class(str(root), download=True, **kwargs)
    except (OSError, RuntimeError) as exc:
        raise AblateError(
            f"download of {name} into {root} failed ({exc}); fetch the files by hand "
            f"or check the network, then run again"
        ) from None


def _require_files(name: str, folder: Path, files: list[str], hint: str) -> None:
    missing = [file for file in files if not (folder / file).is_file()]
    if missing:
        raise ConfigError(
            f"{name} files not found in {folder}: missing {', '.join(missing)} "
            f"(expected {', '.join(files)}); {hint}",
            key="data.root",
        )


def _unpickle(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return pickle.load(handle, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise ConfigError(f"cannot read {path} as a CIFAR python-pickle batch: {exc}", key="data.root") from None


# -- digits ---------------------------------------------------------------------------------------


def read_digits(config) -> RawData:
    """Read scikit-learn's bundled 8x8 digits with a fixed stratified 1,437 / 360 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # Pixel values are integers 0..16; rescale them to the 0..255 range of every other dataset.
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=DIGITS_TEST_SIZE, stratify=labels, random_state=DIGITS_SPLIT_SEED
    )
    names = tuple(str(digit) for digit in range(10))
    return RawData(train_x, train_y, test_x, test_y, names)


# -- CIFAR ----------------------------------------------------------------------------------------


def _read_cifar(config, *, name: str, dataset_class_name: str, folder_name: str, train_files: list[str],
                test_files: list[str], meta_file: str, label_key: str, names_key: str) -> RawData:
    import torchvision.datasets

    root = _root(config)
    # Accept the extracted folder itself as root as well as its parent.
    folder = root if (root / meta_file).is_file() else root / folder_name
    files = [*train_files, *test_files, meta_file]
    if config.download and any(not (folder / file).is_file() for file in files):
        _download(getattr(torchvision.datasets, dataset_class_name), root, name, train=True)
        folder = root / folder_name
    _require_files(
        name,
        folder,
        files,
        f"extract the python version of {name} there or set data.download: true",
    )

    def read(batch_files: list[str]) -> tuple[np.ndarray, np.ndarray]:
        images, labels = [], []
        for file in batch_files:
            batch = _unpickle(folder / file)
            images.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[label_key], dtype=np.int64))
        return np.concatenate(images), np.concatenate(labels)

    train_x, train_y = read(train_files)
    test_x, test_y = read(test_files)
    names = tuple(_unpickle(folder / meta_file)[names_key])
    return RawData(train_x, train_y, test_x, test_y, names)


def read_cifar10(config) -> RawData:
    """Read CIFAR-10 from `root/cifar-10-batches-py` (data_batch_1..5, test_batch, batches.meta)."""
    return _read_cifar(
        config,
        name="cifar10",
        dataset_class_name="CIFAR10",
        folder_name="cifar-10-batches-py",
        train_files=[f"data_batch_{index}" for index in range(1, 6)],
        test_files=["test_batch"],
        meta_file="batches.meta",
        label_key="labels",
        names_key="label_names",
    )


def read_cifar100(config) -> RawData:
    """Read CIFAR-100 (fine labels) from `root/cifar-100-python` (train, test, meta)."""
    return _read_cifar(
        config,
        name="cifar100",
        dataset_class_name="CIFAR100",
        folder_name="cifar-100-python",
        train_files=["train"],
        test_files=["test"],
        meta_file="meta",
        label_key="fine_labels",
        names_key="fine_label_names",
    )


# -- SVHN -----------------------------------------------------------------------------------------


def read_svhn(config) -> RawData:
    """Read SVHN's cropped digits from `root/train_32x32.mat` and `root/test_32x32.mat`.

    The `extra` split is not used. SVHN stores the digit 0 as label 10; it becomes label 0.
    """
    import scipy.io
    import torchvision.datasets

    root = _root(config)
    files = ["train_32x32.mat", "test_32x32.mat"]
    if config.download:
        for split, file in zip(("train", "test"), files):
            if not (root / file).is_file():
                _download(torchvision.datasets.SVHN, root, "svhn", split=split)
    _require_files("svhn", root, files, "download the cropped-digits .mat files there or set data.download: true")

    def read(file: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            mat = scipy.io.loadmat(str(root / file))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {root / file} as a MATLAB file: {exc}", key="data.root") from None
        images = np.ascontiguousarray(np.transpose(mat["X"], (3, 2, 0, 1)), dtype=np.uint8)
        labels = mat["y"].astype(np.int64).reshape(-1) % 10
        return images, labels

    train_x, train_y = read(files[0])
    test_x, test_y = read(files[1])
    return RawData(train_x, train_y, test_x, test_y, tuple(str(digit) for digit in range(10)))


# -- image folder ---------------------------------------------------------------------------------


def read_image_folder(config) -> RawData:
    """Read `root/train/<class>/*` and `root/test/<class>/*`, resized to `image_size` (default 32)."""
    import torchvision.datasets
    import torchvision.transforms as T

    if not config.root:
        raise ConfigError("image_folder needs data.root, a folder with train/ and test/ subfolders", key="data.root")
    root = _root(config)
    size = config.image_size or 32
    transform = T.Compose([T.Resize((size, size)), T.PILToTensor()])

    def read(split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        folder = root / split
        if not folder.is_dir():
            raise ConfigError(
                f"image_folder: {folder} not found; expected {root}/train/<class>/*.png "
                f"and {root}/test/<class>/*.png",
                key="data.root",
            )
        try:
            dataset = torchvision.datasets.ImageFolder(str(folder), transform=transform)
        except (FileNotFoundError, OSError) as exc:
            raise ConfigError(f"image_folder: cannot read {folder}: {exc}", key="data.root") from None
        images = np.stack([dataset[index][0].numpy() for index in range(len(dataset))]).astype(np.uint8)
        return images, np.asarray(dataset.targets, dtype=np.int64), dataset.classes

    train_x, train_y, classes = read("train")
    test_x, test_y, test_classes = read("test")
    if test_classes != classes:
        raise ConfigError(
            f"image_folder: class folders differ between {root}/train ({', '.join(classes)}) "
            f"and {root}/test ({', '.join(test_classes)}); use the same class names in both",
            key="data.root",
        )
    return RawData(train_x, train_y, test_x, test_y, tuple(classes))


register_dataset(DatasetInfo(
    "digits", "scikit-learn's bundled 8x8 digits, 1,437 train / 360 test, no download",
    read_digits, channels=1, image_size=8, num_classes=10, pad=1, flip=False,
))
register_dataset(DatasetInfo(
    "cifar10", "CIFAR-10, 32x32 colour, 50,000 train / 10,000 test, python-pickle files under root",
    read_cifar10, channels=3, image_size=32, num_classes=10, pad=4, flip=True,
))
register_dataset(DatasetInfo(
    "cifar100", "CIFAR-100 fine labels, 32x32 colour, 50,000 train / 10,000 test, under root",
    read_cifar100, channels=3, image_size=32, num_classes=100, pad=4, flip=True,
))
register_dataset(DatasetInfo(
    "svhn", "SVHN cropped digits, 32x32 colour, train_32x32.mat / test_32x32.mat under root",
    read_svhn, channels=3, image_size=32, num_classes=10, pad=4, flip=False,
))
register_dataset(DatasetInfo(
    "image_folder", "any torchvision ImageFolder tree root/train, root/test, resized to image_size",
    read_image_folder, channels=3, image_size=None, num_classes=None, pad=4, flip=True,
))
