"""Throughput of ablate's trainer against a plain hand-written PyTorch loop, in one run.

Both train the same pre-activation ResNet-20 on the same device-resident synthetic 32x32 data
with the same augmentation (`DeviceLoader`: pad 4, crop, flip), batch and SGD settings. The
rounds alternate between the two so that load from other processes hits both alike. The ratio
(trainer / plain) should be at least 0.95.

    python benchmarks/trainer_overhead.py [--iterations 8] [--rounds 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from ablate.data import DeviceLoader, Split, Splits, get_dataset
from ablate.models import build_model
from ablate.train import TrainConfig, fit, resolve_device

BATCH = 128
MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def synthetic_splits(iterations: int, device: torch.device) -> Splits:
    generator = torch.Generator().manual_seed(0)
    train = Split(
        torch.randint(0, 256, (iterations * BATCH, 3, 32, 32), dtype=torch.uint8, generator=generator).to(device),
        torch.randint(0, 10, (iterations * BATCH,), generator=generator).to(device),
    )
    test = Split(train.images[:BATCH], train.labels[:BATCH])
    return Splits(train, None, test, get_dataset("cifar10"), tuple(str(c) for c in range(10)), MEAN, STD, 4, "zeros", True)


def new_model(device: torch.device) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("full_preactivation", 20).to(device)


def plain_loop(splits: Splits, device: torch.device) -> float:
    """Train one epoch with a minimal loop and return images per second."""
    model = new_model(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loader = DeviceLoader(splits.train, BATCH, mean=MEAN, std=STD, train=True, pad=4, flip=True,
                          generator=torch.Generator(device=device).manual_seed(0))
    model.train()
    start = time.perf_counter()
    for images, labels in loader:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(loader) * BATCH / (time.perf_counter() - start)


def ablate_trainer(splits: Splits, device: torch.device) -> float:
    """Train one epoch with `ablate.train.fit` and return its reported training images per second."""
    config = TrainConfig(epochs=1, batch_size=BATCH, lr=0.1, momentum=0.9, weight_decay=1e-4, schedule="step",
                         device=device.type)
    result = fit(new_model(device), splits, config, seed=0)
    return result.final["images_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=8, help="training iterations per measured epoch")
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements of each loop")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        # On a CPU shared with other busy processes, intra-op threads of small tensor ops wait
        # for each other; one thread gives steadier figures there.
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    splits = synthetic_splits(args.iterations, device)
    plain_loop(synthetic_splits(2, device), device)  # warm up allocators and kernels

    plain, trainer = [], []
    for round_index in range(args.rounds):
        plain.append(plain_loop(splits, device))
        trainer.append(ablate_trainer(splits, device))
        print(f"round {round_index + 1}: plain {plain[-1]:.1f} img/s, ablate {trainer[-1]:.1f} img/s", flush=True)

    plain_median, trainer_median = statistics.median(plain), statistics.median(trainer)
    print(f"device {device}, threads {torch.get_num_threads()}, pre-activation ResNet-20, 32x32, batch {BATCH}, "
          f"{args.iterations} iterations x {args.rounds} rounds")
    print(f"plain PyTorch loop: {plain_median:.1f} images/s (median)")
    print(f"ablate trainer:     {trainer_median:.1f} images/s (median)")
    print(f"ratio ablate / plain: {trainer_median / plain_median:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
