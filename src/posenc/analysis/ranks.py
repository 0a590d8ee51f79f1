"""Ranks across tasks: which group (an encoding, a model) does best over many datasets?

Losses of different tasks are not on one scale, so they are ranked per task, never averaged:
per task (a value of the `across` key) each group's mean over its completed runs is ranked,
1 the best in the metric's direction (ties share the average rank). Per group: the mean rank
over tasks with a seeded bootstrap interval (tasks resampled), the mean reciprocal rank
(`mrr`, the mean of 1 / rank over tasks: Kazemnejad et al. 2023's headline number), the
tasks it wins (best mean, ties included) and how many tasks it has.

For metrics on one bounded scale (accuracies and `score`, all in [0, 1]) also the aggregates
of Agarwal et al. 2021 ("Deep RL at the Edge of the Statistical Precipice"): the
interquartile mean of every run's value with a stratified bootstrap interval (runs
resampled within each task), and the probability of improvement over a baseline group
(per task P(X > Y) from the Mann-Whitney U statistic, averaged over tasks). rliable
computes these, but its `arch` dependency fails to import with current pandas (arch 7.2:
`deprecate_kwarg()` error), so they run on scipy and numpy here, the same definitions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

import posenc.metrics as known
from posenc.store.status import Status

RANKS = "ranks.csv"
RESAMPLES = 2000


def _label(values: tuple, keys: Sequence[str]) -> str:
    return " / ".join(str(v) for v in values) if keys else "all runs"


def rank_across(
    results: pd.DataFrame,
    across: str,
    metric: str,
    by: Sequence[str],
    baseline: Mapping[str, str] | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> pd.DataFrame:
    """One row per group (the `by` keys other than `across`), best mean rank first."""
    from posenc.analysis.statistics import interval

    if across not in results.columns:
        raise KeyError(f"--across: no column {across!r}; choose from {', '.join(by)}")
    keys = [k for k in by if k != across]
    done = results[results["status"] == Status.COMPLETED.value].copy()
    done[metric] = pd.to_numeric(done[metric], errors="coerce")
    done = done[done[metric].notna()]
    if done.empty:
        raise KeyError(
            f"--across: no completed run has a value of {metric} to rank (every run failed, "
            "or none records it); choose another --metric"
        )
    done["_group"] = [_label(tuple(r), keys) for r in done[keys].itertuples(index=False)]
    means = done.groupby(["_group", across], sort=True)[metric].mean().unstack(across)
    higher = known.better(metric) == known.HIGHER
    ranks = means.rank(axis=0, ascending=not higher, method="average")
    best = means.rank(axis=0, ascending=not higher, method="min") == 1
    rows = []
    for group in means.index:
        r = ranks.loc[group].dropna().to_numpy(dtype=float)
        low, high = interval(r.tolist(), confidence, "bootstrap", seed, resamples)
        first = done[done["_group"] == group].iloc[0]
        row = {k: first[k] for k in keys}
        row.update(
            n_tasks=int(r.size),
            mean_rank=float(r.mean()) if r.size else math.nan,
            rank_ci_low=low,
            rank_ci_high=high,
            mrr=float((1 / r).mean()) if r.size else math.nan,
            wins=int(best.loc[group].sum()),
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    if metric in known.BOUNDED or (known.split_length(metric) or ("",))[0] == "accuracy":
        table = _bounded(table, done, across, metric, keys, baseline, confidence, seed, resamples)
    return table.sort_values(["mean_rank", "wins"], ascending=[True, False]).reset_index(drop=True)


def iqm(values: np.ndarray) -> float:
    """The interquartile mean: the mean of the middle 50% of the values (scipy's trim_mean)."""
    from scipy import stats

    return float(stats.trim_mean(np.asarray(values, dtype=float).ravel(), 0.25))


def stratified_bootstrap_iqm(
    per_task: Sequence[np.ndarray], confidence: float, seed: int, resamples: int
) -> tuple[float, float]:
    """Percentile interval of the IQM with runs resampled within each task (rliable's
    StratifiedBootstrap); NaN when no task has two runs."""
    if not any(len(v) > 1 for v in per_task):
        return math.nan, math.nan
    from scipy import stats

    rng = np.random.default_rng(seed)
    draws = [v[rng.integers(0, len(v), (resamples, len(v)))] for v in per_task]
    stats_ = stats.trim_mean(np.concatenate(draws, axis=1), 0.25, axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(stats_, [tail, 100 - tail])
    return float(low), float(high)


def probability_of_improvement(x: Sequence[np.ndarray], y: Sequence[np.ndarray]) -> float:
    """P(X > Y) per task (ties count half: U / (m·n)), averaged over tasks."""
    from scipy import stats

    per_task = [
        stats.mannwhitneyu(a, b, alternative="two-sided").statistic / (len(a) * len(b))
        for a, b in zip(x, y, strict=True)
    ]
    return float(np.mean(per_task)) if per_task else math.nan


def _bounded(table, done, across, metric, keys, baseline, confidence, seed, resamples):
    tasks = sorted(done[across].astype(str).unique())

    def runs(group: str) -> list[np.ndarray]:
        mine = done[done["_group"] == group]
        return [mine[mine[across].astype(str) == t][metric].to_numpy(float) for t in tasks]

    labels = [_label(tuple(r), keys) for r in table[keys].itertuples(index=False)]
    table["iqm"] = [iqm(np.concatenate(runs(g))) for g in labels]
    bounds = [
        stratified_bootstrap_iqm([v for v in runs(g) if len(v)], confidence, seed, resamples)
        for g in labels
    ]
    table["iqm_ci_low"] = [b[0] for b in bounds]
    table["iqm_ci_high"] = [b[1] for b in bounds]
    base_keys = {k: v for k, v in (baseline or {}).items() if k in keys}
    if base_keys:
        from posenc.analysis.comparison import same_value

        hit = np.logical_and.reduce([same_value(table[k], v) for k, v in base_keys.items()])
        matches = [lab for lab, h in zip(labels, hit, strict=True) if h]
        base = matches[0] if len(matches) == 1 else None  # name it fully when several match
        if base is not None:
            y = runs(base)
            table["p_improvement"] = [
                _improvement(runs(g), y) if g != base else math.nan for g in labels
            ]
    return table


def _improvement(x: list[np.ndarray], y: list[np.ndarray]) -> float:
    both = [(a, b) for a, b in zip(x, y, strict=True) if len(a) and len(b)]
    if not both:
        return math.nan
    return probability_of_improvement([a for a, _ in both], [b for _, b in both])


def format_ranks(table: pd.DataFrame, across: str, metric: str) -> str:
    shown = table.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = shown[column].map(lambda v: "-" if pd.isna(v) else f"{v:.3g}")
    header = (
        f"ranks of {metric} across {across} (1 = best per {across}; mean rank with a bootstrap "
        "interval over tasks; iqm on a bounded metric)"
    )
    return f"{header}\n{shown.to_string(index=False)}"
