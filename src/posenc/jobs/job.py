"""One job: build (config -> kind, model, optimizer) -> fit -> record (the run folder).
Shared by the CLI and the notebook API. Everything that differs between kinds of run is the
kind's (posenc.jobs.kinds): this module never asks which kind it holds."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from posenc.analysis.drawer import FigureDrawer
from posenc.config.compose import build
from posenc.config.schemas import TrainerConfig
from posenc.errors import ConfigError
from posenc.jobs.kinds import Kind, kind_of
from posenc.jobs.loop import EarlyStop, History, Resumed, continue_from, fit
from posenc.jobs.preflight import check_config
from posenc.jobs.record import DiskFull, JobRecord, log_outcome, outcome, start_record, utc_now
from posenc.jobs.resources import auto_threads, resolve_device, seeds, shared_cores
from posenc.jobs.source import UNREAD, Source, Unread, read_source, start_from
from posenc.models import Model
from posenc.progress import bar_logging, phase, progress
from posenc.store import checkpoint
from posenc.store import run_folder as rf
from posenc.store.status import Status
from posenc.store.tracking import LiveRun, live_run

log = logging.getLogger("posenc")
__all__ = ["DiskFull", "Job", "build_job", "run_job", "utc_now"]


@dataclass(frozen=True)
class Job:
    """Everything a job trains, built and checked before the first step; never changed
    after (where a continued run stands is `Resumed`'s)."""

    trainer: TrainerConfig
    kind: Kind  # the data, and everything that differs between kinds of run
    model: Model
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    device: torch.device
    threads: int
    eval_threads: int = 1  # for the test set and the other lengths, after training
    continuing: bool = False  # an interrupted run of this config: go on from its checkpoint
    cfg: DictConfig | None = None  # the config it was built from
    source: Source | None = None  # the run whose weights it started from (init_from)

    @property
    def spec(self):
        return self.kind.spec


def build_job(
    cfg: DictConfig,
    parallel_jobs: int = 1,
    source: Source | None | Unread = UNREAD,
    continuing: bool = False,
) -> Job:
    """Config -> seeded data, model, optimizer and scheduler, each checked as it is built
    (the tracking store is checked by the command: posenc.jobs.preflight). Raises ConfigError.
    `parallel_jobs`: how many jobs share this machine's cores (a parallel launcher's n_jobs);
    `source`: the run cfg.init_from names, as the caller read it (None: none; UNREAD, a
    build outside a job such as a benchmark's: read here); `continuing`:
    the folder holds an interrupted run of this config, continued from its checkpoint."""
    trainer = check_config(cfg)  # the job's own values; the store is the command's
    source = read_source(cfg) if source is UNREAD else source
    device = resolve_device(trainer.device)
    init_seed, data_seed, order_seed = seeds(cfg.seed)
    data = build(cfg.dataset, "dataset", generator=torch.Generator().manual_seed(data_seed))
    kind = kind_of(data)(data, cfg, trainer, device, (data_seed, order_seed))
    kind.check()
    torch.manual_seed(init_seed)
    encoding = build(cfg.encoding, "encoding", _partial_=True)
    beside = {}  # +encoding@beside=...: a second encoding, in another slot
    if cfg.get("beside") is not None:
        beside["beside"] = build(cfg.beside, "beside", _partial_=True)
    model = build(cfg.model, "model", spec=data.spec, encoding=encoding, **beside)
    if not isinstance(model, Model):
        raise ConfigError("model._target_", "must name a posenc.models.Model subclass")
    model.check_streams(getattr(data, "supplies", ()))
    kind.check_model(model)
    if source is not None:
        start_from(source, cfg, data, model)
    note_scalings(cfg, model)
    kind.check_evaluation(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError("model.freeze_head", "nothing left to train: every parameter is frozen")
    optimizer = build(cfg.optimizer, "optimizer", params=trainable)
    scheduler = build(cfg.scheduler, "scheduler", optimizer=optimizer, total_steps=kind.total_steps)
    threads = trainer.num_threads or auto_threads(model, parallel_jobs)
    torch.set_num_threads(threads)  # per job: one process may run many
    kind.prepare()
    return Job(
        trainer=trainer,
        kind=kind,
        model=model.to(device),
        optimizer=optimizer,
        scheduler=scheduler,
        device=device,
        threads=threads,
        eval_threads=trainer.num_threads or shared_cores(parallel_jobs),
        continuing=continuing,
        cfg=cfg,
        source=source,
    )


def note_scalings(cfg: DictConfig, model: Model) -> None:
    """An encoding other than RoPE has no scaling to change: said once, in the log."""
    if cfg.eval.get("rope_scalings") and not hasattr(model.encoding, "rescaled"):
        log.info(
            "eval.rope_scalings: %s has no RoPE scaling; evaluated as trained only",
            type(model.encoding).__name__,
        )


def train(
    job: Job, run_dir: Path, bar_on: bool = True, live: LiveRun | None = None
) -> tuple[History, Resumed]:
    """The one loop (posenc.jobs.loop.fit) with history.csv written a row per round, a log
    line every trainer.log_every rounds, a progress bar on a terminal (plain lines in logs
    and CI), and checkpoint.pt (every trainer.checkpoint_every steps and at the end); a
    continued run starts from its checkpoint; `live`: the run's curves logged to the
    tracking store as they come. Returns the loop's history and where training started
    (`Resumed`: a continued run's checkpoint)."""
    t, kind = job.trainer, job.kind
    stop = t.early_stopping
    early_stop = EarlyStop(stop.patience, stop.min_delta) if stop.patience else None
    resumed = continue_from(job, run_dir, early_stop) if job.continuing else Resumed()
    start, records = resumed.step, list(resumed.records)
    kind.steps_drawn = start  # a curriculum that grows with the steps goes on where it was
    after = kind.x_of(start) if resumed.from_checkpoint else None
    writer = rf.HistoryWriter(run_dir / rf.HISTORY, kind.columns, after=after)
    total, every = kind.x_of(kind.total_steps), kind.round_steps
    shown = {"unit": kind.bar_unit, "desc": "training", "disable": not bar_on}
    bar = progress(total=total, initial=kind.x_of(start), **shown)
    rounds, started = -(-kind.total_steps // every), time.perf_counter()

    def report(record: Any, recorded: int) -> None:
        writer.write(record)
        if live is not None:
            live.log(record, kind.columns)
        bar.update(getattr(record, kind.columns[0]) - bar.n)
        bar.set_postfix(**kind.postfix(record))
        if recorded % t.log_every == 0 or recorded in (1, rounds):
            log.info("%s", kind.round_line(record))

    def save(step: int) -> None:
        seconds = resumed.seconds + time.perf_counter() - started
        best = (early_stop.best, early_stop.waited) if early_stop else None
        state = checkpoint.TrainingState(step, seconds, best)
        where = run_dir / rf.CHECKPOINT
        checkpoint.save(where, job.model, job.optimizer, job.scheduler, kind.stream, state)

    try:
        with bar_logging(bar):
            history = fit(
                kind,
                job.model,
                job.optimizer,
                scheduler=job.scheduler,
                grad_clip=t.grad_clip,
                early_stop=early_stop,
                start=start,
                records=records,
                report=report,
                save=save,
                checkpoint_every=t.checkpoint_every,
                first_point=job.source is not None,  # where a fine-tune starts
            )
    finally:
        bar.close()
        writer.close()
    return history, resumed


def run_job(
    cfg: DictConfig,
    run_dir: Path,
    choices: Mapping[str, Any],
    plots: bool | None = None,
    overrides: Sequence[str] = (),
    parallel_jobs: int = 1,
    epoch_bar: bool = True,
    continuing: bool = False,
    *,
    source: Source | None,
) -> dict[str, Any]:
    """Train one configuration and write its run folder: build, train, record. Returns the
    metrics written.

    Raises ConfigError for user mistakes and re-raises unexpected errors, in both cases after
    writing metrics.json with status failed; Ctrl-C and SIGTERM are re-raised once the run is
    recorded `interrupted`. A diverged run is a result: it returns normally.
    `plots` None follows cfg.plots (null counts as on); `parallel_jobs`: how many jobs share
    this machine's cores (posenc.jobs.resources.auto_threads); `epoch_bar`: a progress bar on a
    terminal; `continuing`: the folder holds an interrupted run of this config
    (run_folder.Claim.CONTINUE), which goes on from its checkpoint; `source`: the run
    cfg.init_from names, read once by the caller and used as it is.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log.info("run folder: %s", run_dir)
    try:
        metrics = start_record(cfg, run_dir, choices, overrides, continuing, source)
        draw = plots if plots is not None else cfg.get("plots") is not False
        drawer = FigureDrawer() if draw else None  # loads matplotlib while the model trains
    except Exception:  # before metrics.json can say anything: the log says it
        log.error("job failed before it started:\n%s", traceback.format_exc())
        raise
    try:
        with JobRecord(run_dir, metrics) as record:
            job = build_job(cfg, parallel_jobs, source, continuing=continuing)
            history = train_and_evaluate(job, cfg, run_dir, record, epoch_bar)
            if history.interruption is not None:  # recorded: now it ends the command
                raise history.interruption
            if drawer is not None:
                drawer.draw(run_dir, metrics)
    finally:
        if drawer is not None:
            drawer.close()
    return metrics


def train_and_evaluate(
    job: Job, cfg: DictConfig, run_dir: Path, record: JobRecord, epoch_bar: bool = True
) -> History:
    """Every step a built job is asked for, each named in `record` while it runs: the
    encoding tables, training, the test split, the other lengths; then the outcome."""
    model, kind = job.model, job.kind
    record.update(
        kind=kind.name,
        **kind.labels(),
        n_params=sum(p.numel() for p in model.parameters()),
        n_trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        device=str(job.device),
        encoding_slot=model.encoding.slot,
    )
    evaluating = f" ({job.eval_threads} to evaluate)" if job.eval_threads != job.threads else ""
    log.info(
        "%s | model: %d parameters (%d trained) on %s, %d thread%s%s",
        *(kind.describe(), record.metrics["n_params"], record.metrics["n_trainable"]),
        *(job.device, job.threads, "" if job.threads == 1 else "s", evaluating),
    )
    record.step = "encoding_tables"
    initial = model.encoding.table()
    initial = None if initial is None else initial.detach().clone()
    rf.save_table(run_dir / rf.ENCODING_INITIAL, initial)
    kind.files(run_dir)
    record.step = "train"
    live = live_run(job.cfg, run_dir)  # before the clock: a wait for the store is not training
    started = time.perf_counter()
    try:
        history, resumed = train(job, run_dir, epoch_bar, live)
    except BaseException:
        if live is not None:
            live.end(Status.FAILED)
        raise
    record.update(train_seconds=resumed.seconds + time.perf_counter() - started)
    if live is not None:  # ended, never left RUNNING (the export replaces it)
        live.end(history.status)
    if resumed.from_checkpoint:
        record.update(continued_from_step=resumed.step)
    record.step = "encoding_tables"
    final = model.encoding.table()
    rf.save_table(run_dir / rf.ENCODING_FINAL, final)
    record.step = "test"
    torch.set_num_threads(job.eval_threads)
    try:
        with phase("test set"):
            record.update(**outcome(job, history))
        if kind.evaluated_lengths() and history.status == Status.COMPLETED:
            record.step = "length_eval"
            rows = kind.evaluate_lengths(model)
            rf.write_length_eval(run_dir, rows)
            record.update(**kind.length_metrics(rows), **kind.after_lengths(rows))
    finally:
        torch.set_num_threads(job.threads)
    record.finish(history.status)
    log_outcome(job, initial, final, record.metrics, run_dir)
    return history
