"""Python API for notebooks: run a job through the CLI's own composition, read run folders.

from posenc import run, load_run, load_sweep
result = run(["encoding=learnable", "model=lstm"], output_dir="outputs/nb/learnable")
result.history.plot(x="epoch", y=["train_loss", "val_loss"])
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from posenc import artifacts

log = logging.getLogger("posenc")


@dataclass
class RunResult:
    path: Path
    metrics: dict[str, Any]
    history: pd.DataFrame
    encoding_initial: np.ndarray | None = None
    encoding_final: np.ndarray | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.metrics.get("status", "incomplete")


def _load_array(path: Path) -> np.ndarray | None:
    return np.load(path) if path.is_file() else None


def load_run(path: str | Path) -> RunResult:
    """Read a run folder (written by the CLI or by `run`)."""
    path = Path(path)
    metrics_path = path / artifacts.METRICS
    if not metrics_path.is_file() and not (path / ".hydra").is_dir():
        raise FileNotFoundError(f"{path} is not a posenc run folder (no metrics.json, no .hydra/)")
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    history_path = path / artifacts.HISTORY
    history = (
        pd.read_csv(history_path)
        if history_path.is_file()
        else pd.DataFrame(columns=list(artifacts.HISTORY_COLUMNS))
    )
    config_path = path / ".hydra" / "config.yaml"
    config = OmegaConf.to_container(OmegaConf.load(config_path)) if config_path.is_file() else {}
    return RunResult(
        path=path,
        metrics=metrics,
        history=history,
        encoding_initial=_load_array(path / artifacts.ENCODING_INITIAL),
        encoding_final=_load_array(path / artifacts.ENCODING_FINAL),
        config=config,
    )


def load_sweep(path: str | Path) -> pd.DataFrame:
    """The results table of every run folder below `path` (what results.csv holds)."""
    from posenc.compare import load_results

    return load_results([Path(path)])


def run(
    overrides: Sequence[str] = (),
    output_dir: str | Path | None = None,
    plots: bool | None = None,
) -> RunResult:
    """Run one job, composed exactly as `python -m posenc.train OVERRIDES` would compose it.

    output_dir defaults to outputs/runs/<time> under the current directory. A folder that
    already holds a run is refused, so nothing already written is lost. Bad values raise
    posenc.config.ConfigError before any training. plots=None follows the `plots` key
    (null: on, as for a single CLI run).
    """
    from posenc.config import compose_job
    from posenc.job import run_job

    cfg, choices = compose_job(list(overrides))
    if output_dir is None:
        output_dir = Path("outputs", "runs", datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f"))
    output_dir = Path(output_dir)
    if (output_dir / artifacts.METRICS).exists() or (output_dir / artifacts.HISTORY).exists():
        raise FileExistsError(f"{output_dir} already holds a run; choose another output_dir")
    hydra_dir = output_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, hydra_dir / "config.yaml")
    OmegaConf.save(OmegaConf.create(list(overrides)), hydra_dir / "overrides.yaml")

    handler = logging.FileHandler(output_dir / "train.log")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    log.addHandler(handler)  # removed below: one handler per run, never accumulated
    previous_level = log.level
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        run_job(cfg, output_dir, choices, plots=plots)
    finally:
        log.removeHandler(handler)
        handler.close()
        log.setLevel(previous_level)
    return load_run(output_dir)
