"""`DataConfig` and `load_dataset`: one dataset as uint8 tensors on the trial's device.

The training split may give up a held-out validation part. That part is drawn stratified and
from its own seed (`validation_seed`), never from the trial seed, so that every trial of a sweep
is scored on the same images.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ablate.data.registry import DatasetInfo, RawData, get_dataset
from ablate.errors import ConfigError

__all__ = ["DataConfig", "Split", "Splits", "load_dataset"]

logger = logging.getLogger(__name__)


class DataConfig(BaseModel):
    """The `data` section of a trial.

    Attributes:
        dataset: Registry name (`ablate datasets` lists them).
        root: Folder that contains the dataset's files; unused by `digits`.
        download: Fetch missing files with torchvision (needs a network).
        validation: Fraction of the training set held out for validation, in [0, 1).
        validation_seed: Seed of the stratified validation split.
        image_size: Side length that `image_folder` images are resized to (default 32).
        pad: Padding of the random pad-and-crop augmentation in pixels; None takes the dataset's
            default (1 for digits, so a ±1-pixel shift; 4 for 32x32 datasets); 0 turns it off.
        pad_mode: How the padding is filled: `zeros` (black), `reflect`, `replicate`, `circular`.
        flip: Random horizontal flips; None takes the dataset's default (off for digits and SVHN).
    """

    model_config = ConfigDict(extra="forbid")

    dataset: str = "digits"
    root: str | None = None
    download: bool = False
    validation: float = Field(0.0, ge=0.0, lt=1.0)
    validation_seed: int = 0
    image_size: int | None = Field(None, ge=4)
    pad: int | None = Field(None, ge=0)
    pad_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"
    flip: bool | None = None

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        try:
            get_dataset(name)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        return name


@dataclass(frozen=True)
class Split:
    """Images and labels of one split, on one device.

    Attributes:
        images: uint8 tensor of shape (N, C, H, W).
        labels: int64 tensor of shape (N,).
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class Splits:
    """A loaded dataset with its normalization and resolved augmentation settings.

    Attributes:
        train: The training split (without the validation part).
        val: The held-out validation split, or None when `validation` is 0.
        test: The test split.
        info: The registry entry.
        class_names: One name per class.
        mean: Per-channel mean of the training split, in 0..1 pixel units.
        std: Per-channel standard deviation of the training split, in 0..1 pixel units.
        pad: Pad-and-crop padding in pixels (0: no crop augmentation).
        pad_mode: Padding fill mode.
        flip: Whether training batches are randomly flipped horizontally.
    """

    train: Split
    val: Split | None
    test: Split
    info: DatasetInfo
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pad: int
    pad_mode: str
    flip: bool

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of every image."""
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]


def _hold_out(raw: RawData, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    try:
        train_x, val_x, train_y, val_y = train_test_split(
            raw.train_images, raw.train_labels, test_size=fraction, stratify=raw.train_labels, random_state=seed
        )
    except ValueError as exc:
        raise ConfigError(
            f"cannot hold out a stratified validation fraction of {fraction} from "
            f"{len(raw.train_labels)} training images ({exc}); choose a larger or smaller fraction",
            key="data.validation",
        ) from None
    return train_x, train_y, val_x, val_y


def _check_raw(name: str, raw: RawData) -> None:
    for part, images, labels in (("train", raw.train_images, raw.train_labels), ("test", raw.test_images, raw.test_labels)):
        if images.ndim != 4 or images.dtype != np.uint8 or len(images) != len(labels) or len(images) == 0:
            raise ConfigError(
                f"{name}: the {part} split has images of shape {images.shape} and dtype {images.dtype} "
                f"with {len(labels)} labels; expected a non-empty uint8 array (N, C, H, W) and N labels",
                key="data.dataset",
            )
        if labels.min() < 0 or labels.max() >= len(raw.class_names):
            raise ConfigError(
                f"{name}: {part} labels span {labels.min()}..{labels.max()} but there are "
                f"{len(raw.class_names)} classes",
                key="data.dataset",
            )


def load_dataset(config: DataConfig, device: torch.device | str = "cpu") -> Splits:
    """Read a registered dataset and place each split on `device` as one uint8 tensor.

    Raises:
        ConfigError: When the dataset's files are missing or malformed, or the validation
            fraction cannot be stratified.
    """
    info = get_dataset(config.dataset)
    raw = info.read(config)
    _check_raw(info.name, raw)

    train_x, train_y = raw.train_images, raw.train_labels
    val = None
    if config.validation > 0:
        train_x, train_y, val_x, val_y = _hold_out(raw, config.validation, config.validation_seed)
        val = _to_split(val_x, val_y, device)

    # Normalization constants come from the images the model trains on, never from held-out ones.
    pixels = train_x.astype(np.float64) / 255.0
    mean = tuple(float(value) for value in pixels.mean(axis=(0, 2, 3)))
    std = tuple(max(float(value), 1e-3) for value in pixels.std(axis=(0, 2, 3)))

    side = train_x.shape[-1]
    default_pad = info.pad if info.image_size is not None else max(1, side // 8)
    splits = Splits(
        train=_to_split(train_x, train_y, device),
        val=val,
        test=_to_split(raw.test_images, raw.test_labels, device),
        info=info,
        class_names=raw.class_names,
        mean=mean,
        std=std,
        pad=default_pad if config.pad is None else config.pad,
        pad_mode=config.pad_mode,
        flip=info.flip if config.flip is None else config.flip,
    )
    logger.info(
        "loaded %s: %d train, %d val, %d test images of shape %s on %s",
        info.name, len(splits.train), len(val) if val else 0, len(splits.test), splits.image_shape, device,
    )
    return splits


def _to_split(images: np.ndarray, labels: np.ndarray, device: torch.device | str) -> Split:
    return Split(
        torch.from_numpy(np.ascontiguousarray(images)).to(device),
        torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)).to(device),
    )
