"""Token tasks as jobs: accuracy masked to the scored positions and read at the blanks, the
run folder of a sampled task, the score past the training lengths, refusals up front, and
the sweep's tables and figures."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from posenc.analysis.comparison import format_summary, load_results, summarize
from posenc.analysis.plots import plot_sweep
from posenc.config.schemas import TrainerConfig
from posenc.data.tasks import Blanks, TokenBatch
from posenc.errors import ConfigError
from posenc.jobs.kinds import declared, tokens
from posenc.jobs.loop import fit
from posenc.metrics import headline
from posenc.store import run_folder as rf
from posenc.store.history import read_history
from tests.conftest import run_inprocess

TINY = [
    "dataset=parity_check",
    "dataset.max_len=4",
    "dataset.val_per_length=4",
    "model=transformer",
    "model.d_model=8",
    "model.n_heads=2",
    "model.n_layers=1",
    "trainer.steps=12",
    "trainer.eval_every=5",
    "trainer.batch_size=8",
    "eval.max_length=7",
    "eval.per_length=6",
]


class Fixed(nn.Module):
    """Logits whose argmax is `classes` at each position: [batch, L] -> [batch, L, C]."""

    def __init__(self, classes: torch.Tensor, n_classes: int):
        super().__init__()
        self.logits = nn.functional.one_hot(classes, n_classes).float() * 5

    def forward(self, x):
        return self.logits[: x.shape[0], : x.shape[1]]


def test_accuracy_counts_only_masked_positions_at_the_blanks():
    x = torch.zeros(2, 5, dtype=torch.long)  # 2 inputs, then 3 blanks
    y = torch.tensor([[1, 2, 0], [2, 0, 0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    # predictions at the blanks: row 0 right, wrong, (unscored); row 1 right, (unscored) x2;
    # the input positions predict class 0 everywhere and must not count
    predicted = torch.tensor([[0, 0, 1, 0, 2], [0, 0, 2, 1, 1]])
    batch = TokenBatch(x, y, mask, Blanks(blank=0))  # the blank layout: outputs at the end
    loss, accuracy, exact = tokens.evaluate(Fixed(predicted, 3), [batch])
    assert accuracy == pytest.approx(2 / 3)
    assert exact == 0.5  # row 1 is right wherever it is scored; row 0 is not
    logits = Fixed(predicted, 3).logits[:, 2:]
    expected = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
    assert loss == pytest.approx(expected)  # the loss covers every target position


def test_a_task_job_writes_accuracy_and_a_score(tmp_path):
    metrics = run_inprocess(tmp_path, TINY)
    assert metrics["status"] == "completed" and metrics["steps"] == 12
    for key in ("final_train_accuracy", "final_val_accuracy", "test_accuracy", "score"):
        assert 0 <= metrics[key] <= 1
    history = read_history(tmp_path).frame()
    assert list(history.columns) == list(declared.TOKENS.history)
    assert history["step"].tolist() == [5, 10, 12]  # rounds every 5 steps and the last
    rows = pd.read_csv(tmp_path / rf.LENGTH_EVAL)
    assert rows["length"].tolist() == [5, 6, 7]  # every length past max_len 4
    assert metrics["score"] == pytest.approx(rows["accuracy"].mean())
    assert [metrics[f"accuracy@{n}"] for n in (5, 6, 7)] == pytest.approx(rows["accuracy"].tolist())
    assert "epochs_completed" not in metrics


def test_a_task_job_is_deterministic(tmp_path):
    a = run_inprocess(tmp_path / "a", TINY)
    b = run_inprocess(tmp_path / "b", TINY)
    drop = lambda frame: frame.drop(columns="seconds")  # noqa: E731
    pd.testing.assert_frame_equal(
        drop(read_history(tmp_path / "a").frame()), drop(read_history(tmp_path / "b").frame())
    )
    assert a["score"] == b["score"] and a["test_loss"] == b["test_loss"]


def test_a_score_needs_every_unseen_length(tmp_path):
    metrics = run_inprocess(tmp_path, [*TINY, "encoding=learnable"])  # a table of 5 tokens
    assert metrics["status"] == "completed"
    assert metrics["score"] is None
    assert "unsupported at length 5" in metrics["score_unsupported"]
    rows = pd.read_csv(tmp_path / rf.LENGTH_EVAL)
    assert set(rows["status"]) == {"unsupported"}
    assert "learned table" in rows["reason"][0] and "6 tokens at length 5" in rows["reason"][0]


@pytest.mark.parametrize(
    "override, key",
    [
        ("model=tanh_ffn", "model"),
        ("eval.max_length=4", "eval.max_length"),
        ("trainer.limit_rounds=0", "trainer.limit_rounds"),
        ("eval.limit_sequences=0", "eval.limit_sequences"),
        ("trainer.steps=0", "trainer.steps"),
        ("eval.per_length=0", "eval.per_length"),
    ],
)
def test_impossible_combinations_are_refused_before_training(tmp_path, override, key):
    with pytest.raises(ConfigError, match=key):
        run_inprocess(tmp_path, [*TINY, override])
    assert not (tmp_path / rf.HISTORY).exists()  # refused before the first step


@pytest.mark.parametrize("override", ["trainer.steps=5", "eval.max_length=30"])
def test_task_keys_are_refused_for_fixed_splits(tmp_path, override):
    with pytest.raises(ConfigError, match=override.partition("=")[0]):
        run_inprocess(tmp_path, ["dataset=weighted_sum", "trainer.epochs=1", override])


def test_lstm_reads_one_hot_tokens(tmp_path):
    task_keys = [o for o in TINY if not o.startswith("model")]
    metrics = run_inprocess(tmp_path, [*task_keys, "model=lstm", "model.hidden_dim=8"])
    assert metrics["status"] == "completed" and metrics["score"] is not None


@pytest.mark.slow
def test_task_tables_and_figures(tmp_path):
    for task in ("parity_check", "reverse_string"):
        for encoding in ("none", "alibi"):
            run = tmp_path / f"{task}-{encoding}"
            run_inprocess(run, [*TINY, f"dataset={task}", f"encoding={encoding}"])
            record = rf.read_record(run)  # a sweep's folders list the keys they vary
            record["overrides"] = [f"dataset={task}", f"encoding={encoding}"]
            (run / rf.RUN).write_text(json.dumps(record))
    results = load_results([tmp_path])
    assert headline(results.columns) == "score"
    summary = summarize(results, metric="score")
    assert summary["score_mean"].is_monotonic_decreasing  # higher is better: best first
    text = format_summary(tmp_path, results, summary, "score")
    assert "score" in text and "accuracy@5" in text  # three lengths: printed
    written = {p.name for p in plot_sweep(tmp_path, results, summary, "score")}
    assert {"accuracy_by_length.png", "scores.png", "loss_curves.png"} <= written
    assert "length_generalization.png" not in written
    one = summary.iloc[:1]  # one task and one encoding: no heatmap of a single cell
    assert "scores.png" not in {p.name for p in plot_sweep(tmp_path, results, one)}


def test_a_rounds_train_loss_is_pooled_over_target_positions_like_validation():
    """Batches of different lengths weigh by their targets, as the validation loss does."""
    import copy

    from posenc.data.tasks.reverse_string import ReverseString

    class Constant(nn.Module):
        def __init__(self):
            super().__init__()
            self.logits = nn.Parameter(torch.tensor([0.3, -0.2]))

        def forward(self, x):
            return self.logits.expand(*x.shape, 2)

    task = ReverseString(torch.Generator().manual_seed(0), min_len=1, max_len=9)
    replay = copy.deepcopy(task)
    model = Constant()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # the loss stays put
    val = task.fixed(torch.Generator().manual_seed(1), [3], 4)
    cfg = OmegaConf.create({"dataset": {}, "eval": {"lengths": []}})
    kind = tokens.Tokens(
        task, cfg, TrainerConfig(steps=6, batch_size=5, eval_every=6), "cpu", (0, 0)
    )
    kind.val = val
    history = fit(kind, model, optimizer)
    total, targets = 0.0, 0
    for _ in range(6):
        batch = replay.batch(replay.generator, 5, replay.next_length())
        losses = nn.functional.cross_entropy(
            model(batch.x)[:, -batch.y.shape[1] :].flatten(0, 1),
            batch.y.flatten(),
            reduction="sum",
        )
        total, targets = total + losses.item(), targets + batch.y.numel()
    assert history.records[0].train_loss == pytest.approx(total / targets, rel=1e-6)
