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


def _epoch_mean(losses: list[torch.Tensor], n: int, batch_size: int) -> float:
    """Per-sample mean from per-batch means; only the last batch may be short."""
    sizes = torch.full((len(losses),), float(batch_size), device=losses[0].device)
    sizes[-1] = n - batch_size * (len(losses) - 1)
    return (torch.stack(losses) @ sizes).item() / n


def fit(
    model: nn.Module,
    splits: Splits,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    shuffle: bool = True,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> History:
    """Train for `epochs`; stop early, with the status set, on a non-finite loss or Ctrl-C."""
    history = History()
    x, y = splits.train.x, splits.train.y
    n = x.shape[0]
    loss_fn = nn.functional.mse_loss
    model.train()
    try:
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
            order = order.to(x.device)
            losses = []  # kept on the device: no host sync per step
            for i in range(0, n, batch_size):
                idx = order[i : i + batch_size]
                xb, yb = x.index_select(0, idx), y.index_select(0, idx)
                loss = loss_fn(model(xb), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
            train_loss = _epoch_mean(losses, n, batch_size)
            val_loss = evaluate(model, splits.val)
            record = EpochRecord(epoch, train_loss, val_loss, time.perf_counter() - start)
            history.records.append(record)
            if on_epoch is not None:
                on_epoch(record)
            if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
                history.status = Status.DIVERGED
                history.reason = "a non-finite loss stopped training"
                break
    except KeyboardInterrupt as e:
        history.status = Status.INTERRUPTED
        history.reason = interrupt_reason(e)
        history.interruption = e
    return history
