"""Hydra callbacks: a sweep takes its folder's lock when it starts, and ends by comparing the
jobs that belong to it."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from posenc import run_folder as rf
from posenc.status import Status

log = logging.getLogger("posenc")

NOT_DONE = {Status.FAILED, Status.INCOMPLETE, Status.CORRUPT}
LOCK = ".posenc.lock"
EXIT_FAILED, EXIT_BUSY = 1, 2
sweeps_ended = 0  # read by posenc.train: an exit 1 after a sweep ended is a failed job
current: SweepEnd | None = None  # the sweep under way in this process (for Ctrl-C)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def take_lock(sweep_dir: Path) -> None:
    """One sweep at a time per folder; a lock left by a dead sweep on this host is taken over."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    path = sweep_dir / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text())
            except (OSError, ValueError):
                holder = {}
            stale = holder.get("host") == me["host"] and not _alive(int(holder.get("pid", 0)))
            if not stale:
                print(
                    f"hydra.sweep.dir: {sweep_dir} is in use by another sweep (pid "
                    f"{holder.get('pid')} on {holder.get('host')}); wait for it or choose "
                    "another folder",
                    file=sys.stderr,
                )
                sys.exit(EXIT_BUSY)
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return


def sweep_jobs(sweep_dir: Path, since: float) -> tuple[list[Path], list[Path]]:
    """(job folders this sweep wrote or reused, job folders it refused): a folder of an
    earlier sweep into the same place that this one did not touch is not part of it."""

    def touched(path: Path) -> bool:
        return path.exists() and path.stat().st_mtime >= since - 1.0

    jobs, refused = [], []
    for folder in sorted(
        {p.parent for p in sweep_dir.rglob(rf.RUN)}
        | {p.parent for p in sweep_dir.rglob(rf.REFUSED)}
    ):
        if touched(folder / rf.REFUSED):
            refused.append(folder)
        elif touched(folder / rf.RUN) or touched(folder / ".hydra" / "config.yaml"):
            jobs.append(folder)
    return jobs, refused


class SweepEnd(Callback):
    """Compare the sweep's runs (results.csv, summary.csv, printed table), draw the sweep
    plots, then exit non-zero when any job failed, was refused its folder, or left no
    metrics.json (killed, out of memory). A diverged job is a result, not a failure.

    posenc's jobs report failure in metrics.json instead of raising, because Hydra 1.3 skips
    on_multirun_end after a job raised: so the tables exist for a sweep with failures too.
    """

    def __init__(self, plots: bool = True, metric: str = "final_val_loss"):
        self.plots = plots
        self.metric = metric
        self.sweep_dir: Path | None = None
        self.started = 0.0
        self.tracking: tuple[str | None, str | None] = (None, None)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global current
        self.sweep_dir = Path(config.hydra.sweep.dir)
        take_lock(self.sweep_dir)
        self.started = time.time()
        current = self

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global sweeps_ended
        sweeps_ended += 1
        self.sweep_dir = Path(config.hydra.sweep.dir)
        self.tracking = (config.get("tracking"), config.get("tracking_uri"))
        bad = self.finish()
        if bad:
            log.error(
                "%d job(s) did not complete in %s: %s", len(bad), self.sweep_dir, ", ".join(bad)
            )
            sys.exit(EXIT_FAILED)

    def finish(self) -> list[str]:
        """Write the tables and figures of the jobs so far, release the lock; return the jobs
        that did not complete."""
        global current
        sweep_dir = self.sweep_dir
        jobs, refused = sweep_jobs(sweep_dir, self.started)
        try:
            from posenc.cli import print_summary
            from posenc.compare import load_results, save_tables, summarize

            results = load_results(jobs, base=sweep_dir)
            if not results.empty:
                summary = summarize(results, metric=self.metric)
                print_summary(sweep_dir, results, summary, self.metric)
                save_tables(sweep_dir, results, summary)
                if self.plots:
                    from posenc.plots import plot_sweep

                    plot_sweep(sweep_dir, results, summary, self.metric)
            tracker, uri = self.tracking
            if tracker == "mlflow" and jobs:  # one process writes the store, after the jobs
                from posenc.export import export_quietly

                export_quietly(jobs, uri)
        except Exception:  # the jobs' results stay on disk; compare can be re-run by hand
            log.exception("comparing the sweep in %s failed", sweep_dir)
        finally:
            (sweep_dir / LOCK).unlink(missing_ok=True)
            current = None
        bad = [f"{job.relative_to(sweep_dir)} (refused)" for job in refused]
        for job in jobs:
            if (status := rf.read_metrics(job)["status"]) in NOT_DONE:
                bad.append(f"{job.relative_to(sweep_dir)} ({status})")
        return bad


def sweep_interrupted() -> None:
    """Ctrl-C or SIGTERM ended the sweep: tables for the jobs that finished, lock released."""
    if current is not None:
        current.finish()
