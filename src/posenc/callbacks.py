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
    """Exit non-zero when any job of the sweep failed (a diverged job is a result)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        failed = []
        for metrics_path in sorted(sweep_dir.glob("*/metrics.json")):
            try:
                status = json.loads(metrics_path.read_text())["status"]
            except (OSError, ValueError, KeyError):
                status = "unreadable"
            if status in ("failed", "unreadable"):
                failed.append(metrics_path.parent.name)
        if failed:
            log.error("%d job(s) failed in %s: %s", len(failed), sweep_dir, ", ".join(failed))
            sys.exit(1)
