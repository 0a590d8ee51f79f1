"""Issue 20's check on a real sweep: the deterministic numbers of summary.csv,
comparison.csv and ranks.csv agree with an independent computation from results.csv."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from .conftest import run_cli

pytestmark = pytest.mark.slow

ENCODINGS = ["none", "sinusoidal", "learnable", "rope", "alibi"]

# where compare --metric test_loss --baseline encoding=none --across dataset writes
COMPARED = "comparisons/metric=test_loss,baseline=encoding=none,across=dataset"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("stats")
    out = run_cli(
        [
            "-m",
            "model=transformer",
            f"encoding={','.join(ENCODINGS)}",
            "seed=range(5)",
            "dataset=lag,window",
            "dataset.n_samples=40",
            "dataset.seq_len=8",
            "model.d_model=8",
            "model.n_heads=2",
            "model.n_layers=1",
            "trainer.epochs=2",
            "eval.lengths=[16]",
            f"hydra.sweep.dir={root / 'sweep'}",
        ],
        cwd=root,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    folder = root / "sweep"
    compare = subprocess.run(
        [
            sys.executable,
            "-m",
            "posenc.compare",
            str(folder),
            "--baseline",
            "encoding=none",
            "--across",
            "dataset",
            "--metric",
            "test_loss",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert compare.returncode == 0, compare.stderr
    return folder


def test_summary_intervals_agree_with_results(sweep):
    results = pd.read_csv(sweep / "results.csv")
    summary = pd.read_csv(sweep / "summary.csv")
    for _, row in summary.iterrows():
        x = results[(results.encoding == row.encoding) & (results.dataset == row.dataset)]
        for metric in ("test_loss", "test_loss@16"):  # and the length sweep's metric
            values = x[metric].dropna().to_numpy(float)
            if not len(values):  # learnable past its table: unsupported, no value
                assert math.isnan(row[f"{metric}_mean"]) and row[f"{metric}_n"] == 0
                continue
            n, mean = len(values), values.mean()
            sem = values.std(ddof=1) / math.sqrt(n)
            half = stats.t.ppf(0.975, n - 1) * sem
            assert row[f"{metric}_mean"] == pytest.approx(mean, abs=1e-9)
            assert row[f"{metric}_sem"] == pytest.approx(sem, abs=1e-9)
            assert row[f"{metric}_ci_low"] == pytest.approx(mean - half, abs=1e-9)
            assert row[f"{metric}_ci_high"] == pytest.approx(mean + half, abs=1e-9)


def test_comparison_agrees_with_results(sweep):
    results = pd.read_csv(sweep / "results.csv")
    table = pd.read_csv(sweep / COMPARED / "comparison.csv")
    p_values = []
    for _, row in table.iterrows():
        pick = results[results.dataset == row.dataset]
        a = pick[pick.encoding == row.encoding].set_index("seed")["test_loss"]
        b = pick[pick.encoding == "none"].set_index("seed")["test_loss"]
        d = (a - b.loc[a.index]).to_numpy(float)
        assert row["n_pairs"] == 5 and row["mean_diff"] == pytest.approx(d.mean(), abs=1e-9)
        t = d.mean() / (d.std(ddof=1) / math.sqrt(5))
        p = 2 * stats.t.sf(abs(t), 4)
        assert row["p_value"] == pytest.approx(p, abs=1e-9)
        p_values.append(p)
    # Holm by hand over all the comparisons
    order = np.argsort(p_values)
    m, running, holm = len(p_values), 0.0, np.empty(len(p_values))
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        holm[i] = running
    assert table["p_holm"].to_numpy() == pytest.approx(holm, abs=1e-9)


def test_ranks_agree_with_results(sweep):
    results = pd.read_csv(sweep / "results.csv")
    ranks = pd.read_csv(sweep / COMPARED / "ranks.csv").set_index("encoding")
    means = results.groupby(["dataset", "encoding"])["test_loss"].mean().unstack("dataset")
    per_task = means.rank(axis=0, ascending=True, method="average")
    for encoding in ENCODINGS:
        assert ranks.loc[encoding, "mean_rank"] == pytest.approx(
            per_task.loc[encoding].mean(), abs=1e-9
        )
