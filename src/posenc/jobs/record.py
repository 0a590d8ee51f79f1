"""What a job records: metrics.json, from before the build to its end, however it ends;
run.yaml, what the job was asked to do; and the log's outcome lines."""

from __future__ import annotations

import errno
import logging
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from posenc.errors import ConfigError
from posenc.jobs.signals import deferred, interrupt_reason
from posenc.memory import is_out_of_memory
from posenc.store import GROUPS, checkpoint
from posenc.store import run_folder as rf
from posenc.store.environment import describe
from posenc.store.status import Status

log = logging.getLogger("posenc")
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DiskFull(RuntimeError):
    """The run folder's disk is full: the run is recorded as failed where the disk allows."""


def utc_now() -> str:
    """The time now, UTC, ISO 8601 to the millisecond (metrics.json's started_at/ended_at)."""
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds")


class JobRecord:
    """metrics.json of one job, written when the job ends, however it ends.

    The status is `failed` until `finish` sets the outcome after the last step the job was
    asked for: a crash at any step (training, test, length evaluation, encoding tables) is
    recorded as `failed` with `failed_step` and the error, never as `completed`. A sweep
    counts such a run as not done and reruns it.
    """

    def __init__(self, run_dir: Path, metrics: dict[str, Any]):
        self.run_dir, self.metrics, self.step = run_dir, metrics, "build"

    def update(self, **values: Any) -> None:
        self.metrics.update(values)

    def finish(self, status: Status) -> None:
        self.step = None
        self.metrics["status"] = status.value

    def __enter__(self) -> JobRecord:
        return self

    def __exit__(self, kind, error, tb) -> None:
        with deferred():  # a SIGTERM now ends the process once metrics.json is written
            self._write(error)
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            raise DiskFull(self.metrics["error"]) from None

    def _write(self, error: BaseException | None) -> None:
        if isinstance(error, checkpoint.CheckpointError):  # the interrupted run stays as it was
            log.error("%s", error)
            return
        if error is not None:
            self._failed(error)
        self.metrics["ended_at"] = utc_now()
        try:
            rf.write_metrics(self.run_dir, self.metrics)
        except OSError as e:  # even the small metrics file does not fit
            log.error("could not write %s: %s", rf.METRICS, e.strerror)

    def _failed(self, error: BaseException) -> None:
        if self.metrics["status"] == Status.INTERRUPTED:
            return  # recorded by the training loop, re-raised after it
        if isinstance(error, KeyboardInterrupt):
            reason = interrupt_reason(error)
            self.metrics.update(status=Status.INTERRUPTED.value, error=reason)
            where = f" at step {self.step}" if self.step not in (None, "build") else ""
            log.warning("%s%s: the run is recorded interrupted in %s", reason, where, self.run_dir)
            return
        self.metrics["status"] = Status.FAILED.value
        if self.step != "build":  # a refusal happens while building: no step to name
            self.metrics["failed_step"] = self.step
        if isinstance(error, ConfigError):
            self.metrics["error"] = str(error)
            log.error("%s", error)
        elif is_out_of_memory(error):  # one line: the traceback says nothing more
            text = str(error).strip()
            first = text.splitlines()[0] if text else f"{type(error).__name__}, no details given"
            self.metrics["error"] = f"out of memory at step {self.step}: {first}"[:1000]
            log.error("%s", self.metrics["error"])
        elif isinstance(error, OSError) and error.errno in DISK_FULL:
            where = error.filename or self.run_dir
            self.metrics["error"] = f"the disk is full: {where}: {error.strerror}"
            log.error("%s", self.metrics["error"])
        else:
            self.metrics["error"] = f"{type(error).__name__}: {error}"
            # Hydra 1.3 does not put a failed job's traceback in its log: do it here.
            log.error("job failed at step %s:\n%s", self.step, traceback.format_exc())


def start_record(
    cfg: DictConfig,
    run_dir: Path,
    choices: Mapping[str, Any],
    overrides: Sequence[str],
    continuing: bool = False,
    source: Any = None,
) -> dict[str, Any]:
    """run.yaml written, and the metrics known before the build (status failed until the
    job says otherwise); a continued run keeps the time it first started. `source`: the
    run init_from names (posenc.jobs.source.Source), recorded in both."""
    started_at = rf.read_metrics(run_dir).get("started_at") if continuing else None
    choices = {k: v for k, v in choices.items() if not k.startswith(("hydra", "schema"))}
    config = OmegaConf.to_container(cfg, resolve=True)
    environment = describe(str(cfg.trainer.get("device")))
    identity = source.identity() if source is not None else None
    rf.write_record(run_dir, overrides, choices, config, environment, identity)
    metrics: dict[str, Any] = {
        "status": Status.FAILED.value,
        "started_at": started_at or utc_now(),
        **{g: choices.get(g) for g in GROUPS},
        "seed": cfg.seed,
        # the training length: a token task's longest input length
        "seq_len": cfg.dataset.get("seq_len", cfg.dataset.get("max_len")),
    }
    if choices.get("experiment"):
        metrics["experiment"] = choices["experiment"]
    if cut := limits(cfg):  # a check (+debug), not a result: compare says so
        metrics["limited"] = cut
    if source is not None:
        metrics.update(source.metrics())
    return metrics


LIMITS = (
    "trainer.limit_batches",
    "trainer.overfit_batches",
    "trainer.limit_rounds",
    "eval.limit_lengths",
    "eval.limit_sequences",
)


def limits(cfg: DictConfig) -> str | None:
    """The debug limits a run was cut by (`eval.limit_lengths=1,...`), or None."""
    cut = [f"{k}={v}" for k in LIMITS if (v := OmegaConf.select(cfg, k)) is not None]
    return ",".join(cut) or None


SMALL_TABLE = 256  # tables with at most this many numbers are logged (at DEBUG)


def format_tensor(t: torch.Tensor) -> str:
    """A small tensor as the log prints it: four places, tiny values as 0."""
    return np.array2string(t.detach().cpu().numpy(), precision=4, suppress_small=True)


def log_outcome(job, initial, final, metrics: dict[str, Any], run_dir: Path) -> None:
    """The log's last lines: the outcome as the kind tells it, and the encoding's change."""
    done = job.kind.rounds_done(metrics)
    if metrics["status"] != Status.COMPLETED:
        log.warning("run %s after %s: %s", metrics["status"], done, run_dir)
    else:
        if metrics.get("stopped_early"):
            log.info("stopped early after %s: %s", done, metrics["stopped_early"])
        first, *more = job.kind.done(metrics)
        log.info("done: %s in %.1fs -> %s", first, metrics["train_seconds"], run_dir)
        for line in more:
            log.info("%s", line)
    job.kind.show_fit(job.model)
    if initial is not None and final is not None and final.requires_grad:
        change = (final.detach().cpu() - initial.cpu()).norm().item()
        log.info("encoding table %s changed by %.6f (Frobenius norm)", list(final.shape), change)
        if change > 0 and final.numel() <= SMALL_TABLE:  # the tables are in the run folder
            log.debug("encoding before:\n%s", format_tensor(initial))
            log.debug("encoding after:\n%s", format_tensor(final))


def outcome(job, history) -> dict[str, Any]:
    """The metrics a finished fit adds to metrics.json: the loop's, then the kind's."""
    last = history.records[-1] if history.records else None
    completed = history.status == Status.COMPLETED
    out = {
        "steps": history.steps,
        "final_train_loss": last.train_loss if last else None,
        "final_val_loss": last.val_loss if last else None,
        "best_val_loss": history.best_val_loss,
        **job.kind.outcome(job.model, history, completed),
    }
    if not completed:
        out["error"] = history.reason
    if history.stopped_early:
        out["stopped_early"] = history.stopped_early
    return out
