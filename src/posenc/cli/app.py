"""The Hydra application behind `python -m posenc.train`: one job per call of `main`.

It reports what happened only by returning (a sweep goes on) or raising (posenc.jobs.exits maps
the exception to the exit code): no exit codes here.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from posenc.config import objective
from posenc.config.compose import check_resolves, config_dir, register_resolvers
from posenc.config.schemas import register_schemas
from posenc.errors import ConfigError, check_tracking_uri
from posenc.jobs import preflight
from posenc.jobs.exits import ExitCode, JobEnded
from posenc.jobs.folder import run_in_folder
from posenc.jobs.source import read_source
from posenc.store import claim as claiming
from posenc.store import run_folder as rf
from posenc.store import run_lock, sweep_folder
from posenc.store.status import Status

log = logging.getLogger("posenc")
register_schemas(config_dir())
register_resolvers()


def save_hydra_record(run_dir: Path, cfg: DictConfig) -> None:
    """.hydra/ as Hydra writes it (config, hydra, overrides), written only once the folder
    is ours: Hydra's own writing (hydra.output_subdir) would replace another run's."""
    from posenc.store.files import write_text

    hc = HydraConfig.instance().cfg
    folder = run_dir / rf.HYDRA  # a plain folder (the claim refused a link there)
    folder.mkdir(exist_ok=True)
    for name, node in (("config", cfg), ("hydra", hc), ("overrides", hc.hydra.overrides.task)):
        write_text(folder / f"{name}.yaml", OmegaConf.to_yaml(node))  # a link is replaced


def _parallel_jobs(hc: DictConfig) -> int:
    """How many jobs a parallel launcher runs at once on this machine (joblib's n_jobs;
    -1: one per core)."""
    n = OmegaConf.select(hc, "launcher.n_jobs", default=1)
    if n == -1:
        return os.cpu_count() or 1
    return max(1, int(n or 1))


def result(metrics: dict, cfg: DictConfig, run_dir: Path) -> float | list[float] | None:
    """What a job returns to Hydra (and to a search sweeper): the value of `objective` (a
    list for several) of a completed run; None, with the reason in the log, for a run that
    failed, diverged or was refused, or whose objective has no value."""
    values, reason = objective.outcome(metrics, cfg.objective, run_dir)
    if reason is not None and metrics.get("status") == Status.COMPLETED:
        log.warning("objective: %s", reason)
    return objective.value(values, cfg.objective)


@dataclass(frozen=True)
class Where:
    """Where a job runs: its folder, its sweep's (None for a single run), its overrides."""

    run_dir: Path
    sweep_dir: Path | None
    overrides: list

    @property
    def single(self) -> bool:
        return self.sweep_dir is None

    def record(self, status: str, message: str | None = None) -> None:
        """In the sweep's jobs table (a sweep's job only)."""
        sweep_folder.record_job(self.sweep_dir, self.run_dir, self.overrides, status, message)


CHECKS, SOURCE, CLAIM, STARTED = "checks", "source", "claim", "started"  # how far a job got


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def main(cfg: DictConfig) -> float | None:
    hc = HydraConfig.get()
    where = Where(
        Path(hc.runtime.output_dir),
        Path(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None,
        OmegaConf.to_container(hc.overrides.task, resolve=False),  # as typed
    )
    phase = CHECKS
    try:
        check_tracking_uri(cfg.get("tracking_uri"))  # before run.yaml could keep a password
        check_resolves(cfg)
        if where.single:  # a sweep probes the store once, at its start (SweepEnd)
            preflight.check_store(cfg)
        phase = SOURCE
        source = read_source(cfg)  # before anything is written

        def on_claim(claim: claiming.Claim) -> None:
            nonlocal phase
            if not where.single:
                where.record(claim.value)
            if claim != claiming.Claim.REUSE:
                phase = STARTED
                save_hydra_record(where.run_dir, cfg)
                if cfg.print_config:
                    config = OmegaConf.to_yaml(cfg, resolve=True)
                    print(f"composed config of {where.run_dir}:\n{config}", flush=True)

        phase = CLAIM
        if not where.single and not where.run_dir.resolve().is_relative_to(
            where.sweep_dir.resolve()
        ):
            raise run_lock.RunFolderTaken(
                f"{where.run_dir} is outside the sweep folder (hydra.sweep.subdir)"
            )
        claim, metrics = run_in_folder(
            *(cfg, where.run_dir, hc.runtime.choices),
            overrides=where.overrides,
            plots=cfg.plots if cfg.plots is not None else where.single,
            parallel_jobs=_parallel_jobs(hc),
            bar=where.single,  # a sweep shows a bar of its jobs instead
            on_claim=on_claim,
            keep_refused=not where.single,  # a sweep's tables show the refusal
            source=source,
        )
    except Exception as e:
        return ended(e, phase, where)
    if phase == STARTED and cfg.tracking and where.single:  # a sweep exports at its end
        from posenc.store.tracking import export_quietly

        export_quietly([where.run_dir], cfg.tracking_uri, cfg.tracking_timeout)
    return result(metrics, cfg, where.run_dir)


def ended(error: Exception, phase: str, where: Where) -> None:
    """The one failure path of a job, by how far it got: what its folder keeps, what it
    records in its sweep, and the one line it ends with. A single run raises JobEnded (its
    exit code; Hydra logs nothing over it); a sweep's job returns None and the sweep goes on,
    except for a mistake in the config itself, which every job would repeat.

    - checks (the tracking URI, the interpolations, the store): the single run leaves no
      folder; the sweep stops.
    - source (init_from): no folder either way; a sweep records the job refused.
    - claim (a folder that is not this job's): the folder stays as it was; a sweep records it.
    - after the claim: the log and metrics.json already say why.
    """
    if phase == CHECKS and isinstance(error, ConfigError):
        if where.single:  # nothing of it was written but Hydra's log
            rf.remove_if_only_log(where.run_dir)
        raise JobEnded(ExitCode.CONFIG_ERROR, str(error)) from None
    if phase == SOURCE and isinstance(error, ConfigError):
        rf.remove_if_only_log(where.run_dir)
        return refuse(where, str(error))
    if isinstance(error, run_lock.RunFolderTaken):
        return refuse(where, str(error), folder_key=True)
    if phase != STARTED:
        raise error
    if not where.single:  # said in the log and in metrics.json
        return None
    code = ExitCode.CONFIG_ERROR if isinstance(error, ConfigError) else ExitCode.FAILED
    raise JobEnded(code) from None


def refuse(where: Where, message: str, folder_key: bool = False) -> None:
    """A job refused before it trained: the single run ends in one line; a sweep records it
    refused and goes on (said on stderr: the folder's own log stays as it was). With
    `folder_key` the line names the key of the folder (hydra.run.dir / hydra.sweep.dir)."""
    key = "hydra.run.dir" if where.single else "hydra.sweep.dir"
    line = f"{key}: {message}" if folder_key else message
    if where.single:
        raise JobEnded(ExitCode.CONFIG_ERROR, line) from None
    print(line, file=sys.stderr)
    where.record("refused", message)
    return None
