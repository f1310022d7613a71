"""Statistics across seeds: per-variant summaries and paired comparisons against a baseline.

A variant is a trial's every parameter except the seed. Its label is the `variant` column of
`trials.parquet`. Tables without one fall back to the `param.*` columns (all but `param.seed`),
then to `unit`, `block` and `depth`.

Which trials count: the objective statistics (n, median, mean, std, min, max, confidence interval)
use completed trials with a finite objective only. A pruned trial stopped early, so its objective
is a partial value from an earlier epoch, and a diverged trial's objective comes from its last
finite epoch, or is NaN. Mixing either with completed runs would bias the distribution. Pruned,
diverged and failed (`error`) trials are counted in their own columns instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ablate.errors import AblateError

__all__ = [
    "MIN_WILCOXON_PAIRS",
    "bootstrap_mean_ci",
    "compare_variants",
    "paired_difference",
    "resolve_baseline",
    "summarize_variants",
    "variant_labels",
]

MIN_WILCOXON_PAIRS = 5
"""Fewest paired seeds for which a Wilcoxon signed-rank p-value is reported.

With n pairs the smallest two-sided exact p-value is 2 / 2**n, so below 5 pairs (p >= 0.125)
the test cannot reject at any usual level.
"""

_FALLBACK_VARIANT_COLUMNS = ("unit", "block", "depth")


def param_columns(trials: pd.DataFrame) -> list[str]:
    """Return the `param.*` columns of a trials table, without `param.seed`."""
    return [c for c in trials.columns if c.startswith("param.") and c != "param.seed"]


def variant_labels(trials: pd.DataFrame) -> pd.Series:
    """Return one variant label per trial (a string Series aligned with `trials`)."""
    if "variant" in trials.columns and trials["variant"].notna().all():
        return trials["variant"].astype(str)
    columns = param_columns(trials) or [c for c in _FALLBACK_VARIANT_COLUMNS if c in trials.columns]
    if not columns:
        raise AblateError(
            "cannot tell variants apart: the trials table has no 'variant', 'param.*', "
            "'unit', 'block' or 'depth' column"
        )
    parts = [trials[c].map(lambda v, c=c: f"{c.removeprefix('param.')}={v}") for c in columns]
    return pd.Series([", ".join(row) for row in zip(*parts)], index=trials.index, dtype=str)


def _completed_objectives(trials: pd.DataFrame) -> pd.DataFrame:
    """Return completed trials with a finite objective, with a `variant` label column."""
    frame = trials.assign(variant=variant_labels(trials))
    objective = pd.to_numeric(frame["objective"], errors="coerce")
    keep = (frame["status"] == "completed") & np.isfinite(objective.to_numpy(dtype=float))
    return frame.loc[keep].assign(objective=objective[keep])


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Return the percentile bootstrap confidence interval of the mean.

    The resampling is seeded, so the same values give the same interval. Fewer than two values
    give (NaN, NaN) because one value has no spread to resample.
    """
    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_boot, data.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def summarize_variants(
    trials: pd.DataFrame,
    *,
    mode: str = "min",
    confidence: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Summarize the objective over seeds, one row per variant, best variant first.

    Args:
        trials: A trials table.
        mode: "min" or "max": which end of the median is best.
        confidence: Level of the bootstrap interval of the mean.
        n_boot: Bootstrap resamples.
        seed: Seed of the bootstrap resampling.

    Returns:
        Columns `variant`, `unit`, `preset`, `block`, `depth` and the `param.*` columns (taken
        from the variant's first trial), `num_parameters`, `macs`, `n` (completed trials with a
        finite objective), `median`, `mean`, `std` (sample, ddof=1), `min`, `max`, `ci_low`,
        `ci_high`, `n_trials`, `n_completed`, `n_pruned`, `n_diverged`, `n_error`. Variants
        without a completed trial come last with NaN statistics.
    """
    if mode not in ("min", "max"):
        raise AblateError(f"invalid objective mode {mode!r}; expected 'min' or 'max'")
    frame = trials.assign(variant=variant_labels(trials))
    completed = _completed_objectives(trials)
    descriptive = [c for c in ("unit", "preset", "block", "depth", *param_columns(trials),
                               "num_parameters", "macs") if c in frame.columns]

    rows = []
    for variant, group in frame.groupby("variant", sort=False):
        values = completed.loc[completed["variant"] == variant, "objective"].to_numpy(dtype=float)
        low, high = bootstrap_mean_ci(values, confidence, n_boot, seed)
        statuses = group["status"].value_counts()
        rows.append({
            "variant": variant,
            **{c: group[c].iloc[0] for c in descriptive},
            "n": int(values.size),
            "median": float(np.median(values)) if values.size else math.nan,
            "mean": float(values.mean()) if values.size else math.nan,
            "std": float(values.std(ddof=1)) if values.size > 1 else math.nan,
            "min": float(values.min()) if values.size else math.nan,
            "max": float(values.max()) if values.size else math.nan,
            "ci_low": low,
            "ci_high": high,
            "n_trials": int(len(group)),
            **{f"n_{status}": int(statuses.get(status, 0))
               for status in ("completed", "pruned", "diverged", "error")},
        })
    summary = pd.DataFrame(rows)
    if summary.empty:
        return summary
    return summary.sort_values(
        ["median", "variant"], ascending=[mode == "min", True], na_position="last"
    ).reset_index(drop=True)


def resolve_baseline(trials: pd.DataFrame, baseline: str) -> str:
    """Return the variant label that `baseline` names: a variant label or a preset name.

    Raises:
        AblateError: When nothing matches, or a preset name matches several variants.
    """
    labels = variant_labels(trials)
    if baseline in set(labels):
        return baseline
    if "preset" in trials.columns:
        matching = sorted(set(labels[trials["preset"] == baseline]))
        if len(matching) == 1:
            return matching[0]
        if len(matching) > 1:
            raise AblateError(
                f"baseline preset {baseline!r} matches {len(matching)} variants; "
                f"give one variant label instead: {'; '.join(matching)}"
            )
    presets = sorted({p for p in trials.get("preset", pd.Series(dtype=object)).dropna()})
    raise AblateError(
        f"baseline {baseline!r} is neither a variant label nor a preset of this sweep; "
        f"variants: {'; '.join(sorted(set(labels)))}"
        + (f"; presets: {', '.join(presets)}" if presets else "")
    )


def paired_difference(
    differences: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> dict[str, float | str | None]:
    """Return the mean of paired differences, its Student-t interval and a Wilcoxon p-value.

    The interval is mean ± t(confidence, n-1) · s / sqrt(n). The Wilcoxon signed-rank test
    (scipy, two-sided) runs when there are at least `MIN_WILCOXON_PAIRS` pairs; otherwise
    `p_value` is NaN and `note` gives the reason.
    """
    from scipy import stats

    diffs = np.asarray(differences, dtype=float)
    n = diffs.size
    result: dict[str, float | str | None] = {
        "n_pairs": n, "mean_diff": math.nan, "diff_ci_low": math.nan,
        "diff_ci_high": math.nan, "p_value": math.nan, "note": None,
    }
    if n == 0:
        result["note"] = "no seed completed in both variants"
        return result
    result["mean_diff"] = float(diffs.mean())
    if n >= 2:
        half_width = stats.t.ppf(0.5 + confidence / 2.0, n - 1) * diffs.std(ddof=1) / math.sqrt(n)
        result["diff_ci_low"] = float(diffs.mean() - half_width)
        result["diff_ci_high"] = float(diffs.mean() + half_width)
    if n < MIN_WILCOXON_PAIRS:
        result["note"] = f"n={n} paired seeds is too small for a Wilcoxon test (needs {MIN_WILCOXON_PAIRS})"
    elif not np.any(diffs != 0):
        result["p_value"] = 1.0
        result["note"] = "every paired difference is zero"
    else:
        result["p_value"] = float(stats.wilcoxon(diffs).pvalue)
    return result


def compare_variants(
    trials: pd.DataFrame, baseline: str, *, confidence: float = 0.95
) -> pd.DataFrame:
    """Compare every variant with a baseline over the seeds both completed.

    Differences are variant minus baseline, per seed; a seed run twice in one variant counts
    with the mean of its runs.

    Args:
        trials: A trials table.
        baseline: A variant label, or a preset name that matches exactly one variant.
        confidence: Level of the interval of the mean difference.

    Returns:
        One row per variant other than the baseline: `variant`, `baseline`, `n_pairs`,
        `mean_diff`, `diff_ci_low`, `diff_ci_high`, `p_value`, `note`.
    """
    baseline_label = resolve_baseline(trials, baseline)
    completed = _completed_objectives(trials)
    if "seed" not in completed.columns:
        raise AblateError("cannot pair trials: the trials table has no 'seed' column")
    per_seed = completed.groupby(["variant", "seed"])["objective"].mean().unstack("variant")
    reference = per_seed[baseline_label] if baseline_label in per_seed else pd.Series(dtype=float)

    rows = []
    for variant in variant_labels(trials).drop_duplicates():
        if variant == baseline_label:
            continue
        values = per_seed[variant] if variant in per_seed else pd.Series(dtype=float)
        diffs = (values - reference).dropna()
        rows.append({"variant": variant, "baseline": baseline_label,
                     **paired_difference(diffs.to_numpy(), confidence)})
    columns = ["variant", "baseline", "n_pairs", "mean_diff", "diff_ci_low", "diff_ci_high",
               "p_value", "note"]
    return pd.DataFrame(rows, columns=columns)
