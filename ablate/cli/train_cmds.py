"""Commands of the train group: `ablate train` (one trial, no Ray) and `ablate datasets`."""

from __future__ import annotations

import argparse
import math


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this group's commands to the `ablate` parser."""
    train = subparsers.add_parser(
        "train",
        help="train one trial from the fixed values of a sweep YAML (exit code 1 if it diverges)",
        description="Train one trial without Ray from the data, model, train and seed sections "
        "of a sweep YAML, printing one line per epoch.",
    )
    train.add_argument("file", help="sweep or trial YAML file")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value, for example --set train.lr=0.05 (repeatable)",
    )
    train.set_defaults(func=run_train)

    datasets = subparsers.add_parser("datasets", help="list the registered datasets")
    datasets.set_defaults(func=run_datasets)


def _format_epoch(metrics: dict, epochs: int | None) -> str:
    def number(key: str, digits: int) -> str:
        value = metrics.get(key)
        return "nan" if value is None or math.isnan(value) else f"{value:.{digits}f}"

    total = f"/{epochs}" if epochs else ""
    parts = [f"epoch {metrics['epoch']:>3}{total}", f"train loss {number('train_loss', 4)}",
             f"err {number('train_error', 2)}%"]
    if "val_loss" in metrics:
        parts += [f"val loss {number('val_loss', 4)}", f"err {number('val_error', 2)}%"]
    parts += [f"test loss {number('test_loss', 4)}", f"err {number('test_error', 2)}%",
              f"lr {metrics['lr']:.4g}", f"{metrics['epoch_seconds']:.1f}s",
              f"{number('images_per_second', 0)} img/s"]
    if metrics["status"] == "diverged":
        parts.append("diverged (training loss non-finite or above train.max_train_loss)")
    return "  ".join(parts)


def run_train(args: argparse.Namespace) -> int:
    """Run `ablate train`; exit code 0 when the trial completes, 1 when it diverges."""
    from ablate.train import TrialConfig, run_trial

    config = TrialConfig.from_yaml(args.file, args.overrides)

    def report(metrics: dict, checkpoint_dir: object) -> None:
        # Under a protocol without `epochs`, the total depends on the dataset and is not shown.
        print(_format_epoch(metrics, config.train.epochs), flush=True)

    result = run_trial(config, report)
    test_error = result.final.get("test_error", math.nan)
    print(
        f"{result.status}: {result.epochs_run} epochs, test error {test_error:.2f}%, "
        f"{result.num_parameters:,} parameters, {result.seconds:.1f}s"
    )
    return 0 if result.status == "completed" else 1


def run_datasets(args: argparse.Namespace) -> int:
    """Run `ablate datasets`."""
    from ablate.data import list_datasets

    for info in list_datasets():
        print(f"{info.name:<14} {info.description}")
    return 0
