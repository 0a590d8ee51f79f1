"""The entrypoint: `python -m posenc.train [overrides]` runs one job, `-m` a sweep."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from posenc.config import ConfigError, config_dir, register_schemas
from posenc.job import run_job
from posenc.training import INTERRUPTED

log = logging.getLogger("posenc")
register_schemas()

EXIT_CONFIG_ERROR, EXIT_INTERRUPTED = 2, 130


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def main(cfg: DictConfig) -> str:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        plots = cfg.plots if cfg.plots is not None else not multirun
        metrics = run_job(cfg, Path(hc.runtime.output_dir), hc.runtime.choices, plots)
    except ConfigError as e:
        log.error("%s", e)
        if multirun:  # the job's metrics.json says failed; the sweep goes on
            return "failed"
        sys.exit(EXIT_CONFIG_ERROR)
    except KeyboardInterrupt:  # outside the training loop: metrics.json says interrupted
        sys.exit(EXIT_INTERRUPTED)
    except Exception:
        if multirun:  # traceback already in the job's log; let the other jobs run
            return "failed"
        raise
    if metrics["status"] == INTERRUPTED:
        sys.exit(EXIT_INTERRUPTED)  # Ctrl-C ends a sweep too
    return metrics["status"]


def cli() -> None:
    main()


if __name__ == "__main__":
    main()
