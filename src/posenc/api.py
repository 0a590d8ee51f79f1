"""Python API for notebooks: run a job through the CLI's own composition, read run folders.

from posenc import run, load_run, load_sweep, load_model
result = run(["encoding=learnable", "model=lstm"], output_dir="outputs/nb/learnable")
result.history.plot(x="epoch", y=["train_loss", "val_loss"])
trained = load_model("outputs/nb/learnable")  # the model itself, for inference
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from posenc.errors import check_tracking_uri
from posenc.jobs import preflight
from posenc.store import run_folder as rf
from posenc.store import run_lock
from posenc.store.history import read_history

log = logging.getLogger("posenc")
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # as Hydra's job log


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
        return self.metrics["status"]


def load_run(path: str | Path) -> RunResult:
    """Read a run folder (written by the CLI or by `run`). Raises RunFolderError, naming the
    file, for a folder that is not a run or holds a broken file."""
    path = Path(path)
    record = rf.read_record(path)
    return RunResult(
        path=path,
        metrics=rf.read_metrics(path),
        history=read_history(path).frame(),
        encoding_initial=rf.read_table(path, rf.ENCODING_INITIAL),
        encoding_final=rf.read_table(path, rf.ENCODING_FINAL),
        config=record["config"],
    )


def load_model(path: str | Path, device: str = "cpu"):
    """The trained model of a run folder, ready for inference: `.model` (eval mode),
    `.config` (the composed config it was trained with), `.spec` (what it reads and
    predicts), `.kind` (its data and evaluation) and `.test_metrics()` (the test set scored
    again). Raises RunFolderError, naming the file, for a folder without checkpoint.pt or
    one this posenc cannot build again (posenc.jobs.sampling.load_model)."""
    from posenc.jobs.sampling import load_model as load  # torch, on first use

    return load(path, device)


def load_sweep(path: str | Path) -> pd.DataFrame:
    """The results table of every run folder below `path` (what results.csv holds)."""
    from posenc.analysis.comparison import load_results

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such folder: {path}")
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is a file: give a sweep folder or a run folder")
    return load_results([path])


def run(
    overrides: Sequence[str] | Mapping[str, Any] = (),
    output_dir: str | Path | None = None,
    plots: bool | None = None,
) -> RunResult:
    """Run one job, composed exactly as `python -m posenc.train OVERRIDES` would compose it.

    output_dir defaults to outputs/runs/<time>_<overrides> under the current directory. A
    folder that holds a run of another config is refused (FileExistsError) unless
    "overwrite=true" is among the overrides; one that holds the completed run of this
    config is reused. Bad values raise posenc.errors.ConfigError before any training, and a
    config refused while it is built leaves no folder behind. plots=None follows the
    `plots` key (null: on, as for a single CLI run).
    """
    from posenc.config.compose import compose_run
    from posenc.errors import ConfigError

    if overrides is None or not isinstance(overrides, Sequence | Mapping):
        raise ConfigError(
            "overrides",
            f"{overrides!r}: give a list of 'key=value' strings, or [] for the defaults",
        )
    if output_dir is not None and str(output_dir).strip() == "":
        raise ConfigError(
            "output_dir", "is empty: give a folder, or None for outputs/runs/<time>_<overrides>"
        )
    if isinstance(overrides, str):
        raise TypeError(f"overrides: a list of strings, e.g. [{overrides!r}], not one string")
    if isinstance(overrides, Mapping):  # {"encoding": "learnable"}: the same overrides
        overrides = [f"{k}={v}" for k, v in overrides.items()]
    for value in overrides:
        if not isinstance(value, str):
            raise ConfigError("overrides", f"{value!r} is not a 'key=value' string")
    cfg, choices, run_dir = compose_run(list(overrides))
    check_tracking_uri(cfg.get("tracking_uri"))
    preflight.check_store(cfg)  # a dead store is said before the folder is claimed
    output_dir = Path(run_dir if output_dir is None else output_dir)
    from posenc.jobs.folder import run_in_folder  # torch, on first use
    from posenc.jobs.source import read_source

    source = read_source(cfg)  # before the folder exists: a refusal leaves none
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a name too long, a path through a file
        raise ConfigError("output_dir", f"cannot create {output_dir}: {e.strerror}") from None
    try:
        run_in_folder(
            cfg,
            output_dir,
            choices,
            overrides=list(overrides),
            plots=plots,
            around=lambda: job_log(output_dir),
            keep_refused=False,
            source=source,
        )
    except run_lock.RunFolderTaken as e:
        raise FileExistsError(str(e)) from None
    return load_run(output_dir)


@contextlib.contextmanager
def job_log(output_dir: Path) -> Iterator[None]:
    """The job's log in the folder's train.log, as the CLI writes it."""
    from posenc.store.files import LogFileHandler

    handler = LogFileHandler(output_dir / "train.log")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    log.addHandler(handler)  # removed below: one handler per run, never accumulated
    previous_level = log.level
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()
        log.setLevel(previous_level)
