"""The Optuna<->Ray Tune bridge: one Optuna study samples and prunes Ray Tune trials.

Ray Tune's own `OptunaSearch` (Ray 2.60) asks Optuna for parameters but never consults an Optuna
pruner, so early stopping would be left to Ray's schedulers. Here Optuna owns both decisions and
Ray owns scheduling and placement:

- `OptunaSearcher` is a Ray `Searcher`. For each new Ray trial it takes the next planned slot
  (grid cell x seed x sample, enumerated exactly), enqueues the slot's fixed values in the study
  and calls `study.ask` with every dimension's distribution, so the study's sampler draws only the
  sampled dimensions. When the Ray trial ends it tells the study COMPLETE (final objective),
  PRUNED (last reported value) or FAIL (error or divergence, reason in the `fail_reason` user
  attribute).
- `OptunaPruningScheduler` is a Ray `FIFOScheduler` that reports each epoch's objective to the
  trial's Optuna trial and returns STOP when the study's pruner says `should_prune()`. The pruner
  is one of Optuna's classes, used unchanged.

Every Ray trial has exactly one Optuna trial (user attributes `ray_trial_id` and `slot`). The
study lives with the driver, in the process that runs `Tuner.fit`; trial workers never open it.

Resume: the study is the record of which slots were handed out. A slot whose Optuna trial is
finished is never run again. A RUNNING Optuna trial whose Ray trial Ray restored continues from its
checkpoint. One whose Ray trial is missing from Ray's last experiment snapshot is taken over by the
next new Ray trial: the Optuna trial is relinked to the new Ray trial id, the earlier ids are kept
in its `earlier_ray_trial_ids` user attribute, and the new Ray trial continues from the newest
checkpoint the earlier ones left in their trial folders. So the slot keeps one Optuna trial and
loses no finished epoch.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray.tune.experiment import Trial as RayTrial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from ablate.sweep.schema import SweepPlan, build_pruner, build_sampler
from ablate.sweep.space import Dimension, Slot, dimension_params

if TYPE_CHECKING:
    import optuna

__all__ = ["OptunaPruningScheduler", "OptunaSearcher", "StudyBridge", "open_study"]

logger = logging.getLogger(__name__)

SEED_PARAM = "seed"
# Optuna user attribute: the Ray trial ids that ran a slot before its current Ray trial took it over.
EARLIER_IDS_ATTR = "earlier_ray_trial_ids"


def _param_name(dim: Dimension) -> str:
    return dim.path or "grid"


def open_study(plan: SweepPlan) -> optuna.Study:
    """Create or load the sweep's Optuna study from `plan.storage_url`."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "minimize" if plan.config.objective.mode == "min" else "maximize"
    return optuna.create_study(
        storage=plan.storage_url,
        study_name=plan.name,
        sampler=build_sampler(plan.config.sampler),
        pruner=build_pruner(plan.config.pruner),
        direction=direction,
        load_if_exists=True,
    )


class StudyBridge:
    """The study and the Ray-to-Optuna trial map, shared by the searcher, scheduler and callbacks.

    Ray pickles the searcher, scheduler and callbacks into its experiment folder; the bridge
    pickles only the plan and reopens the study on first use after unpickling.
    """

    def __init__(self, plan: SweepPlan, trial_function: str = "ablate.train:run_trial"):
        self.plan = plan
        self.trial_function = trial_function
        self._study: optuna.Study | None = None
        self._optuna_ids: dict[str, int] = {}
        self.known_ray_ids: set[str] = set()
        self.finished_before_restore: set[str] = set()
        self.pruned: set[str] = set()
        self.errors: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"plan": self.plan, "trial_function": self.trial_function}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["plan"], state["trial_function"])  # type: ignore[misc]

    @property
    def study(self) -> optuna.Study:
        if self._study is None:
            self._study = open_study(self.plan)
        return self._study

    @property
    def metric(self) -> str:
        return self.plan.config.objective.metric

    # ----- the map between Ray and Optuna trials -----

    def optuna_id(self, ray_id: str) -> int | None:
        """Return the storage id of the Optuna trial of Ray trial `ray_id`, or None."""
        if ray_id not in self._optuna_ids:
            for trial in self.study.get_trials(deepcopy=False):
                if trial.user_attrs.get("ray_trial_id") == ray_id:
                    self._optuna_ids[ray_id] = trial._trial_id
        return self._optuna_ids.get(ray_id)

    def frozen_trial(self, ray_id: str) -> optuna.trial.FrozenTrial | None:
        trial_id = self.optuna_id(ray_id)
        return None if trial_id is None else self.study._storage.get_trial(trial_id)

    def link(self, ray_id: str, trial_id: int) -> None:
        self.study._storage.set_trial_user_attr(trial_id, "ray_trial_id", ray_id)
        self._optuna_ids[ray_id] = trial_id
        self.known_ray_ids.add(ray_id)

    # ----- slots and distributions -----

    def distributions(self) -> dict[str, Any]:
        """Return the Optuna distribution of every dimension and of the seed."""
        import optuna.distributions as od

        result: dict[str, Any] = {}
        for dim in self.plan.space.dimensions:
            if dim.kind in ("grid", "choice"):
                result[_param_name(dim)] = od.CategoricalDistribution(dim.labels())
            elif dim.kind == "uniform":
                result[_param_name(dim)] = od.FloatDistribution(dim.low, dim.high)
            elif dim.kind == "loguniform":
                result[_param_name(dim)] = od.FloatDistribution(dim.low, dim.high, log=True)
            else:
                result[_param_name(dim)] = od.IntDistribution(int(dim.low), int(dim.high))
        result[SEED_PARAM] = od.CategoricalDistribution(tuple(self.plan.space.seeds))
        return result

    def fixed_params(self, slot: Slot) -> dict[str, Any]:
        """Return the Optuna params a slot fixes: its grid cell's labels and its seed."""
        cell = self.plan.space.cells()[slot.cell]
        params = {_param_name(dim): dim.labels()[dim.values.index(cell[dim.path])] for dim in self.plan.space.grid_dimensions}
        params[SEED_PARAM] = slot.seed
        return params

    def ray_config(self, frozen: optuna.trial.FrozenTrial) -> dict[str, Any]:
        """Build the Ray trial config (trial settings, searched params, slot) of an Optuna trial."""
        assignment: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for dim in self.plan.space.dimensions:
            label = frozen.params[_param_name(dim)]
            value = dim.values[dim.labels().index(label)] if dim.kind in ("grid", "choice") else label
            assignment[dim.path] = value
            params.update(dimension_params(dim, value))
        seed = frozen.params[SEED_PARAM]
        config = {
            "trial": self.plan.space.trial_config(assignment, seed),
            "params": params,
            "slot": frozen.user_attrs["slot"],
            "optuna_trial": frozen.number,
            "trial_function": self.trial_function,
        }
        earlier = list(frozen.user_attrs.get(EARLIER_IDS_ATTR, []))
        if earlier:
            config["earlier_trials"] = earlier
            checkpoint = self.newest_checkpoint(earlier)
            if checkpoint is not None:
                config["resume_checkpoint"] = str(checkpoint)
        return config

    def newest_checkpoint(self, ray_ids: list[str]) -> Path | None:
        """Return the checkpoint with the highest epoch in the trial folders of `ray_ids`, or None.

        Trial folders are named by Ray trial id (see `ablate.sweep.trainable.trial_dirname`).
        """
        # NOTE: Ray copies a checkpoint into the trial folder file by file, so a worker killed
        # mid-copy can leave the newest one incomplete, and the new trial then fails to load it.
        from ablate.sweep.runner import EXPERIMENT_NAME
        from ablate.sweep.trainable import checkpoint_epoch

        experiment_dir = self.plan.ray_dir / EXPERIMENT_NAME
        best: tuple[int, Path] | None = None
        for ray_id in ray_ids:
            for directory in sorted((experiment_dir / ray_id).glob("checkpoint_*")):
                epoch = checkpoint_epoch(directory)
                if epoch is not None and (best is None or epoch > best[0]):
                    best = (epoch, directory)
        return None if best is None else best[1]

    # ----- finishing a trial -----

    def finish(self, ray_id: str, result: Mapping[str, Any] | None, error: bool) -> None:
        """Tell the study how Ray trial `ray_id` ended; a trial already finished is left alone."""
        from optuna.trial import TrialState

        frozen = self.frozen_trial(ray_id)
        if frozen is None or frozen.state.is_finished():
            return
        study = self.study
        storage = study._storage
        result = result or {}
        value = result.get(self.metric)
        finite = isinstance(value, (int, float)) and math.isfinite(value)

        if error:
            reason = self.errors.get(ray_id, "the trial raised an error")
            storage.set_trial_user_attr(frozen._trial_id, "fail_reason", reason)
            study.tell(frozen.number, state=TrialState.FAIL)
        elif ray_id in self.pruned:
            study.tell(frozen.number, state=TrialState.PRUNED)
        elif result.get("status") == "diverged":
            reason = f"diverged: non-finite training loss after epoch {result.get('epoch', '?')}"
            storage.set_trial_user_attr(frozen._trial_id, "fail_reason", reason)
            study.tell(frozen.number, state=TrialState.FAIL)
        elif finite and result.get("status", "completed") == "completed":
            study.tell(frozen.number, float(value))
        else:
            reason = f"the trial ended without a final {self.metric} (status {result.get('status')!r})"
            storage.set_trial_user_attr(frozen._trial_id, "fail_reason", reason)
            study.tell(frozen.number, state=TrialState.FAIL)
        logger.debug("Optuna trial %d of Ray trial %s: %s", frozen.number, ray_id, storage.get_trial(frozen._trial_id).state)


class OptunaSearcher(Searcher):
    """A Ray Tune searcher that asks one Optuna study for each trial's parameters.

    Args:
        bridge: The shared study bridge.
    """

    def __init__(self, bridge: StudyBridge):
        super().__init__(metric=bridge.metric, mode=bridge.plan.config.objective.mode)
        self.bridge = bridge

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        # The objective comes from the sweep file; Tune's metric/mode are set to the same values.
        return True

    def suggest(self, trial_id: str) -> dict | str | None:
        bridge = self.bridge
        study = bridge.study
        trials = study.get_trials(deepcopy=False)

        orphan = next(
            (
                trial
                for trial in trials
                if trial.state.name == "RUNNING" and trial.user_attrs.get("ray_trial_id") not in bridge.known_ray_ids
            ),
            None,
        )
        if orphan is not None:
            return self._take_over(trial_id, orphan)

        assigned = {trial.user_attrs.get("slot") for trial in trials if trial.state.name != "WAITING"}
        slot = next((slot for slot in bridge.plan.space.slots() if slot.key not in assigned), None)
        if slot is None:
            return Searcher.FINISHED

        study.enqueue_trial(bridge.fixed_params(slot), user_attrs={"slot": slot.key})
        # `ask` takes the oldest WAITING trial: the one just enqueued, or one a killed driver left.
        trial = study.ask(bridge.distributions())
        bridge.link(trial_id, trial._trial_id)
        return bridge.ray_config(study._storage.get_trial(trial._trial_id))

    def _take_over(self, trial_id: str, orphan: optuna.trial.FrozenTrial) -> dict:
        """Link Ray trial `trial_id` to an Optuna trial whose Ray trial Ray did not restore."""
        bridge = self.bridge
        storage = bridge.study._storage
        earlier = list(orphan.user_attrs.get(EARLIER_IDS_ATTR, []))
        previous = orphan.user_attrs.get("ray_trial_id")
        if previous is not None and previous not in earlier:
            earlier.append(previous)
        storage.set_trial_user_attr(orphan._trial_id, EARLIER_IDS_ATTR, earlier)
        bridge.link(trial_id, orphan._trial_id)
        config = bridge.ray_config(storage.get_trial(orphan._trial_id))
        logger.info(
            "Ray trial %s takes over Optuna trial %d (slot %s) from Ray trial(s) %s, continuing from %s",
            trial_id, orphan.number, orphan.user_attrs.get("slot"), ", ".join(earlier),
            config.get("resume_checkpoint", "epoch 1 because they left no checkpoint"),
        )
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.bridge.finish(trial_id, result, error)

    # The study is the searcher's state, so Ray's searcher snapshot only marks that one exists.
    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w", encoding="utf-8") as handle:
            handle.write(self.bridge.plan.storage_url)

    def restore(self, checkpoint_path: str) -> None:
        logger.debug("searcher state is the study at %s", self.bridge.plan.storage_url)


class OptunaPruningScheduler(FIFOScheduler):
    """A FIFO scheduler that stops a Ray trial when the study's pruner returns `should_prune()` True.

    Args:
        bridge: The shared study bridge.
    """

    def __init__(self, bridge: StudyBridge):
        super().__init__()
        self.bridge = bridge
        self._metric = bridge.metric

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True

    def on_trial_add(self, tune_controller: Any, trial: RayTrial) -> None:
        self.bridge.known_ray_ids.add(trial.trial_id)
        # A trial restored as finished whose Optuna trial is still RUNNING: the driver died between
        # Ray's snapshot and telling the study.
        if trial.status in (RayTrial.TERMINATED, RayTrial.ERROR):
            self.bridge.finish(trial.trial_id, trial.last_result, trial.status == RayTrial.ERROR)
            return
        # A trial restored as unfinished whose Optuna trial is finished: the trial ended after Ray's
        # last snapshot. It must not train again; `choose_trial_to_run` stops it instead.
        frozen = self.bridge.frozen_trial(trial.trial_id)
        if frozen is not None and frozen.state.is_finished():
            self.bridge.finished_before_restore.add(trial.trial_id)

    def choose_trial_to_run(self, tune_controller: Any) -> RayTrial | None:
        for trial in list(tune_controller.get_trials()):
            if trial.status == RayTrial.PENDING and trial.trial_id in self.bridge.finished_before_restore:
                logger.info("Ray trial %s finished before the interrupt; not running it again", trial.trial_id)
                self.bridge.finished_before_restore.discard(trial.trial_id)
                tune_controller.stop_trial(trial)
        return super().choose_trial_to_run(tune_controller)

    def on_trial_error(self, tune_controller: Any, trial: RayTrial) -> None:
        self.bridge.errors[trial.trial_id] = _error_text(trial)

    def on_trial_result(self, tune_controller: Any, trial: RayTrial, result: dict) -> str:
        import optuna

        bridge = self.bridge
        frozen = bridge.frozen_trial(trial.trial_id)
        if frozen is None:
            return TrialScheduler.CONTINUE
        if frozen.state.is_finished():
            # Ray restored this trial from a snapshot older than the study: its outcome is known.
            return TrialScheduler.STOP

        value = result.get(bridge.metric)
        epoch = result.get("epoch")
        if result.get("status", "running") != "running" or not isinstance(epoch, int):
            return TrialScheduler.CONTINUE
        if not (isinstance(value, (int, float)) and math.isfinite(value)):
            return TrialScheduler.CONTINUE

        optuna_trial = optuna.trial.Trial(bridge.study, frozen._trial_id)
        if epoch not in frozen.intermediate_values:
            optuna_trial.report(float(value), epoch)
        if optuna_trial.should_prune():
            logger.info("pruning Ray trial %s at epoch %d (%s=%g)", trial.trial_id, epoch, bridge.metric, value)
            bridge.pruned.add(trial.trial_id)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        return f"Optuna pruner {type(self.bridge.study.pruner).__name__} on {self.bridge.metric}"


def _error_text(trial: RayTrial) -> str:
    """Return the last line of a failed Ray trial's error, such as `RuntimeError: boom`."""
    text = ""
    # The local error file is written before the scheduler hears of the error; storage may lag.
    if trial.error_file and os.path.exists(trial.error_file):
        with open(trial.error_file, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("Failure #")]
    return lines[-1] if lines else "the trial raised an error"
