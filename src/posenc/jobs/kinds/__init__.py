"""Kinds of run: one object per kind owns everything that differs between them, so the job and
the training loop (posenc.jobs.loop.fit) never branch on the kind.

Contract: a kind is a `Kind` subclass (posenc.jobs.kinds.base), one module per member,
listed in `KINDS` (this module) under its `name`: the `kind` its dataset declares and
metrics.json records. The job builds it from the built dataset and the config; it provides

- refusals, before the model is built: `check()` (keys of another kind, its own limits),
  `check_model(model)` and `check_evaluation(model)` (the length evaluation's sizes);
- the batch source: `round_steps` (optimizer steps per round: an epoch, or
  `trainer.eval_every` steps), `total_steps`, `train_round(model, step, n)` (n optimizer
  steps, each `step(loss)`; returns the round's `RoundStats`), `validate(model)`, and
  `stream` (the seeded generator of the batches, saved in a checkpoint);
- the history: `columns` (history.csv), `record(step, stats, val, seconds)`,
  `record_from_row(row)` (a continued run's rounds), `x_of(step)` (the first column:
  epoch or step), `unit` (what early stopping's patience counts), `round_line(record)`;
- the results: `outcome(model, history, completed)` (what a fit adds to metrics.json),
  `lengths()`, `model_length(length)`, `length_row(model, length)`, `after_lengths(rows)`
  (metrics of all the rows: a token task's score) and `done(metrics)` (the log's result);
- `describe(...)` (the log's data line) and `files(run_dir)` (files of its own).

Members: `regression` (fixed splits, real targets, MSE, rounds of one epoch), `tokens`
(sampled token tasks: cross-entropy, masked accuracy), `text` (windows of a corpus: bits per
character). Adding a kind is one module and its entry in `KINDS`."""

from __future__ import annotations

from typing import Any

import torch

from posenc.errors import ConfigError
from posenc.jobs.kinds.base import Kind, RoundStats, Step, length_seed
from posenc.jobs.kinds.regression import Regression
from posenc.jobs.kinds.text import Text
from posenc.jobs.kinds.tokens import Tokens

KINDS = (Regression, Tokens, Text)


def kinds() -> dict[str, type[Kind]]:
    return {k.name: k for k in KINDS}


def kind_of(data: Any) -> type[Kind]:
    """The kind a built dataset declares (`kind`)."""
    known = kinds()
    name = getattr(data, "kind", None)
    if name not in known:
        raise ConfigError(
            "dataset._target_",
            "must return posenc.data.Splits or be a posenc.data.tasks.Task (a kind of run: "
            f"{', '.join(known)})",
        )
    return known[name]


def loop_kind(data: Any, trainer: Any, device: str = "cpu", seeds=(0, 0)) -> Kind:
    """The kind of `data` for the training loop alone, evaluated at no other length: for
    benchmarks and tests that drive posenc.jobs.loop.fit directly."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"seed": 0, "dataset": {}, "eval": {"lengths": [], "batch_size": 4096}})
    return kind_of(data)(data, cfg, trainer, torch.device(device), seeds)


__all__ = ["KINDS", "Kind", "RoundStats", "Step", "kind_of", "kinds", "length_seed", "loop_kind"]
