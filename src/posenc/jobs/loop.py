"""The one training loop, for every kind of run: optimizer steps in rounds (an epoch, or
trainer.eval_every steps), the batches made by the kind (posenc.jobs.kinds), validation after
each round; early stopping, schedulers, clipping, divergence, SIGTERM and checkpoints are
written here once.

The kinds keep each round's losses on the device until the round ends, so the loop adds
next to nothing to the model's own cost.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import nan
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from posenc.jobs.kinds.base import RoundStats
from posenc.jobs.signals import interrupt_reason
from posenc.store import checkpoint
from posenc.store import run_folder as rf
from posenc.store.history import read_history
from posenc.store.status import Status

log = logging.getLogger("posenc")

if TYPE_CHECKING:
    from posenc.jobs.kinds import Kind


@dataclass(frozen=True)
class Resumed:
    """Where training stands when it starts: nothing for a new run; a continued run's
    checkpoint step, its training seconds so far and its history's rounds up to it."""

    step: int = 0
    seconds: float = 0.0  # training seconds of the processes before this one
    records: tuple = ()
    from_checkpoint: bool = False


@dataclass
class History:
    records: list[Any] = field(default_factory=list)
    status: Status = Status.COMPLETED
    reason: str | None = None  # why it stopped early
    interruption: KeyboardInterrupt | None = None  # Ctrl-C or SIGTERM: re-raised once recorded
    steps: int = 0  # optimizer steps taken
    stopped_early: str | None = None  # why early stopping ended a completed run

    def add(self, record: Any, report: Callable[[Any, int], None] | None) -> None:
        """Record a round and report it (with how many rounds are recorded)."""
        self.records.append(record)
        if report is not None:
            report(record, len(self.records))

    def should_stop(self, record: Any, early_stop: EarlyStop | None, unit: str, more: bool) -> bool:
        """A non-finite loss (diverged), or `early_stop` while `more` is left to train, `unit`
        naming what its patience counts."""
        if not (math.isfinite(record.train_loss) and math.isfinite(record.val_loss)):
            self.status = Status.DIVERGED
            self.reason = "a non-finite loss stopped training"
            return True
        if early_stop is not None and early_stop.should_stop(record.val_loss) and more:
            self.stopped_early = (
                f"val_loss did not improve by more than {early_stop.min_delta} for "
                f"{early_stop.patience} {unit} (best {early_stop.best:.6g})"
            )
            return True
        return False

    @property
    def best_val_loss(self) -> float | None:
        finite = [r.val_loss for r in self.records if math.isfinite(r.val_loss)]
        return min(finite) if finite else None


@dataclass
class EarlyStop:
    """Stop once val_loss has not improved by more than `min_delta` for `patience` epochs."""

    patience: int
    min_delta: float = 0.0
    best: float = math.inf
    waited: int = 0

    def should_stop(self, val_loss: float) -> bool:
        if val_loss < self.best - self.min_delta:
            self.best, self.waited = val_loss, 0
        else:
            self.waited += 1
        return self.waited >= self.patience


def fit(
    kind: Kind,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    grad_clip: float | None = None,
    early_stop: EarlyStop | None = None,
    start: int = 0,
    records: Sequence[Any] = (),
    report: Callable[[Any, int], None] | None = None,
    save: Callable[[int], None] | None = None,
    checkpoint_every: int | None = None,
    first_point: bool = False,
) -> History:
    """Train for `kind.total_steps` optimizer steps in rounds of `kind.round_steps` (an
    epoch, or trainer.eval_every steps), the kind making each round's batches and loss;
    after each round, validation, the round's record and `report(record, rounds_recorded)`.
    Stops on a non-finite loss (diverged), Ctrl-C or SIGTERM (interrupted), or by
    `early_stop` on the validation loss (completed, with `stopped_early`).

    A continued run passes its step (`start`, every state restored) and rounds so far.
    `save(step)` writes the checkpoint at every multiple of `checkpoint_every` and at the
    end. `first_point`: validation before any step is the first row, at step 0 (where a
    fine-tune starts; its training loss NaN, no part of early stopping)."""
    history = History(records=list(records), steps=start)
    trained = [p for p in model.parameters() if p.requires_grad]

    def optimizer_step(loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:  # the gradients' global norm
            nn.utils.clip_grad_norm_(trained, grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()

    total, step = kind.total_steps, start
    model.train()
    try:
        if first_point and start == 0:
            history.add(kind.record(0, RoundStats(nan, nan), kind.validate(model), 0.0), report)
        while step < total:
            began = time.perf_counter()
            n = min(kind.round_steps, total - step)
            stats = kind.train_round(model, optimizer_step, n)  # n steps on the kind's batches
            step = history.steps = step + n
            record = kind.record(step, stats, kind.validate(model), time.perf_counter() - began)
            history.add(record, report)  # history.csv, the tracking store, the bar, the log
            if history.should_stop(record, early_stop, kind.unit, more=step < total):
                break
            if save and checkpoint_every and step < total and step % checkpoint_every == 0:
                save(step)
        if save is not None and history.status == Status.COMPLETED:
            save(step)  # the trained model: for sampling, fine-tuning, a continued run
    except KeyboardInterrupt as e:
        history.status = Status.INTERRUPTED
        history.reason = interrupt_reason(e)
        history.interruption = e
    return history


CONTINUE_INSTEAD = (
    "the interrupted run is kept as it was; resume=false starts it over, overwrite=true replaces it"
)


def continue_from(job: Any, run_dir: Path, early_stop: EarlyStop | None) -> Resumed:
    """Where checkpoint.pt left training (its step, seconds and the history's rounds up to
    it), every state put back; CheckpointError when either cannot be read (the interrupted
    run is kept)."""
    path = run_dir / rf.CHECKPOINT
    if not path.is_file():
        return Resumed()
    kind = job.kind
    try:
        payload = checkpoint.load(path, job.device)
        state = checkpoint.restore(
            payload, job.model, job.optimizer, job.scheduler, kind.stream, early_stop, path=path
        )
        rows = read_history(run_dir).rows()
    except checkpoint.CheckpointError as e:
        raise e.advising(CONTINUE_INSTEAD) from None
    except rf.RunFolderError as e:
        problem = str(e).removeprefix(f"{run_dir / rf.HISTORY} ").removeprefix("is broken: ")
        error = checkpoint.CheckpointError(run_dir / rf.HISTORY, problem)
        raise error.advising(CONTINUE_INSTEAD) from None
    last = kind.x_of(state.step)
    records = tuple(kind.record_from_row(r) for r in rows if r[kind.columns[0]] <= last)
    log.info("continuing from the checkpoint at step %d of %d", state.step, kind.total_steps)
    return Resumed(state.step, state.seconds, records, from_checkpoint=True)
