"""Commands of the sweep group: `ablate sweep`, `ablate resume` and `ablate validate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this group's commands to the `ablate` parser."""
    sweep = subparsers.add_parser("sweep", help="run a sweep from a search-space YAML file")
    sweep.add_argument("file", help="sweep YAML file")
    _add_set(sweep)
    sweep.add_argument("--resume", action="store_true", help="continue the sweep stored in results/<name>")
    sweep.add_argument(
        "--verbose", dest="ray_verbose", action="store_true", help="show Ray Tune's status tables and worker logs"
    )
    sweep.set_defaults(func=run_sweep_command)

    resume = subparsers.add_parser("resume", help="continue an interrupted sweep from its results folder")
    resume.add_argument("results", help="the sweep's results folder, e.g. results/quickstart")
    resume.add_argument(
        "--verbose", dest="ray_verbose", action="store_true", help="show Ray Tune's status tables and worker logs"
    )
    resume.set_defaults(func=run_resume_command)

    validate = subparsers.add_parser("validate", help="check a sweep YAML file and print its plan without running")
    validate.add_argument("file", help="sweep YAML file")
    _add_set(validate)
    validate.set_defaults(func=run_validate_command)


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the file, e.g. --set train.lr=0.05 (repeatable; values parse as YAML)",
    )


def print_progress(progress: Any) -> None:
    """Print one progress line; called by the sweep driver after each finished trial."""
    best = "-" if progress.best is None else f"{progress.best:.4g}"
    minutes, seconds = divmod(int(progress.elapsed), 60)
    finished = ""
    if progress.finished_trial:
        finished = f"  trial {progress.finished_trial} {progress.finished_status};"
    print(
        f"[{progress.done}/{progress.planned}]{finished} running {progress.running}, "
        f"completed {progress.completed}, pruned {progress.pruned}, diverged {progress.diverged}, "
        f"failed {progress.failed}; best {progress.metric} {best}; {minutes}:{seconds:02d} elapsed",
        flush=True,
    )


def _describe(plan: Any) -> list[str]:
    from ablate.sweep.rows import unit_identity

    space = plan.space
    units = []
    for trial in plan.trial_configs or []:
        model = trial.model.model_dump() if hasattr(trial.model, "model_dump") else dict(trial.model)
        unit, _ = unit_identity(model)
        if unit not in units:
            units.append(unit)
    for dim in space.sampled_dimensions:
        if dim.path == "model.unit" and dim.kind == "choice":
            for value in dim.values:
                unit, _ = unit_identity({"unit": value})
                if unit not in units:
                    units.append(unit)
    epochs = plan.max_epochs if plan.max_epochs is not None else "depends on the dataset size"
    lines = [
        f"sweep {plan.name}: {len(space.cells())} cells x {len(space.seeds)} seed{'s' if len(space.seeds) != 1 else ''} x "
        f"{space.num_samples} sample{'s' if space.num_samples != 1 else ''} = {plan.num_trials} trials",
        f"  seeds: {', '.join(map(str, space.seeds))}",
        f"  max epochs per trial: {epochs}",
        f"  objective: {plan.config.objective.mode} {plan.config.objective.metric}; "
        f"sampler {plan.config.sampler.name}; pruner {plan.config.pruner.name}",
    ]
    for dim in space.dimensions:
        if dim.kind in ("grid", "choice"):
            lines.append(f"  {dim.kind} {dim.path or 'grid'}: {', '.join(map(str, dim.labels()))}")
        else:
            lines.append(f"  {dim.kind} {dim.path}: [{dim.low}, {dim.high}]")
    lines.append("  units:")
    lines.extend(f"    {unit}" for unit in units)
    lines.append(f"  results: {plan.results_dir}")
    return lines


def run_validate_command(args: argparse.Namespace) -> int:
    """Validate a sweep file and print its plan."""
    from ablate.sweep import load_sweep

    plan = load_sweep(args.file, args.overrides)
    print("\n".join(_describe(plan)))
    return 0


def _run(plan: Any, resume: bool, verbose: bool) -> int:
    from ablate.sweep.runner import check_can_start, run_sweep

    check_can_start(plan, resume)
    print(f"{'resuming' if resume else 'running'} sweep {plan.name}: {plan.num_trials} trials planned", flush=True)
    outcome = run_sweep(plan, resume=resume, verbose=verbose, progress=print_progress)
    progress = outcome.progress
    counts = (
        f"{progress.done} of {progress.planned} trials (completed {progress.completed}, pruned "
        f"{progress.pruned}, diverged {progress.diverged}, failed {progress.failed})"
    )
    if progress.done < progress.planned:
        # Errored trials count as done, so only an interrupt (Ctrl-C) leaves trials unfinished.
        print(
            f"sweep {plan.name} interrupted after {counts}; continue it with: "
            f"ablate resume {outcome.results_dir}",
            file=sys.stderr,
        )
        return 130
    print(f"sweep {plan.name} finished: {counts}; results in {outcome.results_dir}")
    return 0


def run_sweep_command(args: argparse.Namespace) -> int:
    """Validate the file, then run or resume the sweep."""
    from ablate.sweep import load_sweep

    plan = load_sweep(args.file, args.overrides)
    return _run(plan, args.resume, args.ray_verbose)


def run_resume_command(args: argparse.Namespace) -> int:
    """Resume the sweep stored in a results folder, from its stored config.yaml."""
    from ablate.errors import AblateError
    from ablate.sweep import load_sweep

    config = Path(args.results) / "config.yaml"
    if not config.exists():
        raise AblateError(f"{config} not found; pass the folder of a sweep, e.g. results/quickstart")
    # The stored results_dir may be relative to where the sweep started; the folder given wins.
    plan = load_sweep(config, [f"results_dir={Path(args.results).resolve().parent}"])
    plan.document = {k: v for k, v in plan.document.items() if k != "results_dir"} | _stored_results_dir(config)
    return _run(plan, True, args.ray_verbose)


def _stored_results_dir(config: Path) -> dict[str, Any]:
    import yaml

    stored = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    return {"results_dir": stored["results_dir"]} if "results_dir" in stored else {}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(1)
