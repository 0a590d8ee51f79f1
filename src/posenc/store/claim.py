"""Claiming a run folder: the one rule for a folder that may hold a run (reuse, continue,
rerun, overwrite or refuse), for single runs and resumed sweeps alike, and what makes two
configs the same experiment."""

from __future__ import annotations

import enum
import json
import logging
import os
from pathlib import Path

from posenc.store import files
from posenc.store.run_folder import (
    CHECKPOINT,
    ENCODING_FINAL,
    ENCODING_INITIAL,
    FIGURES,
    HISTORY,
    HYDRA,
    LENGTH_EVAL,
    LOG,
    METRICS,
    RUN,
    VOCABULARY,
    RunFolderError,
    read_metrics,
    read_record,
)
from posenc.store.run_lock import RunFolderTaken
from posenc.store.status import Status

log = logging.getLogger("posenc")

# Keys that change how a job runs, not what it computes: ignored when comparing configs,
# and left out of a sweep job's folder name (conf/config.yaml reads this list). objective:
# what a search reads from a run; tracking: where its results are copied.
NOT_THE_EXPERIMENT = (
    "overwrite",
    "resume",
    "plots",
    "print_config",
    "tracking",
    "tracking_uri",
    "tracking_timeout",
    "objective",
    "required",  # what a preset asks for: a check, not the experiment
)


class Claim(enum.Enum):
    NEW = "new"  # nothing there: write the run
    RERUN = "rerun"  # the same config, not completed (or resume=false): write it again
    REUSE = "reuse"  # the same config, completed: its result stands
    CONTINUE = "continue"  # the same config, interrupted with a checkpoint: go on from it
    OVERWRITE = "overwrite"  # another run, replaced because overwrite=true


def _experiment(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in NOT_THE_EXPERIMENT}


def config_hash(config: dict) -> str:
    """12 hex digits naming an experiment's config (the keys of NOT_THE_EXPERIMENT left out):
    a run started from another (init_from) records its source's, to tell when it changed."""
    import hashlib

    text = json.dumps(_experiment(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def holds_something(run_dir: Path) -> bool:
    return any((Path(run_dir) / name).exists() for name in (RUN, METRICS, HISTORY))


def claim(
    run_dir: Path,
    config: dict,
    overwrite: bool = False,
    resume: bool = True,
    source: dict | None = None,
    read_only: bool = False,
) -> Claim:
    """The one rule for a folder that may hold a run, for single runs and resumed sweeps
    alike. `source`: the run it starts from (init_from: folder, config hash, step), part of
    what makes it the same run. Raises RunFolderTaken for a run of another config (unless
    overwrite); a claim other than REUSE or CONTINUE (an interrupted or incomplete run of
    this config that has a checkpoint) clears the files of the run that was there.
    `read_only` (held() could not lock it): REUSE or RunFolderTaken, nothing written."""
    run_dir = Path(run_dir)
    cannot_write = RunFolderTaken(
        f"{run_dir} cannot be written (permission denied); nothing was changed"
    )
    if not holds_something(run_dir):
        if read_only or (run_dir.is_dir() and not os.access(run_dir, os.W_OK | os.X_OK)):
            raise cannot_write
        check_writable(run_dir)
        return Claim.NEW
    try:
        record = read_record(run_dir)
        same = _experiment(record["config"]) == _experiment(config)
        same = same and record.get("init_from") == source
    except RunFolderError:
        same = False
    status = read_metrics(run_dir)["status"]
    if same and status == Status.COMPLETED and resume and not overwrite:
        log.info("%s already holds this completed run (same config): reused", run_dir)
        return Claim.REUSE  # needs no write: an archived, read-only folder is reused too
    if read_only or not os.access(run_dir, os.W_OK | os.X_OK):
        raise cannot_write
    unfinished = (Status.INTERRUPTED, Status.INCOMPLETE)
    if same and status in unfinished and resume and not overwrite:
        if (run_dir / CHECKPOINT).is_file():
            check_writable(run_dir)
            log.info("%s holds this run, %s: continued from its checkpoint", run_dir, status)
            return Claim.CONTINUE
    if not (same or overwrite):
        raise RunFolderTaken(
            f"{run_dir} already holds a run of another config (status {status}); nothing was "
            "written. Choose a new folder, or add overwrite=true to replace it"
        )
    check_writable(run_dir)  # before anything is cleared: a refusal loses nothing
    clear(run_dir)
    return Claim.RERUN if same else Claim.OVERWRITE


WRITTEN = (RUN, HISTORY, METRICS, LENGTH_EVAL, ENCODING_INITIAL, ENCODING_FINAL, VOCABULARY)
WRITTEN = (*WRITTEN, CHECKPOINT, *FIGURES)  # every file of the contract a job writes


def check_writable(run_dir: Path) -> None:
    """Every file a job writes (and the temporary names it writes them under) is a plain
    file or absent, never a link (it would be followed outside the folder): raises
    RunFolderTaken before a claim clears or writes anything."""
    temporary = (f"{METRICS}.tmp", *(f".{n}.partial" for n in (HISTORY, CHECKPOINT, VOCABULARY)))
    hydra = Path(run_dir) / HYDRA
    if hydra.is_symlink() or (hydra.exists() and not hydra.is_dir()):
        raise RunFolderTaken(
            f"{hydra} is {'a symbolic link' if hydra.is_symlink() else 'a file'} where the run "
            "writes Hydra's record folder; move it away and run again; nothing was changed"
        )
    for name in (*WRITTEN, LOG, *temporary):
        try:
            files.check_plain(Path(run_dir) / name)
        except files.NotAPlainFile as e:
            raise RunFolderTaken(
                f"{e.path} is {e.what} where the run writes a file; move it away and run "
                "again; nothing was changed"
            ) from None


def clear(run_dir: Path) -> None:
    """Remove the files this contract writes (figures too), so an old run never mixes in;
    anything else in the folder (a user's notes) is left alone."""
    for name in WRITTEN:
        (Path(run_dir) / name).unlink(missing_ok=True)
        for partial in Path(run_dir).glob(f".{name}.*"):  # left by a write a kill cut short
            partial.unlink(missing_ok=True)
    log_file = Path(run_dir) / LOG
    if log_file.is_file() and not log_file.is_symlink():  # emptied: logging may hold it open
        os.truncate(log_file, 0)
