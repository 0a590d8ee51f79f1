"""The Hydra application behind `python -m posenc.train`: one job per call of `main`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from posenc import run_folder as rf
from posenc.compose import config_dir
from posenc.errors import ConfigError
from posenc.job import DiskFull, run_job
from posenc.schemas import register_schemas
from posenc.status import Status

log = logging.getLogger("posenc")
register_schemas(config_dir())

EXIT_FAILED, EXIT_CONFIG_ERROR, EXIT_INTERRUPTED = 1, 2, 130
jobs_started = 0  # Hydra exits 1 for its own errors too: none started means a config mistake


def save_hydra_record(run_dir: Path, cfg: DictConfig) -> None:
    """.hydra/ as Hydra writes it (config, hydra, overrides), written only once the folder
    is ours: Hydra's own writing (hydra.output_subdir) would replace another run's."""
    hc = HydraConfig.instance().cfg
    folder = run_dir / ".hydra"
    folder.mkdir(exist_ok=True)
    OmegaConf.save(cfg, folder / "config.yaml")
    OmegaConf.save(hc, folder / "hydra.yaml")
    OmegaConf.save(hc.hydra.overrides.task, folder / "overrides.yaml")


def result(metrics: dict) -> float | None:
    """What a job returns to Hydra (and to a search sweeper): the final validation loss of a
    completed run; None for a run that failed, diverged or was refused."""
    value = metrics.get("final_val_loss")
    return value if metrics.get("status") == Status.COMPLETED and value is not None else None


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def main(cfg: DictConfig) -> float | None:
    global jobs_started
    jobs_started += 1
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    run_dir = Path(hc.runtime.output_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    try:
        claim = rf.claim(run_dir, config, cfg.overwrite, cfg.resume)
    except rf.RunFolderTaken as e:  # said on stderr: the folder's own log stays as it was
        key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
        print(f"{key}: {e}", file=sys.stderr)
        if multirun:
            rf.write_refused(run_dir, str(e))
            return None
        sys.exit(EXIT_CONFIG_ERROR)
    if claim == rf.Claim.REUSE:
        log.info("%s already holds this completed run (same config): reused", run_dir)
        return result(rf.read_metrics(run_dir))
    save_hydra_record(run_dir, cfg)
    try:
        plots = cfg.plots if cfg.plots is not None else not multirun
        metrics = run_job(cfg, run_dir, hc.runtime.choices, plots, list(hc.overrides.task))
    except ConfigError as e:
        log.error("%s", e)
        if multirun:  # the job's metrics.json says failed; the sweep goes on
            return None
        sys.exit(EXIT_CONFIG_ERROR)
    except KeyboardInterrupt:  # outside the training loop: metrics.json says interrupted
        sys.exit(EXIT_INTERRUPTED)
    except DiskFull:  # said in the log and in metrics.json where it fitted
        if multirun:
            return None
        sys.exit(EXIT_FAILED)
    except Exception:
        if multirun:  # traceback already in the job's log; let the other jobs run
            return None
        raise
    if metrics["status"] == Status.INTERRUPTED:
        sys.exit(EXIT_INTERRUPTED)  # Ctrl-C ends a sweep too
    if cfg.tracking and not multirun:  # a sweep exports once, at its end (SweepEnd)
        from posenc.export import export_quietly

        export_quietly([run_dir], cfg.tracking_uri)
    return result(metrics)
