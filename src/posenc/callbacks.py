"""Hydra callbacks: what happens when a sweep ends."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("posenc")


class SweepEnd(Callback):
    """Compare the sweep's runs (results.csv, summary.csv, printed table), draw the sweep
    plots, then exit non-zero when any job failed (a diverged job is a result, not a failure).

    posenc's jobs report failure in metrics.json instead of raising, because Hydra 1.3 skips
    on_multirun_end after a job raised: so the tables exist for a sweep with failures too.
    """

    def __init__(self, plots: bool = True, metric: str = "final_val_loss"):
        self.plots = plots
        self.metric = metric

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            from posenc.compare import compare

            results, _ = compare([sweep_dir], metric=self.metric)
            if self.plots and not results.empty:
                from posenc.plots import plot_sweep

                plot_sweep(sweep_dir, metric=self.metric, results=results)
        except Exception:  # the jobs' results stay on disk; compare can be re-run by hand
            log.exception("comparing the sweep in %s failed", sweep_dir)
        failed = [
            p.parent.name
            for p in sorted(sweep_dir.glob("*/metrics.json"))
            if _status(p) in ("failed", "unreadable")
        ]
        if failed:
            log.error("%d job(s) failed in %s: %s", len(failed), sweep_dir, ", ".join(failed))
            sys.exit(1)


def _status(metrics_path: Path) -> str:
    try:
        return json.loads(metrics_path.read_text())["status"]
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable"
