"""Training and scoring of sampled token tasks (posenc.data.tasks): steps over batches drawn
at lengths uniform in the training range, cross-entropy over the target positions, and
accuracy masked to the positions each task scores.

Like posenc.training, the per-step loss and counts stay on the device until an evaluation
round ends, so the loop adds next to nothing to the model's own cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from posenc.data.tasks import Task, TokenBatch
from posenc.data.text import bits_per_character
from posenc.signals import interrupt_reason
from posenc.status import Status
from posenc.training import EarlyStop, History, optimizer_step


@dataclass
class RoundRecord:
    """One evaluation round: the last `trainer.eval_every` steps (their loss per target
    position and accuracy per scored position, pooled like the validation set's) and the
    validation set."""

    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float

    @property
    def train_bpc(self) -> float:  # text's history columns: nats -> bits per character
        return bits_per_character(self.train_loss)

    @property
    def val_bpc(self) -> float:
        return bits_per_character(self.val_loss)


def scores(model: nn.Module, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean cross-entropy over every target position, correct predictions at the scored
    positions, scored positions); the model's logits are read at the blanks only."""
    logits = model(batch.x)[:, -batch.y.shape[1] :]
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch.y.flatten())
    correct = (logits.argmax(-1) == batch.y) & batch.mask
    return loss, correct.sum(), batch.mask.sum()


def evaluate(
    model: nn.Module, batches: Sequence[TokenBatch], batch_size: int = 4096
) -> tuple[float, float]:
    """(loss, accuracy) over fixed batches: the loss per target position, the accuracy per
    scored position, both pooled over every sequence."""
    was_training = model.training
    model.eval()
    device = batches[0].x.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    counted = torch.zeros((), device=device, dtype=torch.long)
    targets = 0
    with torch.no_grad():
        for whole in batches:
            for start in range(0, len(whole), batch_size):
                part = TokenBatch(
                    *(t[start : start + batch_size] for t in (whole.x, whole.y, whole.mask))
                )
                loss, right, scored = scores(model, part)
                loss_sum += loss * part.y.numel()
                correct += right
                counted += scored
                targets += part.y.numel()
    model.train(was_training)
    return loss_sum.item() / targets, correct.item() / max(counted.item(), 1)


def fit_steps(
    model: nn.Module,
    task: Task,
    optimizer: torch.optim.Optimizer,
    steps: int,
    batch_size: int,
    val: Sequence[TokenBatch],
    eval_every: int,
    on_round: Callable[[RoundRecord], None] | None = None,
    *,
    device: torch.device | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    grad_clip: float | None = None,
    early_stop: EarlyStop | None = None,
    start: int = 0,
    records: Sequence[RoundRecord] = (),
    checkpoint: Callable[[int], None] | None = None,
    checkpoint_every: int | None = None,
) -> History:
    """Train for `steps` batches, each at a length drawn by `task.next_length()` from the
    task's own generator; every `eval_every` steps (and after the last) a round: the mean
    train loss and accuracy of its steps, then the validation batches. Stops on a
    non-finite loss (diverged), Ctrl-C or SIGTERM (interrupted), or by `early_stop` on the
    validation loss (completed, with `stopped_early`).

    A continued run passes the step it stood at (`start`, every state already restored) and
    its rounds so far. `checkpoint(step)` is called after every round that ends at a
    multiple of `checkpoint_every`, and once more when training completes."""
    history = History(records=list(records), steps=start)
    step_on = optimizer_step(model, optimizer, scheduler, grad_clip)
    model.train()
    try:
        step = start
        while step < steps:
            start = time.perf_counter()
            losses, correct, counted, targets = [], [], [], []
            for _ in range(min(eval_every, steps - step)):
                batch = task.batch(task.generator, batch_size, task.next_length())
                if device is not None:
                    batch = batch.to(device)
                loss, right, scored = scores(model, batch)
                step_on(loss)
                losses.append(loss.detach() * batch.y.numel())  # summed over its targets
                targets.append(batch.y.numel())
                correct.append(right)
                counted.append(scored)
            step += len(losses)
            history.steps = step
            train_loss = torch.stack(losses).sum().item() / sum(targets)
            train_accuracy = torch.stack(correct).sum().item() / max(
                torch.stack(counted).sum().item(), 1
            )
            val_loss, val_accuracy = evaluate(model, val)
            record = RoundRecord(
                step,
                train_loss,
                train_accuracy,
                val_loss,
                val_accuracy,
                time.perf_counter() - start,
            )
            unit = f"rounds of {eval_every} steps"
            if history.end_round(record, on_round, early_stop, unit, step < steps):
                break
            if checkpoint and checkpoint_every and step < steps and step % checkpoint_every == 0:
                checkpoint(step)
        if checkpoint is not None and history.status == Status.COMPLETED:
            checkpoint(step)  # the trained model, for `posenc.sample` and a continued run
    except KeyboardInterrupt as e:
        history.status = Status.INTERRUPTED
        history.reason = interrupt_reason(e)
        history.interruption = e
    return history


def range_lengths(task: Task, max_length: int | None, extra: Sequence[int] = ()) -> list[int]:
    """The unseen lengths a task is scored on: max_len + 1 .. max_length (the paper's range;
    the reference example.py starts one later), plus any extra lengths."""
    unseen = range(task.max_len + 1, (max_length or task.max_len) + 1)
    return sorted({*unseen, *extra})


def score(rows: Sequence[dict], task: Task, max_length: int) -> tuple[float | None, str | None]:
    """The paper's network score: mean accuracy over the lengths max_len + 1 .. max_length;
    (None, reason) when one of them could not run, never a mean over fewer lengths."""
    unseen = [r for r in rows if task.max_len < r["length"] <= max_length]
    if not unseen:
        return None, None
    missing = [r for r in unseen if r["status"] != "ok"]
    if missing:
        first = missing[0]
        return None, f"unsupported at length {first['length']}: {first['reason']}"
    return sum(r["accuracy"] for r in unseen) / len(unseen), None
