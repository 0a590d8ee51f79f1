"""Intervals over seeds: how sure a summary's mean is (scipy.stats, never hand-written
quantiles). A group's values are its completed runs' values of one metric; with fewer than
two there is no interval (NaN), never a zero-width one.

- `t`: Student-t, mean ± t_{(1+c)/2, n−1} · s/√n (exact for normal noise, the default).
- `bootstrap`: scipy.stats.bootstrap's BCa interval of the mean, seeded (percentile when
  BCa is undefined, e.g. all values equal).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

METHODS = ("t", "bootstrap")
RESAMPLES = 10_000


def interval(
    values: Sequence[float],
    confidence: float = 0.95,
    method: str = "t",
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> tuple[float, float]:
    """(low, high) of the mean of `values` at `confidence`; (nan, nan) below two values."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size < 2:
        return math.nan, math.nan
    if method == "t":
        if np.all(x == x[0]):
            return float(x[0]), float(x[0])  # no spread: the interval is the value
        low, high = stats.t.interval(confidence, x.size - 1, loc=x.mean(), scale=stats.sem(x))
        return float(low), float(high)
    if method != "bootstrap":
        raise ValueError(f"method {method!r}: choose {', '.join(METHODS)}")
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    kind = "BCa"
    try:
        result = stats.bootstrap(
            (x,),
            np.mean,
            confidence_level=confidence,
            n_resamples=resamples,
            method=kind,
            random_state=rng,
        )
    except ValueError:
        result = None
    if result is None or not np.all(np.isfinite(result.confidence_interval)):
        rng = np.random.default_rng(seed)
        result = stats.bootstrap(
            (x,),
            np.mean,
            confidence_level=confidence,
            n_resamples=resamples,
            method="percentile",
            random_state=rng,
        )
    low, high = result.confidence_interval
    return float(low), float(high)
