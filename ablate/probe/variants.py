"""Probe unit variants over several initializations, and store their per-unit profiles.

One initialization is one line; a comparison needs several. `probe_unit` builds a network per
seed (the seed sets the weight initialization, the batch drawn from the training split and the
dropout masks), probes each with `probe_network`, and returns a `ProbeSummary` with the mean and
spread over seeds. `probe_config` does the same for one trial configuration of a sweep, and
`write_probe_json` stores the profiles of several variants where the dashboard reads them.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ablate.atomic import write_atomically
from ablate.errors import AblateError
from ablate.probe.propagation import ProbeResult, probe_network

__all__ = [
    "PROBE_FILE_NAME",
    "ProbeSummary",
    "load_probe_batch",
    "probe_config",
    "probe_model_config",
    "probe_trial_config",
    "probe_unit",
    "write_probe_json",
]

logger = logging.getLogger(__name__)

PROBE_FILE_NAME = "probe.json"


@dataclass
class ProbeSummary:
    """Probe results of one unit variant over several seeds.

    Attributes:
        label: Name of the variant in tables and plots (preset name or canonical unit text).
        unit: Canonical text of the unit spec.
        block: `basic` or `bottleneck`.
        depth: Network depth.
        seeds: Seeds probed, one per entry of `results`.
        results: One `ProbeResult` per seed.
        seconds: Wall-clock time of building and probing all seeds.
    """

    label: str
    unit: str
    block: str
    depth: int
    seeds: list[int]
    results: list[ProbeResult] = field(default_factory=list)
    seconds: float = 0.0

    def scalar(self, name: str) -> np.ndarray:
        """Return the summary scalar `name` (`mean_coherence`, `spread`, `growth`) per seed."""
        return np.array([getattr(result, name) for result in self.results], dtype=float)

    def per_unit(self, name: str) -> np.ndarray:
        """Return the per-unit array `name` stacked over seeds, shape (seeds, units)."""
        return np.stack([getattr(result, name) for result in self.results])

    def mean_and_std(self, name: str) -> tuple[float, float]:
        """Return the mean and the sample standard deviation (0 for one seed) of a scalar."""
        values = self.scalar(name)
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        return float(values.mean()), std

    def scalars(self) -> dict[str, float]:
        """Return the means over seeds under the sweep's column names."""
        return {
            "probe_coherence": self.mean_and_std("mean_coherence")[0],
            "probe_spread": self.mean_and_std("spread")[0],
            "probe_growth": self.mean_and_std("growth")[0],
        }

    def profile(self) -> dict[str, list[list[float | None]]]:
        """Return the per-unit profiles, one list per seed, as stored in `probe.json`.

        NaN and infinite values become None, because JSON has no such numbers.
        """
        return {
            "gradient_rms": _json_rows(self.per_unit("gradient_rms")),
            "coherence": _json_rows(self.per_unit("coherence")),
            "activation_rms": _json_rows(self.per_unit("activation_rms")),
        }


def _json_rows(array: np.ndarray) -> list[list[float | None]]:
    return [[float(value) if math.isfinite(value) else None for value in row] for row in array]


def _seed_list(seeds: int | Iterable[int]) -> list[int]:
    if isinstance(seeds, int):
        if seeds < 1:
            raise AblateError(f"invalid number of probe seeds {seeds}: use 1 or more")
        return list(range(seeds))
    seed_list = [int(seed) for seed in seeds]
    if not seed_list:
        raise AblateError("no probe seeds given: use a count of 1 or more, or a list of seeds")
    return seed_list


# --- data -------------------------------------------------------------------------------------

_SPLITS_CACHE: dict[tuple[str, str], Any] = {}


def _data_config(data: Any) -> Any:
    """Return `data` as an `ablate.data.DataConfig`; a string is a dataset name."""
    from ablate.data import DataConfig
    from ablate.yamlio import validate_section

    if isinstance(data, DataConfig):
        return data
    if isinstance(data, str):
        data = {"dataset": data}
    return validate_section(DataConfig, dict(data), prefix="data")


def _load_splits(data: Any, device: str | torch.device) -> Any:
    """Load a dataset once per configuration and device; probing many variants reuses it."""
    from ablate.data import load_dataset

    config = _data_config(data)
    key = (config.model_dump_json(), str(device))
    if key not in _SPLITS_CACHE:
        _SPLITS_CACHE[key] = load_dataset(config, device)
    return _SPLITS_CACHE[key]


def load_probe_batch(
    data: Any, batch_size: int, seed: int, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw one normalized, unaugmented batch from the training split without replacement.

    Args:
        data: A dataset name, an `ablate.data.DataConfig` or a mapping that validates as one.
        batch_size: Images in the batch.
        seed: Seed of the draw.
        device: Torch device of the batch.

    Raises:
        AblateError: When the dataset is unknown or unreadable, or has fewer training images than
            `batch_size`.
    """
    from ablate.data import DeviceLoader, Split

    splits = _load_splits(data, device)
    count = len(splits.train)
    if batch_size < 1 or batch_size > count:
        raise AblateError(
            f"invalid probe batch size {batch_size}: the {splits.info.name} training split has {count} images;"
            f" use 1 to {count}"
        )
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(count, generator=generator)[:batch_size].to(splits.train.images.device)
    batch = Split(splits.train.images[order], splits.train.labels[order])
    loader = DeviceLoader(batch, batch_size, mean=splits.mean, std=splits.std, train=False)
    return next(iter(loader))


# --- probing over seeds -----------------------------------------------------------------------


def _probe_seeds(build, data: Any, seeds: list[int], batch_size: int, device: str) -> list[ProbeResult]:
    """Build a network per seed under that seed and probe it on a batch drawn with the same seed."""
    splits = _load_splits(data, device)
    in_channels = splits.image_shape[0]
    results = []
    for seed in seeds:
        batch_x, batch_y = load_probe_batch(data, batch_size, seed, device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build(num_classes=splits.num_classes, in_channels=in_channels).to(device)
        results.append(probe_network(model, batch_x, batch_y, seed))
        logger.debug("probed seed %d: coherence %.3f", seed, results[-1].mean_coherence)
    return results


def probe_unit(
    unit: str,
    depth: int,
    *,
    block: str = "basic",
    data: Any = "digits",
    seeds: int | Sequence[int] = 3,
    batch_size: int = 128,
    device: str = "cpu",
    label: str | None = None,
    **model_options: Any,
) -> ProbeSummary:
    """Probe one unit variant at initialization over several seeds.

    Args:
        unit: A preset name or block-spec text.
        depth: Network depth; must fit the unit (6n+2 for basic units, 9n+2 for bottleneck).
        block: `basic` or `bottleneck`.
        data: Dataset name, `ablate.data.DataConfig` or mapping; its training split supplies the
            batches.
        seeds: Number of seeds (0 to K-1) or the seeds themselves.
        batch_size: Images per probe batch.
        device: Torch device to probe on. Results are bit-identical per seed on CPU.
        label: Name of the variant; defaults to the preset name, else the canonical text.
        **model_options: Further keyword arguments of `ablate.models.build_model`.

    Raises:
        AblateError: On an invalid unit, depth, dataset, batch size or seed count.
    """
    from ablate.grammar import resolve_unit
    from ablate.models import build_model

    spec, preset_name = resolve_unit(unit, block=block)
    seed_list = _seed_list(seeds)
    started = time.perf_counter()

    def build(num_classes: int, in_channels: int):
        return build_model(
            spec, depth, block=block, num_classes=num_classes, in_channels=in_channels, **model_options
        )

    results = _probe_seeds(build, data, seed_list, batch_size, device)
    return ProbeSummary(
        label=label or preset_name or str(spec),
        unit=str(spec),
        block=block,
        depth=depth,
        seeds=seed_list,
        results=results,
        seconds=time.perf_counter() - started,
    )


def _as_trial_config(trial_config: Any) -> Any:
    from ablate.train import TrialConfig

    return TrialConfig.coerce(trial_config)


def probe_model_config(
    model_config: Any,
    *,
    data: Any = "digits",
    seeds: int | Sequence[int] = 3,
    batch_size: int = 128,
    device: str = "cpu",
    label: str | None = None,
) -> ProbeSummary:
    """Probe the network of an `ablate.models.ModelConfig` over several seeds.

    Args:
        model_config: The validated model section of a configuration.
        data: Dataset name, `ablate.data.DataConfig` or mapping; its training split supplies the
            batches.
        seeds: Number of seeds (0 to K-1) or the seeds themselves.
        batch_size: Images per probe batch.
        device: Torch device to probe on.
        label: Name of the variant; defaults to the preset name, else the canonical unit text.
    """
    from ablate.grammar import resolve_unit

    spec, preset_name = resolve_unit(model_config.unit, block=model_config.block)
    seed_list = _seed_list(seeds)
    started = time.perf_counter()
    results = _probe_seeds(model_config.build, data, seed_list, batch_size, device)
    return ProbeSummary(
        label=label or preset_name or str(spec),
        unit=str(spec),
        block=model_config.block,
        depth=model_config.depth,
        seeds=seed_list,
        results=results,
        seconds=time.perf_counter() - started,
    )


def probe_trial_config(
    trial_config: Any,
    seeds: int | Sequence[int] = 3,
    *,
    batch_size: int = 128,
    device: str = "cpu",
    label: str | None = None,
) -> ProbeSummary:
    """Probe the network and dataset of one trial configuration over several seeds.

    The probe seeds are independent of the trial's own seed, so that every variant of a sweep is
    probed on the same initializations and batches.

    Args:
        trial_config: An `ablate.train.TrialConfig`, or a mapping that validates as one.
        seeds: Number of seeds (0 to K-1) or the seeds themselves.
        batch_size: Images per probe batch.
        device: Torch device to probe on.
        label: Name of the variant; defaults to the preset name, else the canonical unit text.
    """
    config = _as_trial_config(trial_config)
    return probe_model_config(
        config.model, data=config.data, seeds=seeds, batch_size=batch_size, device=device, label=label
    )


def probe_config(trial_config: Any, seeds: int | Sequence[int] = 3) -> dict[str, float]:
    """Return the probe's summary scalars of a trial configuration, each a mean over seeds.

    Returns:
        `probe_coherence` (mean gradient coherence), `probe_spread` (decades between the largest and
        the smallest per-unit gradient RMS) and `probe_growth` (activation RMS at the last unit's
        input over that at the first unit's input). `probe_coherence` is NaN when no stage has
        two units, because then no unit has a deeper reference in its stage.
    """
    return probe_trial_config(trial_config, seeds).scalars()


# --- storage ----------------------------------------------------------------------------------


def write_probe_json(results_dir: str | Path, summaries: Iterable[ProbeSummary], *, merge: bool = True) -> Path:
    """Write the per-unit profiles of several variants to `<results_dir>/probe.json` atomically.

    The file maps each variant label to {"gradient_rms", "coherence", "activation_rms"}, each a
    list with one list of per-unit values per seed; undefined values are null.

    Args:
        results_dir: The sweep's results directory; created when missing.
        summaries: Probe summaries; their labels are the keys.
        merge: Keep the variants already in the file whose labels are not among `summaries`.

    Returns:
        The path of the file written.
    """
    directory = Path(results_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / PROBE_FILE_NAME
    profiles: dict[str, Any] = {}
    if merge and path.exists():
        try:
            profiles = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise AblateError(f"cannot read {path} to merge probe profiles: {exc}; delete it or pass merge=False") from None
    for summary in summaries:
        profiles[summary.label] = summary.profile()

    return write_atomically(path, lambda temporary: temporary.write_text(json.dumps(profiles), encoding="utf-8"))
