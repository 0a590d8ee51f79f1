"""The run folder: history.csv, metrics.json, encoding tables (the contract in DESIGN.md)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # no torch import here: compare and plots read run folders without it
    import torch

    from posenc.training import EpochRecord

HISTORY, METRICS = "history.csv", "metrics.json"
ENCODING_INITIAL, ENCODING_FINAL = "encoding_initial.npy", "encoding_final.npy"
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "seconds")


class HistoryWriter:
    """Appends one row per epoch and flushes, so a crash or Ctrl-C keeps what was trained."""

    def __init__(self, path: Path):
        self._file = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        self._file.write(",".join(HISTORY_COLUMNS) + "\n")
        self._file.flush()

    def write(self, r: EpochRecord) -> None:
        # repr() round-trips floats exactly: same run, same bytes.
        self._file.write(f"{r.epoch},{r.train_loss!r},{r.val_loss!r},{r.seconds:.6f}\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def save_table(path: Path, table: torch.Tensor | None) -> None:
    if table is not None:
        np.save(path, table.detach().cpu().float().numpy().astype(np.float32))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; null means "no finite value"
    return value


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    """Write metrics.json atomically: its presence means the run folder is whole."""
    tmp = run_dir / (METRICS + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({k: _json_safe(v) for k, v in metrics.items()}, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, run_dir / METRICS)
