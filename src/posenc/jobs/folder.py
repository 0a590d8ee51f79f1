"""One job in its folder, for the Hydra app and for `posenc.run` alike: hold the folder (a
lock no other process can take while this one lives), claim it (reuse the completed run of
this config, continue an interrupted one, refuse another config's), then run and record the
job. The callers only say what differs: how the refusal is reported, what to write first."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from posenc.errors import ConfigError
from posenc.jobs.job import run_job
from posenc.jobs.source import Source, absolute
from posenc.store import claim as claiming
from posenc.store import run_folder as rf
from posenc.store import run_lock

log = logging.getLogger("posenc")


def run_in_folder(
    cfg: DictConfig,
    run_dir: Path,
    choices: Mapping[str, Any],
    overrides: Sequence[str] = (),
    plots: bool | None = None,
    parallel_jobs: int = 1,
    bar: bool = True,
    on_claim: Callable[[claiming.Claim], None] | None = None,
    around: Callable[[], contextlib.AbstractContextManager] | None = None,
    keep_refused: bool = True,
    *,
    source: Source | None,
) -> tuple[claiming.Claim, dict[str, Any]]:
    """(how the folder was claimed, the run's metrics): a reused run's as they were, else
    those the job wrote. Raises run_folder.RunFolderTaken when the folder is another
    process's or holds another config's run (nothing in it changed); what run_job raises
    otherwise. `on_claim(claim)` runs once the folder is this job's, before it trains;
    `around()` wraps the job itself (a log file, say). `keep_refused=False` (a single run):
    a config refused while it is built leaves no folder behind, the refusal said in one
    line; a sweep keeps it, so that its tables show the failure. `source`: the run
    cfg.init_from names, read once by the caller (posenc.jobs.source.read_source, before
    anything is written) and passed down to the job; a changed source makes another run."""
    run_dir = Path(run_dir)
    refused = False
    absolute(cfg, source)
    identity = source.identity() if source is not None else None
    try:
        with run_lock.held(run_dir) as writable:  # this process's until the job ends
            config = OmegaConf.to_container(cfg, resolve=True)
            claim = claiming.claim(
                run_dir, config, cfg.overwrite, cfg.resume, identity, read_only=not writable
            )
            if on_claim is not None:
                on_claim(claim)
            if claim == claiming.Claim.REUSE:
                return claim, rf.read_metrics(run_dir)
            refused = not keep_refused and claim == claiming.Claim.NEW
            with around() if around is not None else contextlib.nullcontext():
                metrics = run_job(
                    cfg,
                    run_dir,
                    choices,
                    plots=plots,
                    overrides=list(overrides),
                    parallel_jobs=parallel_jobs,
                    epoch_bar=bar,
                    continuing=claim == claiming.Claim.CONTINUE,
                    source=source,
                )
    except ConfigError:
        if refused and refused_in_build(run_dir):  # the lock released: the folder can go
            rf.remove_refused(run_dir)
            log.info("refused before training: nothing was kept of %s", run_dir)
        raise
    return claim, metrics


def refused_in_build(run_dir: Path) -> bool:
    """The job was refused before anything trained (metrics.json names no failed step)."""
    metrics = rf.read_metrics(run_dir)
    return metrics.get("status") == "failed" and "failed_step" not in metrics
