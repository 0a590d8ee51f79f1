"""Hydra callbacks: what happens when a sweep ends."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from posenc import run_folder as rf
from posenc.run_folder import Status

log = logging.getLogger("posenc")

NOT_DONE = {Status.FAILED, Status.INCOMPLETE, Status.CORRUPT}
sweeps_ended = 0  # read by posenc.train: an exit 1 after a sweep ended is a failed job


class SweepEnd(Callback):
    """Compare the sweep's runs (results.csv, summary.csv, printed table), draw the sweep
    plots, then exit non-zero when any job failed or left no metrics.json (killed, out of
    memory). A diverged job is a result, not a failure.

    posenc's jobs report failure in metrics.json instead of raising, because Hydra 1.3 skips
    on_multirun_end after a job raised: so the tables exist for a sweep with failures too.
    """

    def __init__(self, plots: bool = True, metric: str = "final_val_loss"):
        self.plots = plots
        self.metric = metric

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global sweeps_ended
        sweeps_ended += 1
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            from posenc.cli import print_summary
            from posenc.compare import compare, save_tables

            results, summary = compare([sweep_dir], metric=self.metric)
            if not results.empty:
                print_summary(sweep_dir, results, summary, self.metric)
                save_tables(sweep_dir, results, summary)
                if self.plots:
                    from posenc.plots import plot_sweep

                    plot_sweep(sweep_dir, results, summary, self.metric)
        except Exception:  # the jobs' results stay on disk; compare can be re-run by hand
            log.exception("comparing the sweep in %s failed", sweep_dir)
        bad = [
            f"{job.relative_to(sweep_dir)} ({status})"
            for job in sorted(h.parent for h in sweep_dir.rglob(".hydra"))
            if (status := rf.read_metrics(job)["status"]) in NOT_DONE
        ]
        if bad:
            log.error("%d job(s) did not complete in %s: %s", len(bad), sweep_dir, ", ".join(bad))
            sys.exit(1)
