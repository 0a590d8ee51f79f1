"""history.csv's one reader: a run's rounds as exact floats, checked once, in the columns
its kind declares (posenc.metrics.KindSpec.history: the x axis first, `seconds` last).

Every caller reads through `read_history` and takes the view it needs: `rows()` (a
continued run rebuilds its rounds), `arrays()` (a run's own figures, without pandas) or
`frame()` (compare, the notebook API, the export). Python's `float` parses each cell, so
every view holds the digits the run wrote.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from posenc.store.run_folder import HISTORY, RunFolderError

if TYPE_CHECKING:
    import pandas as pd


def layouts() -> list[tuple[str, ...]]:
    """Every history header a declared kind writes."""
    from posenc.metrics import KINDS

    return [spec.history for spec in KINDS.values()]


def default_columns() -> tuple[str, ...]:
    from posenc.metrics import default_kind

    return default_kind().history


@dataclass(frozen=True)
class History:
    columns: tuple[str, ...]
    values: np.ndarray  # one row per round, one float64 column per name

    @property
    def x(self) -> str:
        """The x axis: the first column (`epoch` or `step`, as the kind wrote it)."""
        return self.columns[0]

    def __len__(self) -> int:
        return len(self.values)

    def rows(self) -> list[dict[str, float]]:
        return [dict(zip(self.columns, map(float, row), strict=True)) for row in self.values]

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: self.values[:, i] for i, name in enumerate(self.columns)}

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame(self.values, columns=list(self.columns))
        return frame.astype({self.x: "int64"}) if _whole(self.values[:, 0]) else frame


def read_history(run_dir: Path) -> History:
    """history.csv, checked: a declared header, numbers only, each x once. A run with no
    history yet reads as empty, in the default kind's columns; RunFolderError names the
    file and the first thing wrong."""
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        return History(default_columns(), np.empty((0, len(default_columns()))))
    try:
        with open(path, encoding="utf-8", newline="") as f:
            lines = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        reason = getattr(e, "strerror", None) or e
        raise RunFolderError(f"{path} cannot be read: {reason}") from None
    if not lines:
        return History(default_columns(), np.empty((0, len(default_columns()))))
    columns, body = tuple(lines[0]), lines[1:]
    if columns not in layouts():
        raise RunFolderError(f"{path} is broken: columns {list(columns)}")
    values = np.empty((len(body), len(columns)))
    for number, row in enumerate(body, start=2):
        values[number - 2] = _numbers(path, number, row, columns)
    _each_x_once(path, columns[0], values[:, 0])
    return History(columns, values)


def _numbers(path: Path, number: int, row: list[str], columns: tuple[str, ...]) -> list:
    if len(row) != len(columns):
        raise RunFolderError(
            f"{path} is broken: line {number} has {len(row)} cells, not {len(columns)}"
        )
    try:
        return [float(cell) for cell in row]
    except ValueError:
        name, cell = next((n, c) for n, c in zip(columns, row, strict=True) if not _is_float(c))
        raise RunFolderError(
            f"{path} is broken: line {number} holds a {name} that is not a number ({cell!r})"
        ) from None


def _each_x_once(path: Path, name: str, x: np.ndarray) -> None:
    if np.isnan(x).any():
        raise RunFolderError(f"{path} is broken: a {name} that is not a number")
    values, counts = np.unique(x, return_counts=True)
    if (counts > 1).any():
        twice = values[counts > 1][0]
        shown = int(twice) if float(twice).is_integer() else twice
        raise RunFolderError(f"{path} is broken: {name} {shown} twice")


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _whole(x: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(x)) and np.all(x == np.round(x)))
