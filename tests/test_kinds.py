"""Every kind of run through the one loop: a regression run checkpoints and continues like a
step-trained one, and metrics.json names its kind."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch

from posenc.jobs.kinds import kinds
from posenc.store import run_folder as rf

from .conftest import run_inprocess

STOPPER = textwrap.dedent(
    """
    import os, signal, sys
    from posenc.jobs.kinds.regression import Regression

    stop_at, calls, train_round = int(os.environ["STOP_AT_EPOCH"]), [0], Regression.train_round

    def counted(self, *args):  # SIGTERM, as Slurm sends it, during a fixed epoch
        calls[0] += 1
        if calls[0] == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        return train_round(self, *args)

    Regression.train_round = counted
    sys.argv = ["posenc.train", *sys.argv[1:]]
    from posenc.cli.train import main
    main()
    """
)


def train(args: list[str], cwd, stop_at: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    command = [sys.executable, "-m", "posenc.train", *args]
    if stop_at is not None:
        command = [sys.executable, "-c", STOPPER, *args]
        env["STOP_AT_EPOCH"] = str(stop_at)
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def without_seconds(run_dir) -> str:
    lines = (run_dir / rf.HISTORY).read_text().splitlines()
    return "\n".join(line.rsplit(",", 1)[0] for line in lines)


@pytest.mark.slow
def test_a_regression_run_stopped_by_sigterm_continues_to_the_same_history(tmp_path, tiny):
    # 52 training sequences in batches of 16: 4 steps an epoch, a checkpoint every 2 epochs
    args = [
        *tiny,
        "trainer.epochs=6",
        "trainer.checkpoint_every=8",
        "optimizer=adam",
        "scheduler=cosine",
        "model=lstm",
    ]
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    done = train([*args, f"hydra.run.dir={whole}"], tmp_path)
    assert done.returncode == 0, done.stderr
    cut = train([*args, f"hydra.run.dir={stopped}"], tmp_path, stop_at=4)
    assert cut.returncode == 143, cut.stderr
    metrics = json.loads((stopped / rf.METRICS).read_text())
    assert metrics["status"] == "interrupted" and metrics["kind"] == "regression"
    assert pd.read_csv(stopped / rf.HISTORY)["epoch"].tolist() == [1, 2, 3]
    assert torch.load(stopped / rf.CHECKPOINT, weights_only=True)["step"] == 8

    again = train([*args, f"hydra.run.dir={stopped}"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert without_seconds(stopped) == without_seconds(whole)  # no duplicate, no missing row
    a = json.loads((whole / rf.METRICS).read_text())
    b = json.loads((stopped / rf.METRICS).read_text())
    assert b["status"] == "completed" and b["continued_from_step"] == 8
    for key in ("final_train_loss", "final_val_loss", "test_loss", "best_val_loss", "steps"):
        assert a[key] == b[key]


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ([], "regression"),
        (["dataset=parity_check", "dataset.max_len=4", "trainer.steps=4"], "tokens"),
    ],
)
def test_metrics_name_the_kind_of_run(tmp_path, tiny, overrides, kind):
    base = [o for o in tiny if not o.startswith("dataset.")] if overrides else tiny
    metrics = run_inprocess(tmp_path, [*base, *overrides, "trainer.eval_every=2"])
    assert metrics["kind"] == kind
    assert kind in kinds()


def done_lines(caplog) -> list[str]:
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    (done,) = [i for i, m in enumerate(messages) if m.startswith("done: ")]
    return messages[done:]


TOKENS = ["dataset=parity_check", "dataset.max_len=4", "trainer.steps=4", "trainer.eval_every=2"]


def test_a_token_runs_done_line_gives_its_score_and_test_accuracy(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="posenc"):
        metrics = run_inprocess(tmp_path, [*TOKENS, "eval.max_length=6", "plots=false"])
    done = done_lines(caplog)[0]
    assert done.startswith(
        f"done: score {metrics['score']:.4f} (mean accuracy at lengths 5..6), "
        f"test accuracy {metrics['test_accuracy']:.4f} in "
    )


def test_the_length_evaluation_says_what_it_evaluates(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="posenc"):
        run_inprocess(tmp_path, [*TOKENS, "eval.max_length=7", "plots=false"])
    messages = [r.getMessage() for r in caplog.records]
    assert "evaluating at 3 lengths (5..7)" in messages


CHOMSKY = ["+experiment=chomsky", "dataset=reverse_string", "encoding=rope"]


@pytest.mark.parametrize("kind", ["tokens", pytest.param("text", marks=pytest.mark.slow)])
def test_debug_fast_runs_a_preset_of_every_kind_in_two_steps_and_a_small_evaluation(tmp_path, kind):
    preset = CHOMSKY if kind == "tokens" else ["+experiment=train_short_test_long", "encoding=rope"]
    metrics = run_inprocess(tmp_path, [*preset, "+debug=fast"])
    assert metrics["status"] == "completed" and metrics["kind"] == kind
    assert metrics["steps"] == 2
    history = pd.read_csv(tmp_path / rf.HISTORY)
    assert history["step"].tolist() == [1, 2]  # two rounds of one step
    rows = pd.read_csv(tmp_path / rf.LENGTH_EVAL, keep_default_na=False)
    as_trained = rows[rows["scaling"] == ""]["length"].tolist()
    assert as_trained == ([21, 60] if kind == "tokens" else [64, 512])  # shortest, longest
    if kind == "text":  # RoPE's three scalings at the same two lengths
        assert len(rows) == 2 + 3 * 2


def test_debug_overfit_replays_the_same_token_batches_every_round(tmp_path):
    metrics = run_inprocess(
        tmp_path,
        [*CHOMSKY, "+debug=overfit", "trainer.steps=40", "trainer.eval_every=10"]
        + ["eval.max_length=null"],  # no length evaluation: the training is the point
    )
    assert metrics["steps"] == 16  # four rounds of the same four batches
    history = pd.read_csv(tmp_path / rf.HISTORY)
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]


def test_a_text_runs_lines_say_characters_and_bits_per_character(tmp_path, caplog):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 80)
    text = [f"dataset.path={corpus}", "dataset=text", "dataset.seq_len=8", "model=lstm",
            "model.hidden_dim=8", "encoding=none", "trainer.steps=4", "trainer.eval_every=2",
            "trainer.batch_size=4", "plots=false"]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="posenc"):
        run_inprocess(tmp_path / "run", text)
    said = [r.getMessage() for r in caplog.records]
    (data,) = [m for m in said if m.startswith("data: ")]
    assert "windows of 8 characters" in data and "input lengths" not in data
    rounds = [m for m in said if m.startswith("step ")]
    assert rounds and all("(bpc " in m for m in rounds)


def test_an_interruption_after_training_is_said_in_a_line(tmp_path, caplog):
    from posenc.jobs.record import JobRecord
    from posenc.jobs.signals import Terminated

    with caplog.at_level(logging.WARNING, logger="posenc"), pytest.raises(Terminated):
        with JobRecord(tmp_path, {"status": "failed"}) as record:
            record.step = "length_eval"
            raise Terminated
    (line,) = [r.getMessage() for r in caplog.records]
    said = "terminated (SIGTERM) at step length_eval: the run is recorded interrupted in"
    assert line == f"{said} {tmp_path}"
