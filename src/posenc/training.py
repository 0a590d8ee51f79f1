"""The training loop: epochs of mini-batches sliced from in-memory tensors, then evaluation.

Batches are index slices along a seeded permutation (no DataLoader, no per-sample Python),
and the loss stays on the device until the end of the epoch, so the loop adds next to
nothing to the model's own cost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from posenc.data import Split, Splits
from posenc.signals import interrupt_reason
from posenc.status import Status


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    seconds: float


@dataclass
class History:
    records: list[EpochRecord] = field(default_factory=list)
    status: Status = Status.COMPLETED
    reason: str | None = None  # why it stopped early
    interruption: KeyboardInterrupt | None = None  # Ctrl-C or SIGTERM: re-raised once recorded
    steps: int = 0  # optimizer steps taken
    stopped_early: str | None = None  # why early stopping ended a completed run

    def end_round(
        self,
        record: Any,
        callback: Callable[[Any], None] | None,
        early_stop: EarlyStop | None,
        unit: str,
        more: bool,
    ) -> bool:
        """Record an epoch (or a round of steps), tell `callback`, and say whether training
        stops: a non-finite loss (diverged) or `early_stop` while `more` is left to train,
        `unit` naming what its patience counts."""
        self.records.append(record)
        if callback is not None:
            callback(record)
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


def evaluate(model: nn.Module, data: Split, batch_size: int = 4096) -> float:
    """Mean squared error over a whole split."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=data.x.device)
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            x, y = data.x[start : start + batch_size], data.y[start : start + batch_size]
            total += nn.functional.mse_loss(model(x), y, reduction="sum")
    model.train(was_training)
    return total.item() / data.y.numel()


def _epoch_mean(losses: list[torch.Tensor], sizes: list[int]) -> float:
    """Per-sample mean from per-batch means."""
    weights = torch.tensor(sizes, dtype=torch.float32, device=losses[0].device)
    return (torch.stack(losses) @ weights).item() / sum(sizes)


def batches_per_epoch(n: int, batch_size: int, max_batches: int | None = None) -> int:
    full = -(-n // batch_size)
    return full if max_batches is None else min(full, max_batches)


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


def optimizer_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    grad_clip: float | None = None,
) -> Callable[[torch.Tensor], None]:
    """One optimizer step on a loss: backward, the gradients' global norm clipped to
    `grad_clip`, the step, then the scheduler's."""
    params = [p for p in model.parameters() if p.requires_grad]

    def step(loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()

    return step


def _epoch(
    model: nn.Module,
    data: Split,
    order: torch.Tensor,
    batch_size: int,
    batches: int,
    step: Callable[[torch.Tensor], None],
) -> tuple[list[torch.Tensor], list[int]]:
    """One epoch: `batches` slices of `order`, a `step` on each loss; the per-batch losses
    stay on the device (no host sync per step)."""
    order = order.to(data.x.device)
    losses, sizes = [], []
    for b in range(batches):
        idx = order[b * batch_size : (b + 1) * batch_size]
        x, y = data.x.index_select(0, idx), data.y.index_select(0, idx)
        loss = nn.functional.mse_loss(model(x), y)
        step(loss)
        losses.append(loss.detach())
        sizes.append(len(idx))
    return losses, sizes


def fit(
    model: nn.Module,
    splits: Splits,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    shuffle: bool = True,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    *,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    grad_clip: float | None = None,
    early_stop: EarlyStop | None = None,
    max_batches: int | None = None,
    fixed_batches: bool = False,
) -> History:
    """Train for `epochs` of at most `max_batches` batches (`fixed_batches`: the same first
    ones every epoch, in order); the scheduler steps after every optimizer step. Stops early
    on a non-finite loss (diverged), Ctrl-C or SIGTERM (interrupted), or by `early_stop`
    (completed, with `stopped_early` saying why)."""
    history = History()
    n = len(splits.train)
    step = optimizer_step(model, optimizer, scheduler, grad_clip)
    model.train()
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            random = shuffle and not fixed_batches
            order = torch.randperm(n, generator=generator) if random else torch.arange(n)
            batches = batches_per_epoch(n, batch_size, max_batches)
            losses, sizes = _epoch(model, splits.train, order, batch_size, batches, step)
            history.steps += len(losses)
            train_loss = _epoch_mean(losses, sizes)
            val_loss = evaluate(model, splits.val)
            record = EpochRecord(epoch, train_loss, val_loss, time.perf_counter() - start)
            if history.end_round(record, on_epoch, early_stop, "epochs", epoch < epochs):
                break
    except KeyboardInterrupt as e:
        history.status = Status.INTERRUPTED
        history.reason = interrupt_reason(e)
        history.interruption = e
    return history
