"""One job: build (config -> data, model, optimizer) -> fit -> record (the run folder).
Shared by the CLI and the notebook API."""

from __future__ import annotations

import dataclasses
import errno
import logging
import math
import os
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from posenc import checkpoint, objective, sampled
from posenc import run_folder as rf
from posenc.compose import build
from posenc.data import Split, Splits
from posenc.data.tasks import Task, TokenBatch
from posenc.data.text import bits_per_character, perplexity
from posenc.drawer import FigureDrawer
from posenc.environment import describe
from posenc.errors import ConfigError, check_at_least, check_choice, check_positive, check_tracking
from posenc.memory import is_out_of_memory
from posenc.metrics import BASE_FAMILIES, LENGTH_FAMILIES, REGRESSION
from posenc.models import Model
from posenc.progress import bar_logging, progress
from posenc.schemas import TrainerConfig
from posenc.signals import interrupt_reason
from posenc.status import Status
from posenc.training import EarlyStop, EpochRecord, History, batches_per_epoch, evaluate, fit

log = logging.getLogger("posenc")

# trainer.num_threads=null: below this many parameters a model trains fastest on one thread
# (per-op overhead dominates; extra threads only spin when other processes share the cores):
# measured by `python scripts/benchmark.py --threads`, table in the README.
SMALL_MODEL = 1_000_000
SMALL_TABLE = 256  # tables with at most this many numbers are logged (at DEBUG)
DEVICES = ("auto", "cpu", "cuda", "mps")
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DiskFull(RuntimeError):
    """The run folder's disk is full: the run is recorded as failed where the disk allows."""


@dataclass
class Job:
    """Everything a job trains, built and checked before the first step."""

    trainer: TrainerConfig
    splits: Splits | None  # a fixed-split dataset, trained by epochs
    model: Model
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    device: torch.device
    order_seed: int
    threads: int
    task: Task | None = None  # a sampled token task, trained by steps
    val: list[TokenBatch] | None = None  # the task's fixed validation and test batches
    test: list[TokenBatch] | None = None
    continuing: bool = False  # an interrupted run of this config: go on from its checkpoint
    seconds_before: float = 0.0  # training seconds of the processes before this one
    continued_from: int | None = None  # the step its checkpoint held

    @property
    def spec(self):
        return self.task.spec if self.task is not None else self.splits.spec


def utc_now() -> str:
    """The time now, UTC, ISO 8601 to the millisecond (metrics.json's started_at/ended_at)."""
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds")


def seeds(seed: int) -> tuple[int, int, int]:
    """Independent streams for initialisation, data and batch order, all from one seed."""
    init, data, order = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint64)
    return int(init), int(data), int(order)


def resolve_device(name: str) -> torch.device:
    if not (name in DEVICES or name.startswith("cuda:")):
        check_choice("trainer.device", name, DEVICES + ("cuda:N",))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("trainer.device", f"{name!r} asked for, but no CUDA device is visible")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.device", "'mps' asked for, but this machine has no MPS device")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError("trainer.device", f"{name!r} is not a device; use cuda:N") from None


def auto_threads(model: torch.nn.Module, parallel_jobs: int = 1) -> int:
    """trainer.num_threads=null: one thread for a model below SMALL_MODEL parameters, else the
    cores this process may use shared among the jobs that run at once on them."""
    if sum(p.numel() for p in model.parameters()) < SMALL_MODEL:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))  # what Slurm or taskset left to this process
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, parallel_jobs))


def check_trainer(trainer: TrainerConfig, seed: int, lengths: Sequence[int] = ()) -> None:
    check_at_least("seed", seed, 0)
    for length in lengths:
        check_at_least("eval.lengths", length, 1)
    for key in ("epochs", "batch_size", "log_every", "steps", "eval_every"):
        check_at_least(f"trainer.{key}", getattr(trainer, key), 1)
    for key in ("num_threads", "limit_batches", "overfit_batches"):
        check_at_least(f"trainer.{key}", getattr(trainer, key), 1)
    check_positive("trainer.grad_clip", trainer.grad_clip)
    check_at_least("trainer.early_stopping.patience", trainer.early_stopping.patience, 1)
    check_at_least("trainer.early_stopping.min_delta", trainer.early_stopping.min_delta, 0)


def build_job(cfg: DictConfig, parallel_jobs: int = 1) -> Job:
    """Config -> checked, seeded data, model, optimizer and scheduler. Raises ConfigError.
    `parallel_jobs`: how many jobs share this machine's cores (a parallel launcher's n_jobs)."""
    trainer = OmegaConf.to_object(cfg.trainer)
    check_trainer(trainer, cfg.seed, cfg.eval.lengths)
    objective.check(cfg)
    check_tracking(cfg.get("tracking"))
    if cfg.get("tracking"):  # a store that is down is said now, not after training
        from posenc.tracking import check_store

        check_store(cfg.tracking_uri, cfg.get("tracking_timeout") or 10.0)
    check_at_least("eval.batch_size", cfg.eval.batch_size, 1)
    device = resolve_device(trainer.device)
    init_seed, data_seed, order_seed = seeds(cfg.seed)

    data = build(cfg.dataset, "dataset", generator=torch.Generator().manual_seed(data_seed))
    if not isinstance(data, Splits | Task):
        raise ConfigError(
            "dataset._target_", "must return posenc.data.Splits or be a posenc.data.tasks.Task"
        )
    task = data if isinstance(data, Task) else None
    check_data_kind(cfg, trainer, task)
    torch.manual_seed(init_seed)
    encoding = build(cfg.encoding, "encoding", _partial_=True)
    model = build(cfg.model, "model", spec=data.spec, encoding=encoding)
    if not isinstance(model, Model):
        raise ConfigError("model._target_", "must name a posenc.models.Model subclass")
    if is_text(task) and (found := model.sees_future()) is not None:
        key, why = found
        raise ConfigError(key, f"{why} (dataset=text: the target is the next character)")
    check_rope_scalings(cfg, model)
    check_evaluation_sizes(cfg, data.spec, model, task)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError("model.freeze_head", "nothing left to train: every parameter is frozen")
    optimizer = build(cfg.optimizer, "optimizer", params=trainable)
    if task is not None:
        total_steps = task_steps(trainer)
    else:
        batches = batches_per_epoch(len(data.train), trainer.batch_size, trainer.max_batches)
        total_steps = trainer.epochs * batches
    scheduler = build(cfg.scheduler, "scheduler", optimizer=optimizer, total_steps=total_steps)
    threads = trainer.num_threads or auto_threads(model, parallel_jobs)
    torch.set_num_threads(threads)  # per job: one process may run many
    job = Job(
        trainer,
        None if task else data.to(device),
        model.to(device),
        optimizer,
        scheduler,
        device,
        order_seed,
        threads,
        task=task,
    )
    if task is not None:  # fixed batches of their own seeds: the same for every encoding
        task.check_fixed_sizes()
        fixed = torch.Generator().manual_seed(length_seed(data_seed, 0))
        job.val = [b.to(device) for b in task.validation(fixed)]
        job.test = [b.to(device) for b in task.testing(fixed)]
    return job


DEFAULT_TASK_STEPS = 10_000  # the reference's experiments/example.py


def task_steps(trainer: TrainerConfig) -> int:
    return trainer.steps or DEFAULT_TASK_STEPS


def is_text(task: Task | None) -> bool:
    return getattr(task, "kind", None) == "text"


# Token positions one run's length evaluation may read (sequences × their tokens, over every
# evaluated length): the papers' range test (500 lengths, about 1.3e8 positions) many times
# over, and more than an hour of forward passes for posenc's small models on a CPU core.
MAX_EVAL_TOKENS = 2_000_000_000


def check_evaluation_sizes(cfg: DictConfig, spec, model: Model, task: Task | None) -> None:
    """The length evaluation, estimated before training: how many lengths, the work over all
    of them, and its big allocations (a fixed-split dataset built at each length, a token
    task's batch there, the attention scores of a batch there)."""
    from posenc.data.tasks import BYTES_PER_TOKEN, MAX_LENGTHS
    from posenc.memory import FLOAT, check_fits

    lengths = list(cfg.eval.lengths)
    max_length = cfg.eval.get("max_length") if task is not None else None
    if max_length is not None:
        unseen = max_length - task.max_len
        if unseen + len(lengths) > MAX_LENGTHS:
            raise ConfigError(
                "eval.max_length",
                f"{max_length} scores {unseen} lengths past dataset.max_len {task.max_len}; "
                f"at most {MAX_LENGTHS} lengths are evaluated (the papers score 460)",
            )
        lengths.append(max_length)
    if len(lengths) > MAX_LENGTHS:
        raise ConfigError("eval.lengths", f"{len(lengths)} lengths; at most {MAX_LENGTHS}")
    if task is not None and task.kind == "tokens":
        check_token_evaluation(cfg, task, lengths, max_length)
    for length in lengths:
        tokens = task.model_length(length) if task is not None else length
        if task is None:
            n = int(cfg.dataset.get("n_samples") or 1)
            data = 2 * n * length * spec.feature_dim * FLOAT
            check_fits("eval.lengths", f"{length}: a test set of {n} × {length}", data)
        elif task.kind == "tokens":
            per_length = cfg.eval.get("per_length", 1)
            batch = per_length * tokens * BYTES_PER_TOKEN
            check_fits("eval.per_length", f"{per_length} sequences of {tokens} tokens", batch)
        if model.attention is not None:
            per_pass = cfg.eval.batch_size if task is None else cfg.eval.get("per_length", 1)
            per_pass = min(per_pass, cfg.eval.batch_size)
            scores = 2 * per_pass * model.attention.n_heads * tokens * tokens * FLOAT
            key = "eval.max_length" if length == cfg.eval.get("max_length") else "eval.lengths"
            check_fits(key, f"{length}: attention over {tokens} tokens", scores)


def check_token_evaluation(
    cfg: DictConfig, task: Task, lengths: list[int], max_length: int | None
) -> None:
    """A token task's length evaluation reads at most MAX_EVAL_TOKENS positions."""
    per_length = cfg.eval.get("per_length", 1)
    evaluated = set(lengths)
    if max_length is not None:
        evaluated.update(range(task.max_len + 1, max_length + 1))
    positions = per_length * sum(task.model_length(n) for n in evaluated)
    if positions > MAX_EVAL_TOKENS:
        key = "eval.per_length" if per_length > len(evaluated) else "eval.max_length"
        raise ConfigError(
            key,
            f"the length evaluation would read {positions:.3g} token positions "
            f"({per_length} sequences at each of {len(evaluated)} lengths); at most "
            f"{MAX_EVAL_TOKENS:.0e}: fewer sequences or lengths",
        )


def check_rope_scalings(cfg: DictConfig, model: Model) -> None:
    """eval.rope_scalings: known scalings, asked for with eval.lengths to evaluate at; an
    encoding other than RoPE has none to change (said once, in the log)."""
    from posenc.encodings.rope import SCALINGS

    scalings = list(cfg.eval.get("rope_scalings") or ())
    for scaling in scalings:
        check_choice("eval.rope_scalings", scaling, SCALINGS)
    if scalings and not cfg.eval.lengths:
        raise ConfigError(
            "eval.rope_scalings", "evaluates at eval.lengths, which is empty; list the lengths"
        )
    if scalings and not hasattr(model.encoding, "rescaled"):
        log.info(
            "eval.rope_scalings: %s has no RoPE scaling; evaluated as trained only",
            type(model.encoding).__name__,
        )


def check_data_kind(cfg: DictConfig, trainer: TrainerConfig, task: Task | None) -> None:
    """Keys that belong to the other kind of dataset are refused, not ignored."""
    name = cfg.dataset.get("_target_", "").rpartition(".")[2]
    max_length = cfg.eval.get("max_length")
    if task is None:
        if trainer.checkpoint_every is not None:
            raise ConfigError(
                "trainer.checkpoint_every",
                f"checkpoints step-trained runs (token tasks, text); {name} trains by epochs",
            )
        if trainer.steps is not None:
            raise ConfigError(
                "trainer.steps",
                f"trains sampled token tasks; {name} is a fixed split trained by trainer.epochs",
            )
        if max_length is not None:
            raise ConfigError(
                "eval.max_length",
                f"scores a token task's unseen lengths; for {name} list them in eval.lengths",
            )
        return
    for key in ("limit_batches", "overfit_batches"):
        if getattr(trainer, key) is not None:
            raise ConfigError(
                f"trainer.{key}",
                f"cuts a fixed split's epochs; {name} is sampled: set trainer.steps instead",
            )
    every = trainer.checkpoint_every
    check_at_least("trainer.checkpoint_every", every, 1)
    if every is not None and every % trainer.eval_every:
        raise ConfigError(
            "trainer.checkpoint_every",
            f"{every} must be a multiple of trainer.eval_every {trainer.eval_every}: a "
            "checkpoint ends an evaluation round, so a continued run repeats no round",
        )
    if is_text(task) and max_length is not None:
        raise ConfigError(
            "eval.max_length",
            "scores a token task's unseen lengths; for text list the lengths in eval.lengths",
        )
    if max_length is not None and max_length <= task.max_len:
        raise ConfigError(
            "eval.max_length",
            f"{max_length} must exceed dataset.max_len {task.max_len}: the score is the mean "
            "accuracy over the lengths past the training range",
        )
    check_at_least("eval.per_length", cfg.eval.get("per_length"), 1)


def train(job: Job, run_dir: Path, epoch_bar: bool = True) -> History:
    """fit() with history.csv written row by row, the epoch log lines, and a progress bar on
    a terminal (plain lines in logs and CI); a token task trains by steps (train_task)."""
    if job.task is not None:
        return train_task(job, run_dir, epoch_bar)
    t = job.trainer
    writer = rf.HistoryWriter(run_dir / rf.HISTORY)
    bar = progress(total=t.epochs, unit="epoch", desc="training", disable=not epoch_bar)

    def on_epoch(r: EpochRecord) -> None:
        writer.write(r)
        bar.update(1)
        bar.set_postfix(train_loss=f"{r.train_loss:.4g}", val_loss=f"{r.val_loss:.4g}")
        if r.epoch % t.log_every == 0 or r.epoch in (1, t.epochs):
            log.info(
                "epoch %d/%d  train_loss %.6f  val_loss %.6f  (%.2fs)",
                *(r.epoch, t.epochs, r.train_loss, r.val_loss, r.seconds),
            )

    stop = t.early_stopping
    try:
        with bar_logging(bar):
            return fit(
                job.model,
                job.splits,
                job.optimizer,
                epochs=t.epochs,
                batch_size=t.batch_size,
                generator=torch.Generator().manual_seed(job.order_seed),
                shuffle=t.shuffle,
                on_epoch=on_epoch,
                scheduler=job.scheduler,
                grad_clip=t.grad_clip,
                early_stop=EarlyStop(stop.patience, stop.min_delta) if stop.patience else None,
                max_batches=t.max_batches,
                fixed_batches=t.overfit_batches is not None,
            )
    finally:
        bar.close()
        writer.close()


CONTINUE_INSTEAD = (
    "the interrupted run is kept as it was; resume=false starts it over, overwrite=true replaces it"
)


def train_task(job: Job, run_dir: Path, bar_on: bool = True) -> History:
    """sampled.fit_steps with history.csv written a row per round, a log line per round
    (every trainer.log_every rounds), a progress bar of the steps on a terminal, and
    checkpoint.pt (every trainer.checkpoint_every steps and at the end); a continued run
    starts from its checkpoint."""
    t, steps = job.trainer, task_steps(job.trainer)
    stop = t.early_stopping
    early_stop = EarlyStop(stop.patience, stop.min_delta) if stop.patience else None
    path = run_dir / rf.CHECKPOINT
    start, records = 0, []
    if job.continuing and path.is_file():
        try:
            state = checkpoint.restore(
                checkpoint.load(path, job.device),
                *(job.model, job.optimizer, job.scheduler, job.task.generator, early_stop),
                path=path,
            )
            rows = rf.read_history_rows(run_dir)
        except checkpoint.CheckpointError as e:
            raise e.advising(CONTINUE_INSTEAD) from None
        except rf.RunFolderError as e:
            raise checkpoint.CheckpointError(run_dir / rf.HISTORY, str(e)).advising(
                CONTINUE_INSTEAD
            ) from None
        start, job.seconds_before, job.continued_from = state.step, state.seconds, state.step
        fields = [f.name for f in dataclasses.fields(sampled.RoundRecord)]
        for row in rows:
            if row["step"] <= start:
                records.append(
                    sampled.RoundRecord(**{**{k: row[k] for k in fields}, "step": int(row["step"])})
                )
        log.info("continuing from the checkpoint at step %d of %d", start, steps)
    columns = rf.TEXT_HISTORY_COLUMNS if is_text(job.task) else rf.STEP_HISTORY_COLUMNS
    writer = rf.HistoryWriter(
        run_dir / rf.HISTORY, columns, after=start if job.continued_from is not None else None
    )
    bar = progress(total=steps, initial=start, unit="step", desc="training", disable=not bar_on)
    rounds = -(-steps // t.eval_every)
    started = time.perf_counter()

    def on_round(r: sampled.RoundRecord) -> None:
        writer.write(r)
        bar.update(r.step - bar.n)
        bar.set_postfix(val_loss=f"{r.val_loss:.4g}", val_accuracy=f"{r.val_accuracy:.3f}")
        number = -(-r.step // t.eval_every)
        if number % t.log_every == 0 or number in (1, rounds):
            log.info(
                "step %d/%d  train_loss %.6f  train_accuracy %.4f  val_loss %.6f  "
                "val_accuracy %.4f  (%.2fs)",
                *(r.step, steps, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy),
                r.seconds,
            )

    def save(step: int) -> None:
        state = checkpoint.TrainingState(
            step,
            job.seconds_before + time.perf_counter() - started,
            (early_stop.best, early_stop.waited) if early_stop else None,
        )
        checkpoint.save(path, job.model, job.optimizer, job.scheduler, job.task.generator, state)

    try:
        with bar_logging(bar):
            return sampled.fit_steps(
                job.model,
                job.task,
                job.optimizer,
                steps=steps,
                batch_size=t.batch_size,
                val=job.val,
                eval_every=t.eval_every,
                on_round=on_round,
                device=job.device,
                scheduler=job.scheduler,
                grad_clip=t.grad_clip,
                early_stop=early_stop,
                start=start,
                records=records,
                checkpoint=save,
                checkpoint_every=t.checkpoint_every,
            )
    finally:
        bar.close()
        writer.close()


def outcome(job: Job, history: History) -> dict[str, Any]:
    """The metrics a finished fit adds to metrics.json."""
    last = history.records[-1] if history.records else None
    completed = history.status == Status.COMPLETED
    out = {
        "steps": history.steps,
        "final_train_loss": last.train_loss if last else None,
        "final_val_loss": last.val_loss if last else None,
        "best_val_loss": history.best_val_loss,
    }
    if job.task is None:
        out["epochs_completed"] = len(history.records)
        out["test_loss"] = evaluate(job.model, job.splits.test) if completed else None
    else:
        out["final_train_accuracy"] = last.train_accuracy if last else None
        out["final_val_accuracy"] = last.val_accuracy if last else None
        accuracies = [r.val_accuracy for r in history.records if math.isfinite(r.val_accuracy)]
        out["best_val_accuracy"] = max(accuracies) if accuracies else None
        test = sampled.evaluate(job.model, job.test) if completed else (None, None)
        out["test_loss"], out["test_accuracy"] = test
        if is_text(job.task):
            out["final_val_bpc"] = bits_per_character(out["final_val_loss"])
            out["test_bpc"] = bits_per_character(out["test_loss"])
            out["test_perplexity"] = perplexity(out["test_loss"])
    if not completed:
        out["error"] = history.reason
    if history.stopped_early:
        out["stopped_early"] = history.stopped_early
    return out


def length_seed(seed: int, length: int) -> int:
    """A seed stream of its own for the test set at each evaluation length."""
    return int(np.random.SeedSequence(seed, spawn_key=(length,)).generate_state(1)[0])


def task_length(job: Job, cfg: DictConfig, length: int) -> dict[str, Any]:
    """A token task or text at one evaluation length: the task's test batch there (fresh
    seeded sequences; for text the held-out text in windows of that length), loss and
    accuracy (and bpc for text); `unsupported` with the reason where it cannot run."""
    task = job.task
    row: dict[str, Any] = {"length": length, "loss": None, "accuracy": None}
    tokens = task.model_length(length)
    reason = job.model.unsupported(tokens) or task.too_long(length)
    if reason is not None:
        where = f"{tokens} tokens at length {length}" if tokens != length else f"length {length}"
        return {**row, "status": "unsupported", "reason": f"{where}: {reason}"}
    generator = torch.Generator().manual_seed(length_seed(cfg.seed, length))
    batch = task.evaluation(generator, length, cfg.eval.per_length).to(job.device)
    loss, accuracy = sampled.evaluate(job.model, [batch], cfg.eval.batch_size)
    row.update(loss=loss, accuracy=accuracy, status="ok", reason="")
    if is_text(task):
        row["bpc"] = bits_per_character(loss)
    log.debug("length %d: test loss %.6f, accuracy %.4f", length, loss, accuracy)
    return row


def split_length(job: Job, cfg: DictConfig, length: int) -> dict[str, Any]:
    """A fixed-split dataset at one evaluation length: a fresh seeded dataset built there,
    all of it the test set; `unsupported` where the model, encoding or dataset cannot run."""
    row: dict[str, Any] = {"length": length, "loss": None, "status": "ok", "reason": ""}
    reason = job.model.unsupported(length)
    if reason is None:
        generator = torch.Generator().manual_seed(length_seed(cfg.seed, length))
        try:
            splits = build(cfg.dataset, "dataset", seq_len=length, generator=generator)
        except ConfigError as e:
            reason = f"the dataset cannot be built at this length: {e}"
    if reason is not None:
        return {**row, "status": "unsupported", "reason": reason}
    parts = (splits.train, splits.val, splits.test)
    test = Split(torch.cat([p.x for p in parts]), torch.cat([p.y for p in parts]))
    test = Split(test.x.to(job.device), test.y.to(job.device))
    row["loss"] = evaluate(job.model, test, batch_size=cfg.eval.batch_size)
    log.info("length %d: test loss %.6f", length, row["loss"])
    return row


def evaluate_lengths(job: Job, cfg: DictConfig) -> list[dict[str, Any]]:
    """The trained model at each evaluation length: eval.lengths (and, for a token task,
    every length past its training range up to eval.max_length), one row per length; then,
    for RoPE, eval.lengths again under each of eval.rope_scalings, the factor being the
    evaluation length over the training length (rows with `scaling`)."""
    if job.task is None:
        one, lengths = split_length, list(cfg.eval.lengths)
    else:
        one = task_length
        lengths = sampled.range_lengths(job.task, cfg.eval.max_length, cfg.eval.lengths)
    rows = [one(job, cfg, length) for length in lengths]
    encoding = job.model.encoding
    if not hasattr(encoding, "rescaled"):
        return rows
    for scaling in cfg.eval.get("rope_scalings") or ():
        for length in cfg.eval.lengths:
            tokens = job.task.model_length(length) if job.task is not None else length
            try:
                with encoding.rescaled(scaling, tokens / job.spec.seq_len):
                    row = one(job, cfg, length)
            except ConfigError as e:
                row = {"length": length, "loss": None, "status": "unsupported", "reason": str(e)}
            rows.append({**row, "scaling": scaling})
    return rows


LENGTH_COLUMNS = {"test_loss": "loss", "accuracy": "accuracy", "bpc": "bpc", "perplexity": "loss"}


def length_metrics(job: Job, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """metrics.json's family@L values of the length rows (family_scaling@L for a scaling):
    the families posenc.metrics says this kind of run records."""
    kind = job.task.kind if job.task is not None else REGRESSION
    families = {f: LENGTH_COLUMNS[f] for f in BASE_FAMILIES if kind in LENGTH_FAMILIES[f].kinds}
    out = {}
    for row in rows:
        suffix = f"_{row['scaling']}" if row.get("scaling") else ""
        for family, column in families.items():
            value = row.get(column)
            if family == "perplexity":
                value = perplexity(value)
            out[f"{family}{suffix}@{row['length']}"] = value
    return out


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
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            raise DiskFull(self.metrics["error"]) from None

    def _failed(self, error: BaseException) -> None:
        if self.metrics["status"] == Status.INTERRUPTED:
            return  # recorded by the training loop, re-raised after it
        if isinstance(error, KeyboardInterrupt):
            self.metrics.update(status=Status.INTERRUPTED.value, error=interrupt_reason(error))
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


def run_job(
    cfg: DictConfig,
    run_dir: Path,
    choices: Mapping[str, Any],
    plots: bool | None = None,
    overrides: Sequence[str] = (),
    parallel_jobs: int = 1,
    epoch_bar: bool = True,
    continuing: bool = False,
) -> dict[str, Any]:
    """Train one configuration and write its run folder: build, train, record. Returns the
    metrics written.

    Raises ConfigError for user mistakes and re-raises unexpected errors, in both cases after
    writing metrics.json with status failed; Ctrl-C and SIGTERM are re-raised once the run is
    recorded `interrupted`. A diverged run is a result: it returns normally.
    `plots` None follows cfg.plots (null counts as on); `parallel_jobs`: how many jobs share
    this machine's cores (posenc.job.auto_threads); `epoch_bar`: a progress bar of the
    epochs on a terminal; `continuing`: the folder holds an interrupted run of this config
    (run_folder.Claim.CONTINUE), which goes on from its checkpoint.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log.info("run folder: %s", run_dir)
    try:
        metrics = start_record(cfg, run_dir, choices, overrides, continuing)
        draw = plots if plots is not None else cfg.get("plots") is not False
        drawer = FigureDrawer() if draw else None  # loads matplotlib while the model trains
    except Exception:  # before metrics.json can say anything: the log says it
        log.error("job failed before it started:\n%s", traceback.format_exc())
        raise
    try:
        with JobRecord(run_dir, metrics) as record:
            job = build_job(cfg, parallel_jobs)
            job.continuing = continuing
            history = train_and_evaluate(job, cfg, run_dir, record, epoch_bar)
            if history.interruption is not None:  # recorded: now it ends the command
                raise history.interruption
            if drawer is not None:
                drawer.draw(run_dir, metrics)
    finally:
        if drawer is not None:
            drawer.close()
    return metrics


def start_record(
    cfg: DictConfig,
    run_dir: Path,
    choices: Mapping[str, Any],
    overrides: Sequence[str],
    continuing: bool = False,
) -> dict[str, Any]:
    """run.yaml written, and the metrics known before the build (status failed until the
    job says otherwise); a continued run keeps the time it first started."""
    started_at = rf.read_metrics(run_dir).get("started_at") if continuing else None
    choices = {k: v for k, v in choices.items() if not k.startswith(("hydra", "schema"))}
    config = OmegaConf.to_container(cfg, resolve=True)
    environment = describe(str(cfg.trainer.get("device")))
    rf.write_record(run_dir, overrides, choices, config, environment)
    metrics: dict[str, Any] = {
        "status": Status.FAILED.value,
        "started_at": started_at or utc_now(),
        **{g: choices.get(g) for g in rf.GROUPS},
        "seed": cfg.seed,
        # the training length: a token task's longest input length
        "seq_len": cfg.dataset.get("seq_len", cfg.dataset.get("max_len")),
    }
    if choices.get("experiment"):
        metrics["experiment"] = choices["experiment"]
    return metrics


def train_and_evaluate(
    job: Job, cfg: DictConfig, run_dir: Path, record: JobRecord, epoch_bar: bool = True
) -> History:
    """Every step a built job is asked for, each named in `record` while it runs: the
    encoding tables, training, the test split, the other lengths; then the outcome."""
    model = job.model
    record.update(
        n_params=sum(p.numel() for p in model.parameters()),
        n_trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        device=str(job.device),
        encoding_slot=model.encoding.slot,
    )
    _log_start(job, record.metrics)
    record.step = "encoding_tables"
    initial = model.encoding.table()
    initial = None if initial is None else initial.detach().clone()
    rf.save_table(run_dir / rf.ENCODING_INITIAL, initial)
    if is_text(job.task):
        rf.write_json(run_dir / rf.VOCABULARY, job.task.vocabulary())
    record.step = "train"
    started = time.perf_counter()
    history = train(job, run_dir, epoch_bar)
    record.update(train_seconds=job.seconds_before + time.perf_counter() - started)
    if job.continued_from is not None:
        record.update(continued_from_step=job.continued_from)
    record.step = "encoding_tables"
    final = model.encoding.table()
    rf.save_table(run_dir / rf.ENCODING_FINAL, final)
    record.step = "test"
    record.update(**outcome(job, history))
    ranged = job.task is not None and cfg.eval.get("max_length") is not None
    if (cfg.eval.lengths or ranged) and history.status == Status.COMPLETED:
        record.step = "length_eval"
        rows = evaluate_lengths(job, cfg)
        rf.write_length_eval(run_dir, rows)
        record.update(**length_metrics(job, rows))
        if ranged:
            as_trained = [r for r in rows if not r.get("scaling")]
            value, reason = sampled.score(as_trained, job.task, cfg.eval.max_length)
            record.update(score=value)
            if reason:
                record.update(score_unsupported=reason)
                log.warning("score unsupported: %s", reason)
            else:
                log.info(
                    "score (mean accuracy at lengths %d..%d): %.4f",
                    *(job.task.max_len + 1, cfg.eval.max_length, value),
                )
    record.finish(history.status)
    _log_outcome(job, initial, final, record.metrics, run_dir)
    return history


def _fmt(t: torch.Tensor) -> str:
    return np.array2string(t.detach().cpu().numpy(), precision=4, suppress_small=True)


def _log_start(job: Job, metrics: dict[str, Any]) -> None:
    if job.task is not None:
        task, spec = job.task, job.spec
        log.info(
            "data: %s sampled at input lengths %d..%d (up to %d tokens), %d symbols, %d "
            "classes | model: %d parameters (%d trained) on %s, %d thread%s",
            *(type(task).__name__, task.min_len, task.max_len, spec.seq_len),
            *(task.vocab_size, task.n_classes, metrics["n_params"], metrics["n_trainable"]),
            *(job.device, job.threads, "" if job.threads == 1 else "s"),
        )
        return
    spec, splits = job.splits.spec, job.splits
    log.info(
        "data: train %d, val %d, test %d sequences of %d x %d (%s targets) | model: %d "
        "parameters (%d trained) on %s, %d thread%s",
        *(len(splits.train), len(splits.val), len(splits.test), spec.seq_len, spec.feature_dim),
        "per-step" if spec.per_step else "per-sequence",
        *(metrics["n_params"], metrics["n_trainable"], job.device, job.threads),
        "" if job.threads == 1 else "s",
    )


def _log_outcome(job: Job, initial, final, metrics: dict[str, Any], run_dir: Path) -> None:
    done = f"{metrics['steps']} steps" if job.task else f"{metrics['epochs_completed']} epochs"
    if metrics["status"] != Status.COMPLETED:
        log.warning("run %s after %s: %s", metrics["status"], done, run_dir)
    else:
        if metrics.get("stopped_early"):
            log.info("stopped early after %s: %s", done, metrics["stopped_early"])
        log.info(
            "done: final train %.6f, val %.6f, test %.6f, best val %.6f in %.1fs -> %s",
            *(metrics[k] for k in ("final_train_loss", "final_val_loss", "test_loss")),
            *(metrics["best_val_loss"], metrics["train_seconds"], run_dir),
        )
        if job.task is not None:
            log.info(
                "accuracy: final train %.4f, val %.4f, test %.4f",
                *(
                    metrics[k]
                    for k in ("final_train_accuracy", "final_val_accuracy", "test_accuracy")
                ),
            )
    train = job.splits.train if job.splits is not None else ()
    if len(train) == 1:  # one reference sequence: show it against the fit
        with torch.no_grad():
            job.model.eval()
            prediction = job.model(train.x)
        log.info("targets:     %s", _fmt(train.y[0]))
        log.info("predictions: %s", _fmt(prediction[0]))
    if initial is not None and final is not None and final.requires_grad:
        change = (final.detach().cpu() - initial.cpu()).norm().item()
        log.info("encoding table %s changed by %.6f (Frobenius norm)", list(final.shape), change)
        if change > 0 and final.numel() <= SMALL_TABLE:  # the tables are in the run folder
            log.debug("encoding before:\n%s", _fmt(initial))
            log.debug("encoding after:\n%s", _fmt(final))
