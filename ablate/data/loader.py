"""A batch loader for datasets that live on the training device.

Each split is one uint8 tensor on the device. A training batch is drawn from a seeded
permutation, then padded, randomly cropped and flipped in one `torch.gather` whose indices
encode all three, and finally normalized per channel. No per-image Python runs and no worker
processes exist, which is why this loader beats a `torch.utils.data.DataLoader` pipeline on
small images (see `benchmarks/loader.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from ablate.data.datasets import Split
from ablate.errors import ConfigError

__all__ = ["DeviceLoader", "augment_batch", "normalize_batch"]

PAD_MODES = ("zeros", "reflect", "replicate", "circular")


def _source_index(position: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Map positions in the padded frame (may be negative or >= size) to source positions."""
    if mode == "reflect":
        position = position.abs()
        return torch.where(position >= size, 2 * (size - 1) - position, position)
    if mode == "circular":
        return position.remainder(size)
    # "replicate" clamps; "zeros" clamps too and masks the padded pixels afterwards.
    return position.clamp(0, size - 1)


def augment_batch(
    images: torch.Tensor,
    pad: int,
    pad_mode: str,
    flip: bool,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Randomly pad-and-crop and horizontally flip a batch, one random draw per image.

    Equivalent to padding each image by `pad` pixels on every side with `pad_mode`, cropping a
    window of the original size at a uniformly random offset, and flipping it with probability
    0.5. The random numbers come from `generator` in a fixed order: row offsets, column
    offsets, flips.

    Args:
        images: Tensor of shape (B, C, H, W), any dtype.
        pad: Padding in pixels; 0 skips the crop.
        pad_mode: One of `zeros`, `reflect`, `replicate`, `circular`.
        flip: Whether to flip.
        generator: Source of randomness, on the same device as `images`.

    Returns:
        A new tensor of the same shape and dtype.
    """
    batch, channels, height, width = images.shape
    device = images.device
    rows = torch.arange(height, device=device).expand(batch, height)
    cols = torch.arange(width, device=device).expand(batch, width)
    if pad > 0:
        rows = rows + torch.randint(-pad, pad + 1, (batch, 1), generator=generator, device=device)
        cols = cols + torch.randint(-pad, pad + 1, (batch, 1), generator=generator, device=device)
    if flip:
        flipped = torch.rand(batch, 1, generator=generator, device=device) < 0.5
        cols = torch.where(flipped, cols.flip(1), cols)
    if pad == 0 and not flip:
        return images.clone()

    # One flat gather reads every output pixel from its source pixel: (B, H*W) indices, shared
    # across channels.
    index = _source_index(rows, height, pad_mode)[:, :, None] * width + _source_index(cols, width, pad_mode)[:, None, :]
    index = index.reshape(batch, 1, height * width).expand(batch, channels, height * width)
    out = images.reshape(batch, channels, height * width).gather(2, index).view(batch, channels, height, width)
    if pad > 0 and pad_mode == "zeros":
        inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
        out = out * inside[:, None].to(out.dtype)
    return out


def normalize_batch(images: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Turn uint8 pixels into float32 `(pixel / 255 - mean) / std`, given precomputed scale and shift."""
    return torch.addcmul(shift, images.to(torch.float32), scale)


class DeviceLoader:
    """Iterate over a device-resident split in batches of normalized float32 images.

    Training loaders (`train=True`) shuffle from `generator` every epoch, augment, and drop the
    last partial batch. Evaluation loaders read the split in order, unaugmented, and keep the
    last partial batch.

    Args:
        split: Images (uint8, N x C x H x W) and labels on the device.
        batch_size: Images per batch.
        mean: Per-channel mean in 0..1 pixel units.
        std: Per-channel standard deviation in 0..1 pixel units.
        train: Shuffle, augment and drop the last partial batch.
        pad: Pad-and-crop padding in pixels (training only).
        pad_mode: Padding fill mode, one of `zeros`, `reflect`, `replicate`, `circular`.
        flip: Random horizontal flips (training only).
        generator: Seeded generator on the split's device; its state is the loader's whole state.
        channels_last: Return batches in channels-last memory format.
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        train: bool = False,
        pad: int = 0,
        pad_mode: str = "zeros",
        flip: bool = False,
        generator: torch.Generator | None = None,
        channels_last: bool = False,
    ):
        _, channels, height, width = split.images.shape
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}", key="train.batch_size")
        if train and batch_size > len(split):
            raise ConfigError(
                f"batch size {batch_size} is larger than the {len(split)} training images, so an epoch "
                f"would have no full batch; lower train.batch_size",
                key="train.batch_size",
            )
        if pad_mode not in PAD_MODES:
            raise ConfigError(f"unknown pad mode {pad_mode!r}; accepted: {', '.join(PAD_MODES)}", key="data.pad_mode")
        if pad_mode == "reflect" and pad >= min(height, width):
            raise ConfigError(
                f"reflect padding of {pad} pixels needs images larger than {pad}, got {height}x{width}; "
                f"lower data.pad or use pad_mode zeros",
                key="data.pad",
            )
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"mean and std need {channels} values, got {len(mean)} and {len(std)}")

        self.split = split
        self.batch_size = batch_size
        self.train = train
        self.pad = pad
        self.pad_mode = pad_mode
        self.flip = flip
        self.generator = generator
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        device = split.images.device
        std_tensor = torch.tensor(std, dtype=torch.float32, device=device).view(1, channels, 1, 1)
        mean_tensor = torch.tensor(mean, dtype=torch.float32, device=device).view(1, channels, 1, 1)
        self._scale = 1.0 / (255.0 * std_tensor)
        self._shift = -mean_tensor / std_tensor

    def __len__(self) -> int:
        count = len(self.split)
        return count // self.batch_size if self.train else -(-count // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        images, labels = self.split.images, self.split.labels
        if self.train:
            order = torch.randperm(len(self.split), generator=self.generator, device=images.device)
        for index in range(len(self)):
            start = index * self.batch_size
            if self.train:
                rows = order[start : start + self.batch_size]
                batch = augment_batch(images[rows], self.pad, self.pad_mode, self.flip, self.generator)
                target = labels[rows]
            else:
                batch = images[start : start + self.batch_size]
                target = labels[start : start + self.batch_size]
            batch = normalize_batch(batch, self._scale, self._shift)
            yield batch.contiguous(memory_format=self.memory_format), target
