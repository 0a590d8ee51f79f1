"""Comparison against a baseline: is each group better than the baseline, beyond seed noise?

Each other group is matched with the baseline run of the same seed and the same value of
every other varying key (the pairs a sweep over seeds gives for free); per group: the pairs,
the mean difference (group − baseline) and its t interval, the paired t-test, the Wilcoxon
signed-rank test as a robustness column, the win rate, and across all comparisons Holm's
adjustment (statsmodels' `multipletests`) of the paired t p-values, whose verdict at `alpha`
is `better`, `worse` or `no evidence` in the metric's own direction (posenc.metrics).
Without pairs a group falls back to Welch's t-test against the matching baseline runs, and
says so in `test`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

import posenc.metrics as known
from posenc.analysis.comparison import same_value
from posenc.store.status import Status

COMPARISON = "comparison.csv"
COLUMNS = (
    "baseline",  # the group every row is compared with, spelled key=value
    "test",
    "n_pairs",
    "unmatched",
    "mean_diff",
    "diff_ci_low",
    "diff_ci_high",
    # simultaneous interval over the groups tested (Bonferroni: each at 1 − (1 − level)/m),
    # the one comparison.png draws thick: it holds 0 whenever the Holm verdict says none
    "diff_ci_low_sim",
    "diff_ci_high_sim",
    "p_value",
    "p_holm",
    "p_wilcoxon",
    "win_rate",
    "verdict",
)


def spelled(baseline: Mapping[str, str]) -> str:
    """{"encoding": "none"} -> `encoding=none`: how every output names the baseline."""
    return ",".join(f"{k}={v}" for k, v in baseline.items())


def parse_baseline(items: Sequence[str]) -> dict[str, str]:
    """`encoding=none` (and more) -> {"encoding": "none"}; KeyError naming a bad item."""
    out = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise KeyError(f"--baseline: {item!r} is not key=value (e.g. encoding=none)")
        out[key.strip()] = value.strip()
    return out


def compare_to_baseline(
    results: pd.DataFrame,
    baseline: Mapping[str, str],
    metric: str,
    by: Sequence[str],
    confidence: float = 0.95,
    alpha: float = 0.05,
    seed_key: str = "seed",
) -> pd.DataFrame:
    """One row per group other than the baseline (the `by` keys), with COLUMNS."""
    from statsmodels.stats.multitest import multipletests

    missing = [k for k in baseline if k not in results.columns]
    if missing:
        raise KeyError(f"--baseline: no column {', '.join(missing)}; choose from {', '.join(by)}")
    if metric not in results.columns:
        raise KeyError(f"--metric: no column {metric!r} in the results")
    done = results[results["status"] == Status.COMPLETED.value].copy()
    done[metric] = pd.to_numeric(done[metric], errors="coerce")
    done = done[done[metric].notna()]
    is_base = np.logical_and.reduce([same_value(done[k], v) for k, v in baseline.items()])
    base, others = done[is_base], done[~is_base]
    if base.empty:
        raise KeyError(f"--baseline: no completed run has {dict(baseline)}")
    if others.empty:
        raise KeyError(
            f"--baseline: no completed run other than the baseline {dict(baseline)} has a value "
            f"of {metric} to compare with it (the others failed, or none records it)"
        )
    context = [k for k in by if k not in baseline]  # matched as well as the seed
    sign = 1.0 if known.better(metric) == known.HIGHER else -1.0
    rows, samples = [], []
    groups = others.groupby(list(by), dropna=False, sort=True) if by else [((), others)]
    for values, group in groups:
        values = values if isinstance(values, tuple) else (values,)
        row: dict = dict(zip(by, values, strict=True))
        partners = base
        for k in context:
            partners = partners[same_value(partners[k], row[k])]
        row["baseline"] = spelled(baseline)
        row.update(_against(group, partners, metric, seed_key, confidence, sign))
        rows.append(row)
        samples.append((group, partners))
    tested_count = sum(r["test"] != "none" for r in rows)
    level = 1 - (1 - confidence) / max(tested_count, 1)
    for row, (group, partners) in zip(rows, samples, strict=True):
        wide = _against(group, partners, metric, seed_key, level, sign)
        row["diff_ci_low_sim"], row["diff_ci_high_sim"] = wide["diff_ci_low"], wide["diff_ci_high"]
    table = pd.DataFrame(rows)
    tested = table["p_value"].notna() if not table.empty else pd.Series(dtype=bool)
    table["p_holm"] = math.nan
    if tested.any():
        table.loc[tested, "p_holm"] = multipletests(table.loc[tested, "p_value"], method="holm")[1]
    table["verdict"] = [
        "no evidence" if not (p < alpha) else ("better" if sign * d > 0 else "worse")
        for p, d in zip(table["p_holm"], table["mean_diff"], strict=True)
    ]
    return table[[*by, *COLUMNS]]


def _against(
    group: pd.DataFrame,
    partners: pd.DataFrame,
    metric: str,
    seed_key: str,
    confidence: float,
    sign: float,
) -> dict:
    """One group against its baseline runs: paired by seed where at least two pairs exist,
    else Welch's test on the two samples, else no test."""
    keys = [seed_key] if seed_key in group else []
    pairs = (
        group.merge(partners, on=keys, suffixes=("", "_base"))
        if keys and not partners.empty
        else pd.DataFrame()
    )
    if keys:
        pairs = pairs.drop_duplicates(subset=keys) if not pairs.empty else pairs
    n = len(pairs)
    row: dict = {"unmatched": len(group) - n}
    if n >= 2:
        diff = (pairs[metric] - pairs[f"{metric}_base"]).to_numpy(dtype=float)
        return {**row, **_paired(diff, confidence, sign)}
    if len(group) >= 2 and len(partners) >= 2:
        samples = (group[metric].to_numpy(float), partners[metric].to_numpy(float))
        return {**row, **_welch(*samples, confidence)}
    nothing = ("mean_diff", "diff_ci_low", "diff_ci_high", "p_value", "p_wilcoxon", "win_rate")
    return {**row, "test": "none", "n_pairs": n, **dict.fromkeys(nothing, math.nan)}


def _paired(diff: np.ndarray, confidence: float, sign: float) -> dict:
    from scipy import stats

    from posenc.analysis.statistics import interval

    low, high = interval(diff.tolist(), confidence)
    same = np.all(diff == diff[0])
    p = (0.0 if diff[0] != 0 else 1.0) if same else stats.ttest_1samp(diff, 0.0).pvalue
    nonzero = diff[diff != 0]
    wilcoxon = stats.wilcoxon(nonzero).pvalue if nonzero.size else 1.0
    return {
        "test": "paired t",
        "n_pairs": diff.size,
        "mean_diff": float(diff.mean()),
        "diff_ci_low": low,
        "diff_ci_high": high,
        "p_value": float(p),
        "p_wilcoxon": float(wilcoxon),
        "win_rate": float(np.mean(sign * diff > 0)),
    }


def _welch(group: np.ndarray, base: np.ndarray, confidence: float) -> dict:
    from scipy import stats

    result = stats.ttest_ind(group, base, equal_var=False)
    low, high = result.confidence_interval(confidence)
    return {
        "test": "Welch (no pairs)",
        "n_pairs": 0,
        "mean_diff": float(group.mean() - base.mean()),
        "diff_ci_low": float(low),
        "diff_ci_high": float(high),
        "p_value": float(result.pvalue),
        "p_wilcoxon": math.nan,
        "win_rate": math.nan,
    }


def format_comparison(table: pd.DataFrame, baseline: Mapping[str, str], metric: str) -> str:
    """The printed view of comparison.csv."""
    shown = table.copy()
    shown = shown.drop(columns=["diff_ci_low_sim", "diff_ci_high_sim"])
    for column in ("mean_diff", "diff_ci_low", "diff_ci_high"):
        shown[column] = shown[column].map(lambda v: "-" if pd.isna(v) else f"{v:.4g}")
    for column in ("p_value", "p_holm", "p_wilcoxon", "win_rate"):
        shown[column] = shown[column].map(lambda v: "-" if pd.isna(v) else f"{v:.3g}")
    where = spelled(baseline)
    shown = shown.drop(columns="baseline")
    header = (
        f"{metric} against the baseline {where} (difference = group − baseline, "
        f"{known.better(metric)} is better; verdict from Holm-adjusted paired t-tests)"
    )
    return f"{header}\n{shown.to_string(index=False)}"
