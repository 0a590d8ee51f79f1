"""Comparison against a baseline (issue 20, second section): differences, paired t, Holm and
Wilcoxon against an independent computation; a fixed shift is `better`; seed noise alone
is called a difference at most 20 times in 200 seeded replicas at the 0.05 level."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from posenc.analysis.paired import compare_to_baseline, parse_baseline


def sweep(values: dict[str, np.ndarray], metric: str = "final_val_loss") -> pd.DataFrame:
    rows = [
        {"run": f"{e}-{s}", "encoding": e, "seed": s, "status": "completed", metric: float(v)}
        for e, seeds in values.items()
        for s, v in enumerate(seeds)
    ]
    return pd.DataFrame(rows)


def test_paired_statistics_match_an_independent_computation():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 1, 5)  # shared by every encoding at one seed: pairs help
    values = {
        "none": 1.0 + seed_effect + rng.normal(0, 0.1, 5),
        "rope": 0.7 + seed_effect + rng.normal(0, 0.1, 5),
        "alibi": 0.95 + seed_effect + rng.normal(0, 0.1, 5),
    }
    table = compare_to_baseline(sweep(values), {"encoding": "none"}, "final_val_loss", ["encoding"])
    table = table.set_index("encoding")
    p = {}
    for name in ("alibi", "rope"):
        d = values[name] - values["none"]
        row = table.loc[name]
        half = stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
        t = d.mean() / (d.std(ddof=1) / math.sqrt(5))
        p[name] = 2 * stats.t.sf(abs(t), 4)
        assert row["n_pairs"] == 5 and row["unmatched"] == 0 and row["test"] == "paired t"
        assert row["mean_diff"] == pytest.approx(d.mean(), abs=1e-9)
        assert row["diff_ci_low"] == pytest.approx(d.mean() - half, abs=1e-9)
        assert row["diff_ci_high"] == pytest.approx(d.mean() + half, abs=1e-9)
        # simultaneous over the two groups tested: each at 1 − 0.05/2
        wide = stats.t.ppf(1 - 0.025 / 2, 4) * d.std(ddof=1) / math.sqrt(5)
        assert row["diff_ci_low_sim"] == pytest.approx(d.mean() - wide, abs=1e-9)
        assert row["diff_ci_high_sim"] == pytest.approx(d.mean() + wide, abs=1e-9)
        assert row["baseline"] == "encoding=none"
        assert row["p_value"] == pytest.approx(p[name], abs=1e-9)
        assert row["p_wilcoxon"] == pytest.approx(stats.wilcoxon(d).pvalue, abs=1e-9)
        assert row["win_rate"] == pytest.approx(np.mean(d < 0))  # lower loss wins
    # Holm, by hand: the smaller p times 2, the larger times 1, kept monotone, capped at 1
    small, large = sorted(p, key=p.get)
    holm_small = min(1.0, 2 * p[small])
    assert table.loc[small, "p_holm"] == pytest.approx(holm_small, abs=1e-9)
    assert table.loc[large, "p_holm"] == pytest.approx(
        min(1.0, max(holm_small, p[large])), abs=1e-9
    )
    assert table.loc["rope", "verdict"] == "better"


def test_higher_is_better_for_accuracy_and_worse_is_said():
    rng = np.random.default_rng(1)
    values = {"none": 0.6 + rng.normal(0, 0.01, 6), "rope": 0.5 + rng.normal(0, 0.01, 6)}
    table = compare_to_baseline(sweep(values, "score"), {"encoding": "none"}, "score", ["encoding"])
    assert table["verdict"].tolist() == ["worse"] and table["win_rate"].tolist() == [0.0]


def test_a_fixed_shift_is_better():
    rng = np.random.default_rng(2)
    base = rng.normal(1.0, 0.2, 5)
    values = {"none": base, "rope": base - 0.3 + rng.normal(0, 0.01, 5)}
    table = compare_to_baseline(sweep(values), {"encoding": "none"}, "final_val_loss", ["encoding"])
    assert table["verdict"].tolist() == ["better"]


@pytest.mark.slow
def test_seed_noise_alone_is_rarely_called_a_difference():
    """200 replicas of two groups that differ only by noise: at the 0.05 level about 10 say
    better or worse; more than 20 is beyond the 99.9% binomial bound."""
    calls = 0
    for replica in range(200):
        rng = np.random.default_rng(1000 + replica)
        values = {"none": rng.normal(1, 0.2, 5), "rope": rng.normal(1, 0.2, 5)}
        table = compare_to_baseline(
            sweep(values), {"encoding": "none"}, "final_val_loss", ["encoding"]
        )
        calls += table["verdict"].iloc[0] != "no evidence"
    assert calls <= 20


def test_unmatched_runs_are_counted_and_no_pairs_falls_back_to_welch():
    frame = sweep({"none": np.array([1.0, 1.1, 0.9]), "rope": np.array([0.5, 0.6, 0.4])})
    frame.loc[frame["encoding"] == "rope", "seed"] += 10  # no common seed
    table = compare_to_baseline(frame, {"encoding": "none"}, "final_val_loss", ["encoding"])
    row = table.iloc[0]
    assert row["test"] == "Welch (no pairs)" and row["n_pairs"] == 0 and row["unmatched"] == 3
    welch = stats.ttest_ind([0.5, 0.6, 0.4], [1.0, 1.1, 0.9], equal_var=False)
    assert row["p_value"] == pytest.approx(welch.pvalue, abs=1e-9)


@pytest.mark.parametrize("items", [["encoding"], ["=none"]])
def test_a_bad_baseline_is_refused(items):
    with pytest.raises(KeyError, match="--baseline"):
        parse_baseline(items)


def test_a_baseline_no_run_has_is_refused():
    with pytest.raises(KeyError, match="no completed run"):
        compare_to_baseline(
            sweep({"none": np.ones(3)}), {"encoding": "fire"}, "final_val_loss", ["encoding"]
        )


@pytest.mark.slow
def test_compare_writes_comparison_csv(tmp_path):
    import json
    import subprocess
    import sys

    from posenc.store import run_folder as rf

    from .conftest import run_inprocess

    tiny = ["dataset.n_samples=40", "trainer.epochs=1", "model=linear"]
    for encoding in ("none", "sinusoidal"):
        for seed in range(3):
            run = tmp_path / f"encoding={encoding},seed={seed}"
            run_inprocess(run, [*tiny, f"encoding={encoding}", f"seed={seed}"])
            record = rf.read_record(run)
            record["overrides"] = [f"encoding={encoding}", f"seed={seed}"]
            (run / rf.RUN).write_text(json.dumps(record))
    out = subprocess.run(
        [sys.executable, "-m", "posenc.compare", str(tmp_path), "--baseline", "encoding=none"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "against the baseline encoding=none" in out.stdout
    folder = tmp_path / "comparisons" / "baseline=encoding=none"
    table = pd.read_csv(folder / "comparison.csv")
    assert (folder / "comparison.png").stat().st_size > 0
    assert table["encoding"].tolist() == ["sinusoidal"] and table["n_pairs"].tolist() == [3]
    bad = subprocess.run(
        [sys.executable, "-m", "posenc.compare", str(tmp_path), "--baseline", "model=lstm"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "--baseline" in bad.stderr


@pytest.mark.slow
def test_the_simultaneous_interval_holds_zero_whenever_holm_finds_no_evidence():
    """comparison.png draws the interval the verdict follows: over 50 seeded sweeps of
    four groups with small shifts, a `no evidence` verdict never has a simultaneous
    interval that excludes 0."""
    rng = np.random.default_rng(1)
    seen = 0
    for _ in range(50):
        seed_effect = rng.normal(0, 1, 5)
        values = {
            name: shift + seed_effect + rng.normal(0, 0.1, 5)
            for name, shift in (("none", 1.0), ("a", 0.95), ("b", 0.9), ("c", 1.05), ("d", 1.0))
        }
        table = compare_to_baseline(
            sweep(values), {"encoding": "none"}, "final_val_loss", ["encoding"]
        )
        for _, row in table[table["verdict"] == "no evidence"].iterrows():
            seen += 1
            assert row["diff_ci_low_sim"] <= 0 <= row["diff_ci_high_sim"]
    assert seen > 25
