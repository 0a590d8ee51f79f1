"""Kinds of run: one object per kind owns everything that differs between them, so the job and
the training loop (posenc.jobs.loop.fit) never branch on the kind.

Contract: a kind is a `Kind` subclass (posenc.jobs.kinds.base), one module per member,
listed in `KINDS` (posenc.jobs.kinds.registry; `register` adds one) under its `name`: the
`kind` its dataset declares and metrics.json records. What the rest of posenc reads of it
(its metrics and their direction, length families, history columns, headline, what the
tables and figures show) it declares as a posenc.metrics.KindSpec (`declared`; posenc's own
in `declared.py`, plain data, so compare never imports torch). The job builds it from the
built dataset and the config; it provides

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
  `evaluated_lengths()`, `model_length(length)`, `length_row(model, length)`, `after_lengths(rows)`
  (metrics of all the rows: a token task's score) and `done(metrics)` (the log's result);
- the console: `postfix(record)` (the progress bar's), `headline` and `done(metrics)` (the
  log's result), `bar_unit`, `describe()` (the log's data line), `labels()` (what the data
  says it is, in metrics.json) and `files(run_dir)` (files of its own).

Members: `regression` (fixed splits, real targets, MSE, rounds of one epoch), `tokens`
(sampled token tasks: cross-entropy, masked accuracy), `text` (windows of a corpus: bits per
character). Adding a kind is one module with its declaration, and `register`."""

from __future__ import annotations

from typing import Any

_REGISTRY = ("KINDS", "kind_of", "kinds", "loop_kind", "register")
_BASE = ("Kind", "RoundStats", "Step", "length_seed")


def __getattr__(name: str) -> Any:
    # torch on first use: posenc.metrics imports the declarations of this package
    if name in _REGISTRY:
        from posenc.jobs.kinds import registry

        return getattr(registry, name)
    if name in _BASE:
        from posenc.jobs.kinds import base

        return getattr(base, name)
    raise AttributeError(f"module 'posenc.jobs.kinds' has no attribute {name!r}")


__all__ = [*_BASE, *_REGISTRY]
