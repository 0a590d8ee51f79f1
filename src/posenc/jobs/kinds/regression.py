"""kind=regression: a dataset of fixed splits (posenc.data.Splits), real targets, MSE.

A round is an epoch: `len(train) / batch_size` steps (at most `trainer.max_batches`) over
index slices of a permutation drawn from the job's order stream at the start of the epoch
(no DataLoader, no per-sample Python); the per-batch losses stay on the device until the
epoch ends. At another length the dataset is built afresh, seeded per length, all of it the
test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from posenc.config.compose import build
from posenc.data import Split
from posenc.errors import ConfigError
from posenc.jobs.kinds.base import Kind, RoundStats, Step, length_seed, log, pass_size
from posenc.jobs.kinds.declared import REGRESSION
from posenc.jobs.record import format_tensor
from posenc.memory import FLOAT, check_fits


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    val_loss: float
    seconds: float


def evaluate(model: nn.Module, data: Split, batch_size: int | None = None) -> float:
    """Mean squared error over a whole split, `batch_size` sequences a forward pass (None:
    base.pass_size's rule for the device)."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=data.x.device)
    tokens = data.x.shape[1] if data.x.dim() > 1 else 1
    size = pass_size(batch_size, tokens, data.x.device, getattr(model, "stepwise", False))
    with torch.inference_mode():
        for start in range(0, len(data), size):
            x, y = data.x[start : start + size], data.y[start : start + size]
            total += nn.functional.mse_loss(model(x), y, reduction="sum")
    model.train(was_training)
    return total.item() / data.y.numel()


def batches_per_epoch(n: int, batch_size: int, max_batches: int | None = None) -> int:
    full = -(-n // batch_size)
    return full if max_batches is None else min(full, max_batches)


class Regression(Kind):
    declared = REGRESSION  # what the rest of posenc reads of it
    name = declared.name
    columns = declared.history
    unit = "epochs"
    round_name = "an epoch"
    bar_unit = "epoch"

    def __init__(self, data, cfg, trainer, device, seeds):
        super().__init__(data, cfg, trainer, device, seeds)
        t = trainer
        self.stream = torch.Generator().manual_seed(seeds[1])
        per_epoch = batches_per_epoch(len(data.train), t.batch_size)
        self.set_budget(per_epoch, t.epochs * per_epoch)
        self.shuffle = t.shuffle and t.overfit_batches is None  # overfit: the same batches

    def check(self) -> None:
        super().check()
        if self.trainer.steps is not None:
            raise ConfigError(
                "trainer.steps",
                f"trains sampled token tasks; {self.target} is a fixed split trained by "
                "trainer.epochs",
            )
        if self.cfg.eval.get("max_length") is not None:
            raise ConfigError(
                "eval.max_length",
                f"scores a token task's unseen lengths; for {self.target} list them in "
                "eval.lengths",
            )

    def check_evaluation(self, model: nn.Module) -> None:
        n = int(self.cfg.dataset.get("n_samples") or 1)
        for length in self.cfg.eval.lengths:
            data = 2 * n * length * self.spec.feature_dim * FLOAT
            check_fits("eval.lengths", f"{length}: a test set of {n} × {length}", data)
        super().check_evaluation(model)

    def prepare(self) -> None:
        self.data = self.data.to(self.device)

    # --- training -----------------------------------------------------------------------
    def train_round(self, model: nn.Module, step: Step, n: int) -> RoundStats:
        """One epoch of `n` batches along this epoch's order; the loss per sample."""
        train, size = self.data.train, self.trainer.batch_size
        count = len(train)
        order = torch.randperm(count, generator=self.stream) if self.shuffle else None
        order = (torch.arange(count) if order is None else order).to(train.x.device)
        losses, sizes = [], []
        for b in range(n):
            idx = order[b * size : (b + 1) * size]
            x, y = train.x.index_select(0, idx), train.y.index_select(0, idx)
            loss = nn.functional.mse_loss(model(x), y)
            step(loss)
            losses.append(loss.detach())
            sizes.append(len(idx))
        weights = torch.tensor(sizes, dtype=torch.float32, device=losses[0].device)
        return RoundStats((torch.stack(losses) @ weights).item() / sum(sizes))

    def validate(self, model: nn.Module) -> tuple[float, None]:
        return evaluate(model, self.data.val, self.eval_batch_size), None

    # --- the history ----------------------------------------------------------------------
    def x_of(self, step: int) -> int:
        return -(-step // self.round_steps)

    def record(self, step: int, stats: RoundStats, val: tuple, seconds: float) -> EpochRecord:
        return EpochRecord(self.x_of(step), stats.loss, val[0], seconds)

    def record_from_row(self, row: dict[str, float]) -> EpochRecord:
        return EpochRecord(int(row["epoch"]), row["train_loss"], row["val_loss"], row["seconds"])

    def round_line(self, r: EpochRecord) -> str:
        return (
            f"epoch {r.epoch}/{self.trainer.epochs}  train_loss {r.train_loss:.6f}  "
            f"val_loss {r.val_loss:.6f}  ({r.seconds:.2f}s)"
        )

    def postfix(self, r: EpochRecord) -> dict[str, str]:
        return {"train_loss": f"{r.train_loss:.4g}", "val_loss": f"{r.val_loss:.4g}"}

    # --- results ------------------------------------------------------------------------
    def outcome(self, model: nn.Module, history: Any, completed: bool) -> dict[str, Any]:
        test = evaluate(model, self.data.test, self.eval_batch_size) if completed else None
        return {"epochs_completed": len(history.records), "test_loss": test}

    def length_row(self, model: nn.Module, length: int) -> dict[str, Any]:
        """A fresh seeded dataset built at `length`, all of it the test set; `unsupported`
        where the model, encoding or dataset cannot run there."""
        cfg = self.cfg
        row: dict[str, Any] = {"length": length, "loss": None, "status": "ok", "reason": ""}
        reason = model.unsupported(length)
        if reason is None:
            generator = torch.Generator().manual_seed(length_seed(cfg.seed, length))
            try:
                splits = build(cfg.dataset, "dataset", seq_len=length, generator=generator)
            except ConfigError as e:
                reason = f"the dataset cannot be built at this length: {e}"
        if reason is not None:
            return {**row, "status": "unsupported", "reason": reason}
        parts = (splits.train, splits.val, splits.test)
        x = torch.cat([p.x for p in parts])[: self.most_sequences].to(self.device)
        y = torch.cat([p.y for p in parts])[: self.most_sequences].to(self.device)
        row["loss"] = evaluate(model, Split(x, y), self.eval_batch_size)
        log.info("length %d: test loss %.6f", length, row["loss"])
        return row

    # --- the log ------------------------------------------------------------------------
    def describe(self) -> str:
        splits, spec = self.data, self.spec
        return (
            f"data: train {len(splits.train)}, val {len(splits.val)}, test {len(splits.test)} "
            f"sequences of {spec.seq_len} x {spec.feature_dim} "
            f"({'per-step' if spec.per_step else 'per-sequence'} targets)"
        )

    def rounds_done(self, metrics: dict[str, Any]) -> str:
        return f"{metrics['epochs_completed']} epochs"

    def done(self, metrics: dict[str, Any]) -> list[str]:
        return [
            "final train {:.6f}, val {:.6f}, test {:.6f}, best val {:.6f}".format(
                *(metrics[k] for k in ("final_train_loss", "final_val_loss", "test_loss")),
                metrics["best_val_loss"],
            )
        ]

    def show_fit(self, model: nn.Module) -> None:
        """One reference sequence: its targets against the fit."""
        train = self.data.train
        if len(train) != 1:
            return
        with torch.no_grad():
            model.eval()
            prediction = model(train.x)
        log.info("targets:     %s", format_tensor(train.y[0]))
        log.info("predictions: %s", format_tensor(prediction[0]))
