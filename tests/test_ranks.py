"""Ranks across tasks (issue 20, third section): per-task ranks and their mean against an
independent computation, wins, and the bounded-scale aggregates by their definitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from posenc.analysis.ranks import (
    iqm,
    probability_of_improvement,
    rank_across,
    stratified_bootstrap_iqm,
)


def table(metric: str, means: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = [
        {
            "run": f"{t}-{e}-{s}",
            "dataset": t,
            "encoding": e,
            "seed": s,
            "status": "completed",
            metric: v,
        }
        for (t, e), values in means.items()
        for s, v in enumerate(values)
    ]
    return pd.DataFrame(rows)


LOSSES = {
    ("lag", "none"): [3.0, 3.2],
    ("lag", "rope"): [1.0, 1.2],
    ("lag", "alibi"): [2.0, 2.1],
    ("reverse", "none"): [30.0, 31.0],
    ("reverse", "rope"): [50.0, 52.0],
    ("reverse", "alibi"): [10.0, 11.0],
    ("window", "none"): [0.3, 0.3],
    ("window", "rope"): [0.1, 0.1],
    ("window", "alibi"): [0.1, 0.1],
}


def test_ranks_per_task_and_their_mean():
    ranks = rank_across(table("test_loss", LOSSES), "dataset", "test_loss", ["dataset", "encoding"])
    ranks = ranks.set_index("encoding")
    # by hand, lower is better: lag rope 1 alibi 2 none 3; reverse alibi 1 none 2 rope 3;
    # window rope and alibi tie for 1 (1.5 each), none 3
    expected = {"rope": (1 + 3 + 1.5) / 3, "alibi": (2 + 1 + 1.5) / 3, "none": (3 + 2 + 3) / 3}
    for encoding, mean in expected.items():
        assert ranks.loc[encoding, "mean_rank"] == pytest.approx(mean, abs=1e-9)
    assert ranks.loc["rope", "wins"] == 2 and ranks.loc["alibi", "wins"] == 2
    assert ranks.loc["none", "wins"] == 0 and (ranks["n_tasks"] == 3).all()
    assert "iqm" not in ranks  # losses of different tasks are never averaged


def test_the_mean_reciprocal_rank_is_kazemnejad_et_als_headline():
    ranks = rank_across(table("test_loss", LOSSES), "dataset", "test_loss", ["dataset", "encoding"])
    mrr = ranks.set_index("encoding")["mrr"]
    # the ranks above, by hand: rope 1, 3, 1.5; alibi 2, 1, 1.5; none 3, 2, 3
    assert mrr["rope"] == pytest.approx((1 + 1 / 3 + 1 / 1.5) / 3, abs=1e-12)
    assert mrr["alibi"] == pytest.approx((1 / 2 + 1 + 1 / 1.5) / 3, abs=1e-12)
    assert mrr["none"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 3) / 3, abs=1e-12)


def test_bounded_metrics_get_iqm_and_probability_of_improvement():
    scores = {
        ("a", "none"): [0.5, 0.52, 0.48],
        ("a", "rope"): [0.9, 0.95, 0.92],
        ("b", "none"): [0.6, 0.58, 0.61],
        ("b", "rope"): [0.7, 0.72, 0.69],
    }
    ranks = rank_across(
        table("score", scores), "dataset", "score", ["dataset", "encoding"], {"encoding": "none"}
    ).set_index("encoding")
    rope = [0.9, 0.95, 0.92, 0.7, 0.72, 0.69]
    assert ranks.loc["rope", "iqm"] == pytest.approx(stats.trim_mean(rope, 0.25), abs=1e-12)
    assert ranks.loc["rope", "p_improvement"] == 1.0  # every rope run beats every none run
    assert ranks.loc["rope", "mean_rank"] == 1.0 and ranks.loc["rope", "wins"] == 2


def test_iqm_and_probability_of_improvement_by_definition():
    x = np.arange(1, 9, dtype=float)  # the middle half is 3, 4, 5, 6
    assert iqm(x) == pytest.approx(4.5)
    same = [np.array([1.0, 2.0, 3.0])]
    assert probability_of_improvement(same, same) == pytest.approx(0.5)
    assert probability_of_improvement([np.array([2.0, 3.0])], [np.array([1.0, 2.5])]) == 0.75


def test_stratified_bootstrap_is_seeded_and_brackets_the_iqm():
    rng = np.random.default_rng(0)
    tasks = [rng.normal(0.5, 0.1, 5), rng.normal(0.8, 0.05, 5)]
    a = stratified_bootstrap_iqm(tasks, 0.95, seed=4, resamples=500)
    assert a == stratified_bootstrap_iqm(tasks, 0.95, seed=4, resamples=500)
    assert a[0] < iqm(np.concatenate(tasks)) < a[1]
