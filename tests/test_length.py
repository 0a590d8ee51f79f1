"""Length generalization: order-sensitive tasks, evaluation at other lengths, randomized
positions, FIRE and the RoPE context-extension scalings."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from posenc.analysis.comparison import compare
from posenc.analysis.plots import plot_sweep
from posenc.data.lag import lag_dataset
from posenc.data.reverse import reverse_dataset
from posenc.data.window import window_dataset
from posenc.encodings.base import RandomPositions
from posenc.encodings.fire import FIRE
from posenc.encodings.rope import RoPE
from posenc.errors import ConfigError
from posenc.store import run_folder as rf

from .conftest import read_metrics, run_inprocess


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def every_sample(splits):
    for part in (splits.train, splits.val, splits.test):
        yield from zip(part.x, part.y, strict=True)


# ---------------------------------------------------------------- tasks


def test_reverse_targets_read_the_mirrored_position():
    splits = reverse_dataset(gen(), seq_len=5, n_samples=10, feature_dim=2)
    for x, y in every_sample(splits):
        assert [y[t].item() for t in range(5)] == [x[4 - t, 0].item() for t in range(5)]


def test_lag_targets_read_k_steps_back_and_zero_before():
    splits = lag_dataset(gen(), seq_len=6, n_samples=10, feature_dim=3, lag=2)
    for x, y in every_sample(splits):
        want = [0.0, 0.0] + [x[t - 2, 0].item() for t in range(2, 6)]
        assert y.tolist() == want
    with pytest.raises(ConfigError, match="^dataset.lag: 5 is not below dataset.seq_len 3"):
        lag_dataset(gen(), seq_len=3, n_samples=10, lag=5)  # every target would be 0


def test_window_targets_are_the_mean_of_the_last_w_values_with_zeros_before():
    splits = window_dataset(gen(), seq_len=5, n_samples=10, feature_dim=2, window=3)
    for x, y in every_sample(splits):
        for t in range(5):
            values = [x[s, 0].item() if s >= 0 else 0.0 for s in range(t - 2, t + 1)]
            assert y[t].item() == pytest.approx(sum(values) / 3, abs=1e-6)


def test_tasks_refuse_bad_keys():
    with pytest.raises(ConfigError, match="dataset.lag"):
        lag_dataset(gen(), lag=-1)
    with pytest.raises(ConfigError, match="dataset.window"):
        window_dataset(gen(), window=0)


# ---------------------------------------------------------------- evaluation at other lengths

TINY = [
    "dataset=lag",
    "dataset.n_samples=40",
    "dataset.seq_len=6",
    "dataset.feature_dim=2",
    "trainer.epochs=2",
    "eval.lengths=[6,12,24]",
]


def test_length_eval_file_and_metrics(tmp_path):
    metrics = run_inprocess(tmp_path, [*TINY, "model=lstm", "encoding=sinusoidal"])
    table = pd.read_csv(tmp_path / "length_eval.csv")
    assert list(table.columns) == list(rf.LENGTH_EVAL_COLUMNS)
    assert table["accuracy"].isna().all()  # regression: no accuracy
    assert table["length"].tolist() == [6, 12, 24] and (table["status"] == "ok").all()
    for length, loss in zip(table["length"], table["loss"], strict=True):
        assert metrics[f"test_loss@{length}"] == loss > 0
    assert metrics["seq_len"] == 6


def test_the_evaluation_sets_are_fresh_and_seeded(tmp_path):
    a = run_inprocess(tmp_path / "a", [*TINY, "model=lstm"])
    b = run_inprocess(tmp_path / "b", [*TINY, "model=lstm"])
    assert a["test_loss@12"] == b["test_loss@12"]  # same seed, same sets
    assert a["test_loss@6"] != a["test_loss"]  # a set of its own, not the test split


@pytest.mark.parametrize(
    "overrides, reason",
    [
        (["model=lstm", "encoding=learnable"], "learned table of 6 positions"),
        (["model=tanh_ffn", "encoding=sinusoidal"], "tanh FFN"),
        (
            ["model=linear", "model.readout=flatten", "dataset.target=sequence", "dataset=random"],
            "flatten",
        ),
        (
            [
                "model=transformer",
                "encoding=rope",
                "encoding.randomize=true",
                "encoding.max_position=20",
            ],
            "max_position 20",
        ),
    ],
)
def test_lengths_a_model_cannot_run_are_unsupported_with_the_reason(tmp_path, overrides, reason):
    metrics = run_inprocess(tmp_path, [*TINY, *overrides])
    assert metrics["status"] == "completed"
    table = pd.read_csv(tmp_path / "length_eval.csv").set_index("length")
    assert table.loc[24, "status"] == "unsupported" and reason in table.loc[24, "reason"]
    assert np.isnan(table.loc[24, "loss"]) and read_metrics(tmp_path)["test_loss@24"] is None


def test_a_dataset_that_cannot_be_built_at_a_length_is_unsupported(tmp_path):
    # target=fixed is one sentence of four words: it has no other length
    overrides = ["+experiment=glove_learnable", "encoding.max_len=8", "eval.lengths=[8]"]
    run_inprocess(tmp_path, [*overrides, "trainer.epochs=1"])
    row = pd.read_csv(tmp_path / "length_eval.csv").iloc[0]
    assert row["status"] == "unsupported" and "dataset.seq_len" in row["reason"]


@pytest.mark.slow
def test_length_columns_reach_the_tables_and_the_figure(tmp_path):
    for encoding in ("sinusoidal", "learnable"):
        for seed in (0, 1):
            run_inprocess(
                tmp_path / f"{encoding}{seed}",
                [*TINY, "model=lstm", f"encoding={encoding}", f"seed={seed}"],
            )
    results, summary = compare([tmp_path])
    assert {"test_loss@12", "test_loss@24"} <= set(results.columns)
    row = summary.set_index("encoding").loc["sinusoidal"]
    values = results[results["encoding"] == "sinusoidal"]["test_loss@24"]
    assert row["test_loss@24_mean"] == pytest.approx(values.mean())
    assert row["test_loss@24_std"] == pytest.approx(values.std())
    assert np.isnan(summary.set_index("encoding").loc["learnable", "test_loss@24_mean"])
    written = plot_sweep(tmp_path, results, summary)
    figure = tmp_path / "length_generalization.png"
    assert figure in written and figure.stat().st_size > 10_000


def test_eval_lengths_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="eval.lengths"):
        run_inprocess(tmp_path, [*TINY, "eval.lengths=[0]"])


# ---------------------------------------------------------------- randomized positions


def test_randomized_positions_are_sorted_inside_the_range_and_seeded():
    sampler = RandomPositions(max_position=50, random_eval=True)
    torch.manual_seed(3)
    ids = sampler.ids(64, 12, torch.device("cpu"), training=True)
    assert ids.shape == (64, 12)
    assert (ids.diff(dim=-1) > 0).all() and ids.min() >= 0 and ids.max() < 50
    assert ids.max() > 30  # the whole range is used, not only 0..11
    torch.manual_seed(3)
    assert torch.equal(ids, sampler.ids(64, 12, torch.device("cpu"), training=True))
    plain = RandomPositions(max_position=50, random_eval=False)
    assert torch.equal(plain.ids(4, 12, torch.device("cpu"), training=False), torch.arange(12))


@pytest.mark.parametrize("encoding", ["sinusoidal", "learnable", "rope", "relative"])
def test_randomize_is_offered_by_four_encodings(tmp_path, encoding):
    metrics = run_inprocess(
        tmp_path,
        [
            *TINY,
            "model=transformer",
            f"encoding={encoding}",
            "encoding.randomize=true",
            "encoding.max_position=48",
        ],
    )
    assert metrics["status"] == "completed" and metrics["test_loss@24"] is not None


def test_randomize_needs_a_max_position_of_at_least_the_length(tmp_path):
    with pytest.raises(ConfigError, match="encoding.max_position"):
        run_inprocess(
            tmp_path, [*TINY, "model=transformer", "encoding=rope", "encoding.randomize=true"]
        )


# ---------------------------------------------------------------- FIRE


def test_fire_normalises_distance_by_the_query_position():
    fire = FIRE(n_heads=2, seq_len=8, threshold=4.0, c=2.0)
    i, j = torch.arange(16), torch.arange(16)
    u = fire.normalized(i, j)
    causal = j[None, :] <= i[:, None]
    assert (u[causal] >= 0).all() and (u[causal] <= 1 + 1e-6).all()
    torch.testing.assert_close(u.diagonal(), torch.zeros(16))
    torch.testing.assert_close(u[4:, 0], torch.ones(12))  # i ≥ L_thr: the farthest key is 1
    psi = lambda x: math.log(2.0 * x + 1)  # noqa: E731
    assert u[2, 0].item() == pytest.approx(psi(2) / psi(4))  # i < L_thr: divided by ψ(L_thr)
    assert u[9, 3].item() == pytest.approx(psi(6) / psi(9))
    assert fire(i[:5], j[:5]).shape == (2, 5, 5) and fire.table().shape == (2, 15)


# ---------------------------------------------------------------- RoPE context extension


def rope(scaling, **kw):
    return RoPE(dim=16, seq_len=8, scaling=scaling, scaling_factor=4.0, **kw)


def test_scalings_leave_the_training_length_alone():
    plain = rope("none").angles(torch.arange(8))
    for scaling in ("linear", "ntk", "yarn"):
        torch.testing.assert_close(rope(scaling).angles(torch.arange(8)), plain)


def test_linear_scaling_divides_positions_by_the_factor():
    long = torch.arange(32)
    torch.testing.assert_close(rope("linear").angles(long), rope("none").angles(long) / 4)


def test_ntk_scaling_raises_the_base():
    theta = rope("ntk").angles(torch.arange(32))[1]  # position 1: the frequencies
    base = 10000.0 * 4.0 ** (16 / 14)
    want = torch.tensor([base ** (-2 * i / 16) for i in range(8)])
    torch.testing.assert_close(theta, want)


def test_yarn_ramps_between_interpolation_and_extrapolation():
    r = rope("yarn")
    theta = r.inv_freq
    got = r.angles(torch.arange(32))[1]
    rotations = 8 * theta / (2 * math.pi)
    for i in range(8):
        if rotations[i] > 32:
            assert got[i] == pytest.approx(theta[i].item())
        elif rotations[i] < 1:
            assert got[i] == pytest.approx(theta[i].item() / 4)
        else:
            g = (rotations[i].item() - 1) / 31
            assert got[i] == pytest.approx((1 - g) * theta[i].item() / 4 + g * theta[i].item())
    q = torch.ones(1, 1, 32, 16)
    rotated, _ = r(q, q, torch.arange(32))
    norm = rotated.norm(dim=-1) / q.norm(dim=-1)
    torch.testing.assert_close(norm, torch.full_like(norm, 0.1 * math.log(4) + 1))


def test_yarn_keeps_fast_dimensions_unchanged():
    r = RoPE(dim=16, seq_len=512, scaling="yarn", scaling_factor=4.0)
    got = r.angles(torch.arange(600))[1]
    assert 512 * r.inv_freq[0] / (2 * math.pi) > 32
    assert got[0].item() == pytest.approx(r.inv_freq[0].item())
    assert got[-1].item() == pytest.approx(r.inv_freq[-1].item() / 4)
