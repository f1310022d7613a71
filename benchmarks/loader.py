"""Throughput of the device-resident loader against torchvision's DataLoader pipeline.

Both produce augmented, normalized 32x32 training batches of 128 from the same synthetic uint8
images: `DeviceLoader` (pad 4, random crop, flip, normalize, all batched on the device) versus
`DataLoader` with RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor and Normalize at 0
and 2 workers. The ratio to the faster DataLoader setting should be at least 5.

    python benchmarks/loader.py [--images 5000] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

from ablate.data import DeviceLoader, Split
from ablate.train import resolve_device

BATCH = 128
MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


class ArrayDataset(torch.utils.data.Dataset):
    """HWC uint8 images served as PIL images through a transform, as torchvision's CIFAR10 does."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def time_epoch(loader, device: torch.device) -> float:
    start = time.perf_counter()
    count = 0
    for images, labels in loader:
        images = images.to(device, non_blocking=True)
        count += images.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000, help="synthetic training images")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        # On a CPU shared with other busy processes, intra-op threads of small tensor ops wait
        # for each other; one thread gives steadier figures there.
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, args.images)

    split = Split(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device), torch.from_numpy(labels).to(device))
    device_loader = DeviceLoader(split, BATCH, mean=MEAN, std=STD, train=True, pad=4, flip=True,
                                 generator=torch.Generator(device=device).manual_seed(0))
    time_epoch(device_loader, device)  # warm-up
    ours = max(time_epoch(device_loader, device) for _ in range(3))
    print(f"DeviceLoader: {ours:,.0f} images/s", flush=True)

    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(MEAN, STD)])
    dataset = ArrayDataset(images, labels, transform)
    baselines = {}
    for workers in (0, 2):
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=BATCH, shuffle=True, drop_last=True, num_workers=workers,
            persistent_workers=workers > 0, pin_memory=device.type == "cuda",
        )
        time_epoch(loader, device)  # starts the workers; the next epoch is measured
        baselines[workers] = time_epoch(loader, device)
        print(f"DataLoader, {workers} workers: {baselines[workers]:,.0f} images/s", flush=True)
        del loader

    best = max(baselines.values())
    print(f"device {device}, {args.images} images, batch {BATCH}, torch threads {torch.get_num_threads()}")
    print(f"ratio DeviceLoader / best DataLoader: {ours / best:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
