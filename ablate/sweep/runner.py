"""Run a validated sweep as Ray Tune trials sampled and pruned by one Optuna study.

`run_sweep` writes `results/<name>/config.yaml` (the resolved document), opens the Optuna study
(`study.db` by default), starts a local Ray instance sized to the machine or joins `ray.address` /
`RAY_ADDRESS`, and runs `Tuner.fit` with the bridge of `ablate.sweep.bridge`. Each trial
checkpoints through Ray into `results/<name>/ray/`. After every finished trial the driver writes
its row and epochs through `ablate.results.ResultsWriter` and refreshes the dashboard.

Resume (`resume=True`) refuses a changed config (it shows the difference), then restores the Ray
experiment with `Tuner.restore(resume_unfinished=True)`: finished trials stay finished, unfinished
ones continue from their last checkpoint, errored ones are not retried. A trial missing from Ray's
last experiment snapshot has its slot taken over by a new Ray trial that continues from the
missing trial's newest checkpoint (see `ablate.sweep.bridge`), and its row joins both trials'
epochs. Every report a trial sent is appended to `results/<name>/reports.jsonl` as it arrives, so
nothing computed is lost to an interrupt.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from ray.tune import Callback

from ablate.errors import AblateError
from ablate.sweep.schema import SweepPlan

__all__ = ["REPORTS_FILE", "SweepProgress", "check_resume_config", "run_sweep"]

logger = logging.getLogger(__name__)

REPORTS_FILE = "reports.jsonl"
CONFIG_FILE = "config.yaml"
EXPERIMENT_NAME = "sweep"
# Minimum seconds between two dashboard rewrites while trials finish; the sweep's end always
# rewrites it.
DASHBOARD_REFRESH_S = 30.0
# Initializations the probe averages over for `probe: true` (network seeds 0, 1, 2).
PROBE_SEEDS = 3
# Keys that may change between a run and its resume: where Ray runs, not what the sweep computes.
_RESUMABLE_KEYS = ("ray", "max_concurrent_trials", "description")


@dataclass
class SweepProgress:
    """A snapshot of a running sweep for the progress display."""

    planned: int
    completed: int = 0
    pruned: int = 0
    diverged: int = 0
    failed: int = 0
    running: int = 0
    best: float | None = None
    metric: str = ""
    elapsed: float = 0.0
    finished_trial: str | None = None
    finished_status: str | None = None

    @property
    def done(self) -> int:
        return self.completed + self.pruned + self.diverged + self.failed


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _load_config_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def check_resume_config(plan: SweepPlan) -> None:
    """Raise when `plan` differs from the stored `config.yaml` in anything but where Ray runs.

    Raises:
        AblateError: With a unified diff of the stored and the new resolved config.
    """
    stored_path = plan.results_dir / CONFIG_FILE
    if not stored_path.exists():
        raise AblateError(f"cannot resume {plan.name}: {stored_path} not found; start the sweep without --resume")
    stored = {k: v for k, v in _load_config_yaml(stored_path).items() if k not in _RESUMABLE_KEYS}
    current = {k: v for k, v in json.loads(json.dumps(plan.document)).items() if k not in _RESUMABLE_KEYS}
    if stored == current:
        return
    diff = difflib.unified_diff(
        _dump(stored).splitlines(), _dump(current).splitlines(), "stored config.yaml", "this run", lineterm=""
    )
    raise AblateError(
        f"cannot resume {plan.name}: the sweep changed since it started, and resuming would mix two "
        "search spaces. Revert the change or start a sweep with another name:\n" + "\n".join(diff)
    )


def _write_config(plan: SweepPlan) -> None:
    path = plan.results_dir / CONFIG_FILE
    temporary = path.with_suffix(".yaml.tmp")
    temporary.write_text(_dump(json.loads(json.dumps(plan.document))), encoding="utf-8")
    os.replace(temporary, path)


def check_can_start(plan: SweepPlan, resume: bool, num_cpus: int | None = None) -> None:
    """Check, before anything starts, that the sweep can run or resume in its results folder.

    Raises:
        AblateError: When the folder contains another run (without `resume`), the config changed
            since the run started (with `resume`), or a trial's resources can never be granted.
    """
    _check_local_resources(plan, num_cpus)
    if resume:
        check_resume_config(plan)
    elif (plan.results_dir / CONFIG_FILE).exists():
        raise AblateError(
            f"{plan.results_dir} already contains a sweep named {plan.name}; resume it with --resume, "
            "or remove the folder to start again"
        )


def _check_local_resources(plan: SweepPlan, num_cpus: int | None) -> None:
    """Reject per-trial resources that a local Ray instance on this machine can never grant.

    Ray would keep such trials pending forever, so the sweep would hang without an error. A
    cluster (`ray.address` or RAY_ADDRESS) may add nodes, so it is not checked here.

    Raises:
        AblateError: When a trial requests more CPUs than the machine has, or a GPU on a machine
            without one.
    """
    if plan.config.ray.address or os.environ.get("RAY_ADDRESS"):
        return
    cpus = num_cpus or os.cpu_count() or 1
    requested = plan.config.resources
    if requested.cpu > cpus:
        raise AblateError(
            f"resources.cpu is {requested.cpu:g} per trial, but the local Ray instance has {cpus} CPUs, "
            f"so no trial could start; set --set resources.cpu={cpus} or lower"
        )
    if requested.gpu > 0:
        import torch

        if torch.cuda.device_count() == 0:
            raise AblateError(
                f"resources.gpu is {requested.gpu:g} per trial, but this machine has no CUDA GPU, so no "
                "trial could start; set --set resources.gpu=0 to train on the CPU"
            )


def _init_ray(plan: SweepPlan, verbose: bool, num_cpus: int | None) -> bool:
    """Connect to Ray; return True when this call started a local instance."""
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    address = plan.config.ray.address or os.environ.get("RAY_ADDRESS")
    if address:
        logger.info("joining the Ray cluster at %s", address)
        ray.init(address=address, configure_logging=False, log_to_driver=verbose)
        return False
    ray.init(
        num_cpus=num_cpus or os.cpu_count(),
        include_dashboard=False,
        configure_logging=False,
        log_to_driver=verbose,
    )
    return True


class SweepRecorder:
    """Driver-side record keeper: report log, results tables, dashboard and progress.

    Used as a Ray Tune callback (see `_RecorderCallback`); Ray pickles it with the experiment, so
    only settings are pickled and the writer is reopened on first use.
    """

    def __init__(self, bridge: Any, progress: Callable[[SweepProgress], None] | None = None):
        self.bridge = bridge
        self.progress = progress
        self._setup()

    def _setup(self) -> None:
        self._writer = None
        self._reports: dict[str, list[dict[str, Any]]] | None = None
        self._started: dict[str, str] = {}
        self._t0 = time.monotonic()
        self._last_progress = 0.0
        self._last_dashboard: float | None = None
        self._running: set[str] = set()
        self._reported: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        return {"bridge": self.bridge, "progress": self.progress}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.bridge = state["bridge"]
        self.progress = state["progress"]
        self._setup()

    @property
    def plan(self) -> SweepPlan:
        return self.bridge.plan

    @property
    def reports(self) -> dict[str, list[dict[str, Any]]]:
        if self._reports is None:
            self._reports = {}
            path = self.plan.results_dir / REPORTS_FILE
            if path.exists():
                for line in path.read_text(encoding="utf-8").splitlines():
                    if not line.strip():
                        continue
                    entry = json.loads(line)
                    if entry.get("event") == "start":
                        self._started.setdefault(entry["trial_id"], entry["at"])
                    else:
                        self._reports.setdefault(entry["trial_id"], []).append(entry)
        return self._reports

    def _append(self, entry: dict[str, Any]) -> None:
        with open(self.plan.results_dir / REPORTS_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str, allow_nan=True) + "\n")
            handle.flush()

    # ----- events -----

    def trial_started(self, trial_id: str) -> None:
        self.reports  # noqa: B018 - loads earlier start times first
        self._running.add(trial_id)
        if trial_id not in self._started:
            self._started[trial_id] = _now()
            self._append({"event": "start", "trial_id": trial_id, "at": self._started[trial_id]})

    def trial_reported(self, trial_id: str, result: dict[str, Any]) -> None:
        from ablate.sweep.rows import RAY_RESULT_KEYS

        entry = {k: v for k, v in result.items() if k not in RAY_RESULT_KEYS or k == "trial_id"}
        entry["trial_id"] = trial_id
        self._reported.add(trial_id)
        self.reports.setdefault(trial_id, []).append(entry)
        self._append(entry)

    def trial_finished(self, trial_id: str, config: dict[str, Any]) -> None:
        from ablate.sweep.rows import build_row, epoch_rows

        self._running.discard(trial_id)
        if trial_id not in self._reported and trial_id in self.writer.trial_ids:
            # Recorded before an interrupt and stopped on resume without training again.
            return
        frozen = self.bridge.frozen_trial(trial_id)
        status, error = _status_of(frozen)
        reports = self.slot_reports(trial_id, config.get("earlier_trials", []))
        epochs = epoch_rows([{k: v for k, v in r.items() if k != "trial_id"} for r in reports])
        row = build_row(
            trial_id=trial_id,
            status=status,
            config=config,
            epochs=epochs,
            objective_metric=self.bridge.metric,
            max_epochs=_trial_epochs(config) or self.plan.max_epochs,
            error=error,
            started_at=self._started.get(trial_id),
            finished_at=_now(),
            extra=_probe_columns(self.plan, config),
        )
        self.writer.record_trial(row, epochs)
        self.refresh_dashboard()
        self.emit(trial_id, status)

    def slot_reports(self, trial_id: str, earlier_trials: list[str]) -> list[dict[str, Any]]:
        """Return the reports of a slot's Ray trials in the order they ran, the last one `trial_id`.

        Each Ray trial that took over the slot continued from a checkpoint of the one before it, so
        only the epochs up to that checkpoint (its `resumed_from_epoch`) count from the earlier
        trial. The epochs after it were trained again and are reported by the later trial. A later
        trial that reported nothing keeps every report of the earlier one.
        """
        chain = [*earlier_trials, trial_id]
        kept: list[dict[str, Any]] = []
        for earlier, later in zip(chain, chain[1:]):
            later_reports = self.reports.get(later, [])
            if not later_reports:
                kept.extend(self.reports.get(earlier, []))
                continue
            resumed_from = later_reports[0].get("resumed_from_epoch") or 0
            kept.extend(
                r for r in self.reports.get(earlier, [])
                if isinstance(r.get("epoch"), int) and r["epoch"] <= resumed_from
            )
        kept.extend(self.reports.get(trial_id, []))
        return kept

    def refresh_dashboard(self, force: bool = False) -> None:
        """Rewrite dashboard.html, at most once per `DASHBOARD_REFRESH_S` unless `force`.

        Building the quickstart's page took 0.4 to 1.5 s of the driver's CPU on 2 cores, and the
        trials share that CPU.
        """
        now = time.monotonic()
        if not force and self._last_dashboard is not None and now - self._last_dashboard < DASHBOARD_REFRESH_S:
            return
        self._last_dashboard = now
        _refresh_dashboard(self.plan.results_dir)

    @property
    def writer(self) -> Any:
        if self._writer is None:
            from ablate.results import ResultsWriter

            self._writer = ResultsWriter(self.plan.results_dir)
        return self._writer

    def snapshot(self) -> SweepProgress:
        """Count trials by outcome from the study, which is the record across resumes."""
        progress = SweepProgress(self.plan.num_trials, metric=self.bridge.metric)
        progress.running = len(self._running)
        progress.elapsed = time.monotonic() - self._t0
        best = []
        for trial in self.bridge.study.get_trials(deepcopy=False):
            state = trial.state.name
            if state == "COMPLETE":
                progress.completed += 1
                best.append(trial.value)
            elif state == "PRUNED":
                progress.pruned += 1
            elif state == "FAIL":
                if str(trial.user_attrs.get("fail_reason", "")).startswith("diverged"):
                    progress.diverged += 1
                else:
                    progress.failed += 1
        if best:
            progress.best = min(best) if self.plan.config.objective.mode == "min" else max(best)
        return progress

    def emit(self, trial_id: str | None = None, status: str | None = None) -> None:
        if self.progress is None:
            return
        snapshot = self.snapshot()
        snapshot.finished_trial, snapshot.finished_status = trial_id, status
        self._last_progress = time.monotonic()
        self.progress(snapshot)

    def maybe_emit(self, every: float = 30.0) -> None:
        if time.monotonic() - self._last_progress >= every:
            self.emit()


def _status_of(frozen: Any) -> tuple[str, str | None]:
    if frozen is None:
        return "error", "the trial has no Optuna trial"
    state = frozen.state.name
    reason = frozen.user_attrs.get("fail_reason")
    if state == "COMPLETE":
        return "completed", None
    if state == "PRUNED":
        return "pruned", None
    if reason and str(reason).startswith("diverged"):
        return "diverged", reason
    return "error", reason or f"Optuna trial state {state}"


def _trial_epochs(config: dict[str, Any]) -> int | None:
    epochs = config.get("trial", {}).get("train", {}).get("epochs")
    return epochs if isinstance(epochs, int) else None


# Probe summary scalars by network (see `ablate.probe.network_key`), filled before training starts
# and, for networks a sampler drew, when their first trial finishes.
_PROBE_SCALARS: dict[str, dict[str, float]] = {}


def _probe_networks(plan: SweepPlan) -> None:
    """Probe every planned network over `PROBE_SEEDS` initializations and write `probe.json`.

    Without sampled dimensions every variant is a grid cell, so the profiles are stored under the
    variant labels of the results tables and the dashboard draws them in the variants' colors.
    """
    from ablate.probe import probe_sweep, write_probe_json
    from ablate.probe.sweep import network_key
    from ablate.sweep.rows import variant_label
    from ablate.sweep.space import dimension_params

    summaries = probe_sweep(plan, PROBE_SEEDS)
    networks = dict.fromkeys(network_key(trial) for trial in plan.trial_configs)
    by_network = dict(zip(networks, summaries))
    for key, summary in by_network.items():
        _PROBE_SCALARS[key] = summary.scalars()
    if plan.space.sampled_dimensions:
        write_probe_json(plan.results_dir, summaries)
        return

    labelled = []
    for cell, trial in zip(plan.space.cells(), plan.trial_configs):
        params: dict[str, Any] = {}
        for dim in plan.space.grid_dimensions:
            params.update(dimension_params(dim, cell[dim.path]))
        labelled.append(replace(by_network[network_key(trial)], label=variant_label(params)))
    write_probe_json(plan.results_dir, labelled)


def _probe_columns(plan: SweepPlan, config: dict[str, Any]) -> dict[str, Any]:
    if not plan.config.probe:
        return {}
    from ablate.probe import probe_config
    from ablate.probe.sweep import network_key
    from ablate.train import TrialConfig

    trial = TrialConfig.model_validate(config["trial"])
    key = network_key(trial)
    if key not in _PROBE_SCALARS:
        _PROBE_SCALARS[key] = probe_config(trial, PROBE_SEEDS)
    return dict(_PROBE_SCALARS[key])


def _refresh_dashboard(results_dir: Path) -> None:
    from ablate.dashboard import write_dashboard

    try:
        write_dashboard(results_dir)
    except AblateError as exc:
        # A dashboard that cannot be drawn yet (e.g. one trial) must not stop the sweep.
        logger.warning("dashboard not refreshed: %s", exc)


@dataclass
class SweepOutcome:
    """What a finished `run_sweep` call produced."""

    results_dir: Path
    progress: SweepProgress
    ray_trials: int = 0


def run_sweep(
    plan: SweepPlan,
    *,
    resume: bool = False,
    verbose: bool = False,
    progress: Callable[[SweepProgress], None] | None = None,
    trial_function: str = "ablate.train:run_trial",
    num_cpus: int | None = None,
) -> SweepOutcome:
    """Run (or resume) a sweep and return its outcome.

    Args:
        plan: The validated sweep (see `ablate.sweep.load_sweep`).
        resume: Continue the sweep stored in `plan.results_dir`.
        verbose: Show Ray Tune's own status tables and worker logs.
        progress: Called with a `SweepProgress` after each finished trial and every 30 s.
        trial_function: Import path (`module:function`) of the function each trial runs; it takes
            `(config, report, restore_from=...)` like `ablate.train.run_trial`.
        num_cpus: CPUs of a local Ray instance; default: every CPU of the machine.

    Raises:
        AblateError: When the results folder holds another run (without `resume`), or the config
            changed since the run started (with `resume`).
    """
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Each epoch checkpoints, so Ray snapshots the experiment often by design: that is what makes
    # resume lossless, and Ray's warning about it would repeat every few seconds.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Ray 2.60 snapshots the experiment (experiment_state-*.json, which Tuner.restore reads) at
    # most every TUNE_GLOBAL_CHECKPOINT_S seconds, by default "auto": at least 10 s. A trial that
    # started and checkpointed inside that window is missing from the snapshot, and resume then
    # hands its slot to a new Ray trial, which restores the earlier trial's newest checkpoint (see
    # `StudyBridge.newest_checkpoint`). A 2 s period keeps that window short. Saving on every step
    # ("0") closes it but cost the trials about 10% of their speed on 2 cores
    # (benchmarks/sweep_overhead.py).
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")
    from ray import tune

    from ablate.sweep.bridge import OptunaPruningScheduler, OptunaSearcher, StudyBridge
    from ablate.sweep.trainable import run_ray_trial, trial_dirname

    results_dir = plan.results_dir
    experiment_dir = plan.ray_dir / EXPERIMENT_NAME
    check_can_start(plan, resume, num_cpus)
    results_dir.mkdir(parents=True, exist_ok=True)
    _write_config(plan)

    bridge = StudyBridge(plan, trial_function)
    bridge.study  # noqa: B018 - creates study.db before Ray starts
    if plan.config.probe:
        # The probe measures each network at initialization, before any trial trains it, so the
        # dashboard can show why a unit fails next to its results.
        _probe_networks(plan)
    started_ray = _init_ray(plan, verbose, num_cpus)
    try:
        resources = {"cpu": plan.config.resources.cpu, "gpu": plan.config.resources.gpu}
        trainable = tune.with_resources(run_ray_trial, resources)
        if resume and tune.Tuner.can_restore(str(experiment_dir)):
            tuner = tune.Tuner.restore(str(experiment_dir), trainable, resume_unfinished=True, restart_errored=False)
            recorder = _recorder_of(tuner)
            recorder.progress = progress
        else:
            recorder = SweepRecorder(bridge, progress)
            tuner = tune.Tuner(
                trainable,
                param_space={},
                tune_config=tune.TuneConfig(
                    search_alg=OptunaSearcher(bridge),
                    scheduler=OptunaPruningScheduler(bridge),
                    num_samples=plan.num_trials,
                    max_concurrent_trials=plan.config.max_concurrent_trials,
                    trial_dirname_creator=trial_dirname,
                    # One worker process runs trial after trial, so each new trial skips the
                    # import of torch and ablate (seconds on a small machine).
                    reuse_actors=True,
                ),
                run_config=tune.RunConfig(
                    name=EXPERIMENT_NAME,
                    storage_path=str(plan.ray_dir),
                    callbacks=[RecorderCallback(recorder)],
                    verbose=2 if verbose else 0,
                    failure_config=tune.FailureConfig(max_failures=0),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                ),
            )
        grid = tuner.fit()
        recorder.refresh_dashboard(force=True)
        recorder.emit()
        return SweepOutcome(results_dir, recorder.snapshot(), len(grid))
    finally:
        if started_ray:
            import ray

            ray.shutdown()


def _recorder_of(tuner: Any) -> SweepRecorder:
    """Return the recorder that `Tuner.restore` unpickled with the experiment's callbacks."""
    # NOTE: Tuner.restore (Ray 2.60) reuses the pickled RunConfig; `_local_tuner` is private API.
    for callback in tuner._local_tuner.get_run_config().callbacks or []:
        if isinstance(callback, RecorderCallback):
            return callback.recorder
    raise AblateError("the Ray experiment has no ablate sweep recorder; it was not started by ablate sweep")


class RecorderCallback(Callback):
    """Ray Tune callback that forwards trial events to a `SweepRecorder` in the driver."""

    def __init__(self, recorder: SweepRecorder):
        self.recorder = recorder

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.recorder.trial_started(trial.trial_id)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.recorder.trial_reported(trial.trial_id, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.recorder.trial_finished(trial.trial_id, trial.config)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.recorder.trial_finished(trial.trial_id, trial.config)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self.recorder.maybe_emit()
