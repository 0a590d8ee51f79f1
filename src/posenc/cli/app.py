"""The Hydra application behind `python -m posenc.train`: one job per call of `main`.

It reports what happened only by returning (a sweep goes on) or raising (posenc.jobs.exits maps
the exception to the exit code): no exit codes here.
"""

from __future__ import annotations

import logging
import os
import sys
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


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def main(cfg: DictConfig) -> float | None:
    hc = HydraConfig.get()
    sweep_dir = Path(hc.sweep.dir) if hc.mode == RunMode.MULTIRUN else None
    run_dir = Path(hc.runtime.output_dir)
    overrides = OmegaConf.to_container(hc.overrides.task, resolve=False)  # as typed
    try:  # before run.yaml could keep a password; said as JobEnded so Hydra logs nothing
        check_tracking_uri(cfg.get("tracking_uri"))
        check_resolves(cfg)
        if sweep_dir is None:  # a sweep probes the store once, at its start (SweepEnd)
            preflight.check_store(cfg)
    except ConfigError as e:
        if sweep_dir is None:  # nothing of it was written but Hydra's log: no folder left
            rf.remove_if_only_log(run_dir)
        raise JobEnded(ExitCode.CONFIG_ERROR, str(e)) from None
    try:
        source = read_source(cfg)  # before anything is written
    except ConfigError as e:  # this job's own value: a sweep's other jobs still run
        return refused_source(e, sweep_dir, run_dir, overrides)
    started = []

    def on_claim(claim: claiming.Claim) -> None:
        if sweep_dir is not None:
            sweep_folder.record_job(sweep_dir, run_dir, overrides, claim.value)
        if claim != claiming.Claim.REUSE:
            started.append(claim)
            save_hydra_record(run_dir, cfg)
            if cfg.print_config:
                config = OmegaConf.to_yaml(cfg, resolve=True)
                print(f"composed config of {run_dir}:\n{config}", flush=True)

    try:
        if sweep_dir is not None and not run_dir.resolve().is_relative_to(sweep_dir.resolve()):
            raise run_lock.RunFolderTaken(
                f"{run_dir} is outside the sweep folder (hydra.sweep.subdir)"
            )
        claim, metrics = run_in_folder(
            *(cfg, run_dir, hc.runtime.choices),
            overrides=overrides,
            plots=cfg.plots if cfg.plots is not None else sweep_dir is None,
            parallel_jobs=_parallel_jobs(hc),
            bar=sweep_dir is None,  # a sweep shows a bar of its jobs instead
            on_claim=on_claim,
            keep_refused=sweep_dir is not None,  # a sweep's tables show the refusal
            source=source,
        )
    except run_lock.RunFolderTaken as e:
        return refused(e, sweep_dir, run_dir, overrides)
    except Exception as e:  # said in the log and in metrics.json; a sweep goes on
        if not started or sweep_dir is not None:
            if started:
                return None
            raise
        code = ExitCode.CONFIG_ERROR if isinstance(e, ConfigError) else ExitCode.FAILED
        raise JobEnded(code) from None
    if started and cfg.tracking and sweep_dir is None:  # a sweep exports once, at its end
        from posenc.store.tracking import export_quietly

        export_quietly([run_dir], cfg.tracking_uri, cfg.tracking_timeout)
    return result(metrics, cfg, run_dir)


def refused_source(
    error: ConfigError, sweep_dir: Path | None, run_dir: Path, overrides: list
) -> None:
    """init_from that cannot be started from: the single run ends in one line, leaving no
    folder; in a sweep the job is recorded refused and the others run."""
    rf.remove_if_only_log(run_dir)
    if sweep_dir is None:
        raise JobEnded(ExitCode.CONFIG_ERROR, str(error)) from None
    print(str(error), file=sys.stderr)
    sweep_folder.record_job(sweep_dir, run_dir, overrides, "refused", str(error))
    return None


def refused(error: Exception, sweep_dir: Path | None, run_dir: Path, overrides: list) -> None:
    """A folder that is not this job's: the single run ends in one line; a sweep records it
    and goes on (said on stderr: the folder's own log stays as it was)."""
    if sweep_dir is None:
        raise JobEnded(ExitCode.CONFIG_ERROR, f"hydra.run.dir: {error}") from None
    print(f"hydra.sweep.dir: {error}", file=sys.stderr)
    sweep_folder.record_job(sweep_dir, run_dir, overrides, "refused", str(error))
    return None
