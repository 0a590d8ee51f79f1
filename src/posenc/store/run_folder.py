"""The run folder: the single source of truth of a job, and this module its only writer
and reader.

- `run.yaml`, when the job starts: `overrides` (as given), `choices` (the option of each
  group), `config` (the composed config) and `environment` (versions, git commit, machine:
  posenc.store.environment).
- `history.csv`, a row per epoch or evaluation round, flushed, in the columns its kind
  declares (posenc.metrics.KindSpec.history: the x axis first, `seconds` last).
- `encoding_initial.npy`, `encoding_final.npy`, before and after training: what
  `encoding.table()` returns, float32.
- `length_eval.csv` (with eval.lengths, or eval.max_length for a token task):
  `length,loss,accuracy,status,reason,bpc,scaling,exact_match`, one row per length (accuracy
  and exact_match empty for regression, bpc for all but text); rows with a `scaling` evaluate
  a RoPE run again under that scaling (eval.rope_scalings).
- `vocabulary.json` (runs of a corpus): the symbols in id order and the text's source.
- `checkpoint.pt`: the last training state
  (posenc.store.checkpoint), to continue an interrupted run and to sample from a trained one.
- `metrics.json`, last and atomically: `status` and the metrics; absent means `incomplete`.
- `train.log` (the log) and `.hydra/` (Hydra's own record of a CLI job).

A folder holding `run.yaml` is a run. Everything that reads runs (compare, plots, the
notebook API, the end-of-sweep callback) goes through the readers here, so a missing or
broken file means the same everywhere: no `metrics.json` is `incomplete`, an unreadable one
`corrupt`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from posenc.store import files
from posenc.store.status import Status

if TYPE_CHECKING:  # no torch or pandas import here: readers stay light
    import torch


RUN, HISTORY, METRICS = "run.yaml", "history.csv", "metrics.json"
LENGTH_EVAL = "length_eval.csv"
LENGTH_EVAL_COLUMNS = (
    *("length", "loss", "accuracy", "status", "reason", "bpc", "scaling"),
    "exact_match",  # token tasks (written after the others: older files stay readable)
)
ENCODING_INITIAL, ENCODING_FINAL = "encoding_initial.npy", "encoding_final.npy"
TIME_FORMAT = "%Y-%m-%d_%H-%M-%S_%f"  # outputs/runs/<time>_<overrides>, outputs/sweeps/<time>
LOG = "train.log"  # the job's log (Hydra's job name is train)
HYDRA = ".hydra"  # Hydra's own record of a CLI job
LENGTH_FIGURE = "length.png"  # the run's metric by evaluation length
FIGURES = ("encoding.png", "loss.png", LENGTH_FIGURE)
# history.csv's columns are each kind's (posenc.metrics.KindSpec.history): the first the
# x axis (epoch or step), `seconds` last


VOCABULARY = "vocabulary.json"  # text: the symbols in id order, and the text's source
CHECKPOINT = "checkpoint.pt"  # posenc.store.checkpoint
# libyaml when present: compare reads a thousand run.yaml files
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
log = logging.getLogger("posenc")


class RunFolderError(ValueError):
    """A run folder, or one of its files, that cannot be read: names the file."""


# ---------------------------------------------------------------- writing


def remove_refused(run_dir: Path) -> None:
    """A refused single run's files (run.yaml, metrics.json, its log, .hydra/, the tables
    and lock written before the refusal), then the folder if nothing else is in it: a config
    refused before training leaves no folder behind. Files of anyone else stay."""
    import shutil

    run_dir = Path(run_dir)
    for name in (RUN, METRICS, LOG, ENCODING_INITIAL, VOCABULARY):
        (run_dir / name).unlink(missing_ok=True)
    if not (run_dir / HYDRA).is_symlink():
        shutil.rmtree(run_dir / HYDRA, ignore_errors=True)
    with contextlib.suppress(OSError):  # another file there, or the folder already gone
        run_dir.rmdir()


def remove_if_only_log(run_dir: Path) -> None:
    """A folder that holds nothing but the job's log (Hydra's, of a run refused before it
    claimed the folder) goes; any other content keeps it whole."""
    run_dir = Path(run_dir)
    with contextlib.suppress(OSError):
        if {p.name for p in run_dir.iterdir()} == {LOG}:
            (run_dir / LOG).unlink()
            run_dir.rmdir()


def timestamp() -> str:
    """The name of a new run or sweep folder (sub-second digits: never shared)."""
    from datetime import datetime

    return datetime.now().strftime(TIME_FORMAT)


def write_record(
    run_dir: Path,
    overrides: Iterable[str],
    choices: dict,
    config: dict,
    environment: dict | None = None,
    source: dict | None = None,
) -> None:
    record = {"overrides": list(overrides), "choices": dict(choices), "config": config}
    if source is not None:  # init_from's run: its folder, config hash and step
        record["init_from"] = source
    if environment is not None:
        record["environment"] = environment
    text = yaml.dump(record, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    files.write_text(run_dir / RUN, text)


class HistoryWriter:
    """Appends one row per epoch (or evaluation round), unbuffered, so a crash or Ctrl-C
    keeps what was trained; a row that cannot be written whole (a full disk) is cut back,
    never left torn. `columns`: the kind's declared history, the record's fields in order."""

    def __init__(self, path: Path, columns: tuple[str, ...], after: int | None = None):
        """`after`: continue a run's file, keeping its rows up to this step or epoch (those a
        checkpoint holds) and dropping any later ones, which are trained again."""
        self.path, self.columns = path, columns
        header = ",".join(columns) + "\n"
        if after is None:
            self._file = files.open_writer(path)
            self._write(header)
            return
        lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
        if not lines or lines[0] != header:
            raise RunFolderError(f"{path}: not a history of columns {','.join(columns)}")
        kept = [line for line in lines[1:] if int(line.split(",", 1)[0]) <= after]
        files.write_text(path, header + "".join(kept))
        self._file = files.open_writer(path, append=True)

    def _write(self, text: str) -> None:
        start = self._file.tell()
        data = text.encode("utf-8")
        try:
            written = self._file.write(data)
            if written != len(data):
                raise OSError(errno.ENOSPC, "short write", str(self.path))
        except OSError:
            self._file.truncate(start)
            raise

    def write(self, record: Any) -> None:
        # repr() round-trips floats exactly: same run, same bytes.
        values = [getattr(record, c) for c in self.columns[:-1]]
        self._write(",".join(map(repr, values)) + f",{record.seconds:.6f}\n")

    def close(self) -> None:
        self._file.close()


def write_length_eval(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    with (
        files.atomic_write(run_dir / LENGTH_EVAL) as partial,
        open(partial, "w", encoding="utf-8", newline="") as f,
    ):
        writer = csv.DictWriter(f, fieldnames=LENGTH_EVAL_COLUMNS)
        writer.writeheader()
        blank = lambda v: "" if v is None else repr(v)  # noqa: E731
        writer.writerows(
            {
                **r,
                **{k: blank(r.get(k)) for k in ("loss", "accuracy", "bpc", "exact_match")},
                "scaling": r.get("scaling") or "",
            }
            for r in rows
        )


def read_length_eval(run_dir: Path) -> list[dict[str, str]]:
    """length_eval.csv's rows as written (strings); none when the run evaluated no length."""
    import csv

    try:
        with open(run_dir / LENGTH_EVAL, encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def save_table(path: Path, table: torch.Tensor | None) -> None:
    if table is not None:
        with files.atomic_write(path) as partial:
            np.save(partial, table.detach().cpu().float().numpy().astype(np.float32))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; null means "no finite value"
    return value


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    """Write metrics.json atomically: its presence means the job has ended."""
    with (
        files.atomic_write(run_dir / METRICS) as partial,
        open(partial, "w", encoding="utf-8") as f,
    ):
        json.dump({k: _json_safe(v) for k, v in metrics.items()}, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


# ---------------------------------------------------------------- reading


def is_run(path: Path) -> bool:
    return (Path(path) / RUN).is_file()


NOT_RUNS = {"mlartifacts", "mlruns"}  # MLflow's copies of run folders' files


def natural_order(path: Path) -> list:
    """Sort key: digits as numbers (job 2 before job 10)."""
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def find_runs(paths: Iterable[Path]) -> list[Path]:
    """Every run folder at or below the paths, in natural order."""
    runs: set[Path] = set()
    for path in map(Path, paths):
        if is_run(path):
            runs.add(path.resolve())
        if path.is_dir():
            runs.update(p.parent.resolve() for p in path.rglob(RUN) if not NOT_RUNS & set(p.parts))
    return sorted(runs, key=natural_order)


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """metrics.json; {'status': 'incomplete'} when absent, status 'corrupt' (with `error`)
    when unreadable."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return {"status": Status.INCOMPLETE.value}
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(metrics, dict) or metrics.get("status") not in set(Status):
            raise ValueError("no valid status")
    except (ValueError, OSError) as e:
        return {"status": Status.CORRUPT.value, "error": f"{path}: {e}"}
    if (problem := malformed(metrics)) is not None:
        return {"status": Status.CORRUPT.value, "error": f"{path}: {problem}"}
    return metrics


RESERVED = ("run",)  # the tables' own columns: a metric of that name would overwrite them


def malformed(metrics: dict[str, Any]) -> str | None:
    """Why a readable metrics.json cannot be a run's record, or None: a reserved key, a
    family@L key that is not one, a metric or seq_len that is not a number."""
    from posenc.metrics import METRICS, split_length

    for key, value in metrics.items():
        if key in RESERVED:
            return f"the key {key!r} is reserved for the tables' own column"
        if "@" in key and split_length(key) is None:
            return f"the key {key!r} is not family@length (test_loss@40)"
        numeric = key in METRICS or "@" in key or key == "seq_len"
        if numeric and value is not None and not _is_number(value):
            return f"{key} is {value!r}, not a number"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_record(run_dir: Path) -> dict[str, Any]:
    """run.yaml: overrides, choices, config."""
    path = Path(run_dir) / RUN
    try:
        record = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise ValueError("expected overrides, choices and config")
    except FileNotFoundError:
        raise RunFolderError(f"{run_dir} is not a posenc run folder (no {RUN})") from None
    except (ValueError, OSError, yaml.YAMLError) as e:
        raise RunFolderError(f"{path} is broken: {str(e).splitlines()[0]}") from None
    record.setdefault("overrides", [])
    record.setdefault("choices", {})
    return record


def write_json(path: Path, value: Any) -> None:
    """A small JSON file of the run folder (vocabulary.json), atomically."""
    files.write_text(path, json.dumps(value, ensure_ascii=False, indent=1))


def read_vocabulary(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / VOCABULARY
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(
            f"{path}: no such file; only text runs (dataset=text) have one"
        ) from None
    except (OSError, ValueError) as e:
        raise RunFolderError(f"{path} is broken: {e}") from None


def read_table(run_dir: Path, name: str) -> np.ndarray | None:
    """An encoding table (never unpickled: an object array is refused as broken)."""
    path = Path(run_dir) / name
    if not path.is_file():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise RunFolderError(f"{path} is broken: {str(e).splitlines()[0]}") from None


def run_title(metrics: dict[str, Any]) -> str:
    """`encoding / model / dataset / optimizer  (seed N)`: one format for every figure."""
    parts = [metrics.get(k) for k in ("encoding", "model", "dataset", "optimizer")]
    return " / ".join(str(p) for p in parts if p) + f"  (seed {metrics.get('seed')})"
