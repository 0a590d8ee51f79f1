"""Intervals in every summary (issue 20, first section): the t interval, sem, median and
counts against an independent computation, the bootstrap reproducible by its seed, and no
interval from one run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from posenc.analysis.comparison import format_summary, summarize


def results_table(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for encoding, losses in values.items():
        for seed, loss in enumerate(losses):
            rows.append(
                {
                    "run": f"{encoding}-{seed}",
                    "encoding": encoding,
                    "seed": seed,
                    "status": "completed",
                    "final_val_loss": loss,
                }
            )
    rows.append(  # a failed run counts in n, never in the statistics
        {"run": "x", "encoding": "rope", "seed": 9, "status": "failed", "final_val_loss": 0.0}
    )
    return pd.DataFrame(rows)


VALUES = {"none": [1.0, 1.3, 0.9, 1.1, 1.25], "rope": [0.5, 0.61, 0.4, 0.55, 0.47], "one": [2.0]}


@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_t_intervals_match_an_independent_computation(confidence):
    summary = summarize(results_table(VALUES), metric="final_val_loss", confidence=confidence)
    row = summary.set_index("encoding").loc["rope"]
    x = np.array(VALUES["rope"])
    n, mean, sd = len(x), x.sum() / len(x), math.sqrt(((x - x.mean()) ** 2).sum() / (len(x) - 1))
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)
    assert row["n"] == 6 and row["final_val_loss_n"] == 5  # the failed run is not a value
    assert row["final_val_loss_mean"] == pytest.approx(mean, abs=1e-9)
    assert row["final_val_loss_sem"] == pytest.approx(sd / math.sqrt(n), abs=1e-9)
    assert row["final_val_loss_median"] == pytest.approx(0.5, abs=1e-9)
    assert row["final_val_loss_ci_low"] == pytest.approx(mean - half, abs=1e-9)
    assert row["final_val_loss_ci_high"] == pytest.approx(mean + half, abs=1e-9)


def test_one_run_has_no_interval():
    row = summarize(results_table(VALUES)).set_index("encoding").loc["one"]
    assert row["final_val_loss_n"] == 1
    assert math.isnan(row["final_val_loss_ci_low"]) and math.isnan(row["final_val_loss_ci_high"])


def test_bootstrap_is_reproducible_by_its_seed():
    a = summarize(results_table(VALUES), ci="bootstrap", seed=3).set_index("encoding")
    b = summarize(results_table(VALUES), ci="bootstrap", seed=3).set_index("encoding")
    x = np.array(VALUES["none"])
    ref = stats.bootstrap(
        (x,), np.mean, n_resamples=10_000, method="BCa", random_state=np.random.default_rng(3)
    ).confidence_interval
    low, high = a.loc["none", ["final_val_loss_ci_low", "final_val_loss_ci_high"]]
    assert (low, high) == tuple(b.loc["none", ["final_val_loss_ci_low", "final_val_loss_ci_high"]])
    assert (low, high) == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert low < x.mean() < high


def test_the_printed_table_shows_the_interval_and_says_so(tmp_path):
    results = results_table(VALUES)
    summary = summarize(results, metric="final_val_loss")
    text = format_summary(tmp_path, results, summary, "final_val_loss")
    assert "95% Student-t interval" in text.splitlines()[0]
    row = summary.set_index("encoding").loc["rope"]
    half = (row["final_val_loss_ci_high"] - row["final_val_loss_ci_low"]) / 2
    assert f"± {half:.2g}" in text


@pytest.mark.parametrize("keys", [{"ci": "jackknife"}, {"confidence": 1.5}])
def test_bad_interval_options_are_refused(keys):
    with pytest.raises(KeyError):
        summarize(results_table(VALUES), **keys)
