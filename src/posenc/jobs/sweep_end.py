"""The Hydra callback of `python -m posenc.train -m`: a sweep takes its folder's lock when it
starts, and ends by comparing every run in the folder and saying which of its own jobs did
not complete."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from posenc.errors import ConfigError, check_tracking_uri
from posenc.jobs.exits import SweepIncomplete, SweepRefused
from posenc.jobs.preflight import check_store
from posenc.metrics import HEADLINE
from posenc.store import run_folder as rf
from posenc.store.status import NOT_DONE
from posenc.store.sweep_folder import Sweep

log = logging.getLogger("posenc")


def check_subdir(config: DictConfig) -> None:
    """hydra.sweep.subdir names a folder inside the sweep folder: never an absolute path or
    one that climbs out of it with '..'."""
    subdir = OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir")
    parts = Path(str(subdir or "")).parts
    if Path(str(subdir or "")).is_absolute() or ".." in parts:
        raise ConfigError(
            "hydra.sweep.subdir",
            f"{subdir!r} leaves the sweep folder {config.hydra.sweep.dir}; a job's folder is "
            "a name inside it (the default: the job's number and overrides)",
        )


def check_launcher(config: DictConfig) -> None:
    """Launcher values that would fail inside the launcher, refused here in one line."""
    from omegaconf import OmegaConf

    n_jobs = OmegaConf.select(config, "hydra.launcher.n_jobs", default=None)
    if n_jobs == 0:
        raise ConfigError(
            "hydra.launcher.n_jobs",
            "0 runs no job: give the number of jobs at once (or -1: one per core)",
        )


class SweepEnd(Callback):
    """Compare the sweep folder's runs (results.csv, summary.csv, printed table), draw the
    sweep plots, then raise SweepIncomplete when a job of this sweep failed, was refused its
    folder, or left no metrics.json (killed, out of memory). A diverged job is a result.

    posenc's jobs report failure in metrics.json instead of raising, because Hydra 1.3 skips
    on_multirun_end after a job raised: so the tables exist for a sweep with failures too.
    posenc's sweepers call `on_multirun_interrupted` on Ctrl-C or SIGTERM.
    """

    def __init__(self, plots: bool = True, metric: str | None = None):
        self.plots = plots
        self.metric = metric
        self.sweep: Sweep | None = None
        self.bar = None
        self.objective: str | None = None  # a search's first objective: the tables' sort

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_launcher(config)
            check_subdir(config)
            check_tracking_uri(config.get("tracking_uri"))
            check_store(config)  # once, before any job: a dead store costs seconds, not a sweep
            self.objective = sort_objective(config)
            self.sweep = Sweep.begin(Path(config.hydra.sweep.dir))
        except ConfigError as e:
            raise SweepRefused(e) from None
        from posenc.progress import progress

        self.bar = progress(total=planned_jobs(config), unit="job", desc="sweep")

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        """Called where the job ran: in this process for Hydra's basic launcher (the bar
        counts them), in the workers of the others (the bar stays at 0 there)."""
        if self.bar is not None:
            self.bar.update(1)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = self.sweep.path
        bad = self.finish(
            config.get("tracking"), config.get("tracking_uri"), config.get("tracking_timeout")
        )
        if bad:
            log.error("%d job(s) did not complete in %s: %s", len(bad), sweep_dir, ", ".join(bad))
            raise SweepIncomplete(bad)

    def on_multirun_interrupted(self, config: DictConfig, **kwargs: Any) -> None:
        """Ctrl-C or SIGTERM ended the sweep: tables for the jobs that finished, and the
        command that finishes it (its completed jobs reused, its interrupted ones continued)."""
        if self.sweep is not None:
            path = self.sweep.path
            self.finish()
            print(
                f"interrupted; to finish this sweep, run:\n  {resume_command(path)}",
                file=sys.stderr,
                flush=True,
            )

    def on_multirun_refused(self, config: DictConfig, **kwargs: Any) -> None:
        """The sweeper refused the sweep before its first job: the folder is free again."""
        if self.sweep is not None:
            self.sweep.end()
        if self.bar is not None:
            self.bar.close()

    def finish(
        self, tracker: str | None = None, uri: str | None = None, timeout: float | None = None
    ) -> list[str]:
        """Write the tables and figures of every run in the folder, release the lock; return
        this sweep's jobs that did not complete."""
        sweep = self.sweep
        jobs, refused = sweep.jobs()
        try:
            from posenc.analysis import tables

            tables.of_sweep(sweep.path, self.metric, self.objective, self.plots)
            if tracker == "mlflow" and jobs:  # one process writes the store, after the jobs
                from posenc.store.tracking import export_quietly

                export_quietly(jobs, uri, timeout)
        except Exception:  # the jobs' results stay on disk; compare can be re-run by hand
            log.exception("comparing the sweep in %s failed", sweep.path)
        finally:
            sweep.end()
            self.sweep = None
            if self.bar is not None:
                self.bar.close()
        bad = [f"{job.relative_to(sweep.path)} (refused)" for job, _ in refused]
        for job in jobs:
            if (status := rf.read_metrics(job)["status"]) in NOT_DONE:
                bad.append(f"{job.relative_to(sweep.path)} ({status})")
        return bad


def resume_command(sweep_dir: Path, argv: list[str] | None = None) -> str:
    """This command again with the sweep's folder given absolutely (any given replaced)."""
    import shlex

    args = list(sys.argv[1:] if argv is None else argv)
    args = [a for a in args if not a.lstrip("+~").startswith("hydra.sweep.dir=")]
    if "-m" not in args and "--multirun" not in args:
        args.insert(0, "-m")
    args.append(f"hydra.sweep.dir={Path(sweep_dir).resolve()}")
    return shlex.join(["python", "-m", "posenc.train", *args])


def sort_objective(config: DictConfig) -> str | None:
    """The metric a search chose (its first objective) sorts the sweep's tables; None for
    the default objective, whose table keeps the usual headline (score for token tasks).
    An objective that is no metric refuses the sweep before its first job."""
    from posenc.config.objective import names

    first = names(config.get("objective", HEADLINE))[0]  # a misspelt one: refused here
    return None if first == HEADLINE else first


def planned_jobs(config: DictConfig) -> int | None:
    """How many jobs the sweep's overrides make (the product of each swept key's values), or
    the trials of a search; None when that cannot be told in advance."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        if (trials := OmegaConf.select(config, "hydra.sweeper.n_trials")) is not None:
            return int(trials)
        overrides = OverridesParser.create().parse_overrides(list(config.hydra.overrides.task))
        total = 1
        for o in overrides:
            if o.is_sweep_override():
                total *= len(list(o.sweep_string_iterator()))
        return total
    except Exception:  # interval sweeps and the like have no count
        return None
