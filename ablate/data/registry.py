"""The dataset registry: named sources of uint8 image arrays.

A source turns a `DataConfig` into a `RawData` (NumPy arrays in N, C, H, W layout) and carries
the per-dataset augmentation defaults. Registering a name twice raises, so two sources can never
silently shadow each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ablate.data.datasets import DataConfig

__all__ = ["DatasetInfo", "RawData", "get_dataset", "list_datasets", "register_dataset"]


@dataclass(frozen=True)
class RawData:
    """Images and labels of one dataset as read from disk.

    Attributes:
        train_images: uint8 array of shape (N, C, H, W).
        train_labels: int64 array of shape (N,), values in 0..num_classes-1.
        test_images: uint8 array of shape (M, C, H, W).
        test_labels: int64 array of shape (M,).
        class_names: One name per class, in label order.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset.

    Attributes:
        name: Registry name, the value of `data.dataset`.
        description: One line for `ablate datasets`.
        read: Function that reads the dataset for a config.
        channels: Image channels (None when the files decide, as for `image_folder`).
        image_size: Side length in pixels (None when the files or the config decide).
        num_classes: Number of classes (None when the files decide).
        pad: Default padding of the random pad-and-crop augmentation, in pixels.
        flip: Whether random horizontal flips are on by default.
    """

    name: str
    description: str
    read: Callable[[DataConfig], RawData]
    channels: int | None
    image_size: int | None
    num_classes: int | None
    pad: int
    flip: bool


_REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    """Add a dataset to the registry.

    Raises:
        ValueError: When the name is already registered.
    """
    if info.name in _REGISTRY:
        raise ValueError(f"dataset {info.name!r} is already registered; choose another name")
    _REGISTRY[info.name] = info
    return info


def get_dataset(name: str) -> DatasetInfo:
    """Return the registered dataset called `name`.

    Raises:
        KeyError: When no dataset has that name; the message lists the registered names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; registered: {', '.join(sorted(_REGISTRY))}") from None


def list_datasets() -> list[DatasetInfo]:
    """Return every registered dataset, sorted by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]
