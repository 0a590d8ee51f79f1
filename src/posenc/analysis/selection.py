"""The papers' selection protocol (Delétang et al. 2023: the best of 10 seeds × 3 learning
rates per task × model), as a table beside summary.csv's means.

Per cell (the grouping keys less the seed and the learning rate), one completed run is
selected and its metric reported. Two readings:
- `validation` (the honest one): the run with the best validation metric of its final
  model (`final_val_accuracy` where runs record classes, ties broken by `final_val_loss`;
  else `final_val_loss`); its test metric was not looked at to choose it.
- `score` (the papers' reading): the run with the best value of the metric itself, the
  maximum over seeds and learning rates; it says what the architecture can reach, and it
  is optimistic by construction, since the same numbers choose and are reported.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import posenc.metrics as known
from posenc.analysis.comparison import SEED, varying_keys
from posenc.store.status import Status

READINGS = ("validation", "score")
OVER = (SEED, "optimizer.lr")  # what a selection chooses among, within each cell
# runs equal on validation accuracy (every seed fits the training lengths: 1.0) are told
# apart by their validation loss
TIE_BREAK = "final_val_loss"


def file_name(reading: str) -> str:
    return f"selection_by_{reading}.csv"


def chooser(results: pd.DataFrame, reading: str, metric: str) -> str:
    """The column the run is chosen by."""
    if reading == "score":
        return metric
    accuracy = "final_val_accuracy"
    if accuracy in results and pd.to_numeric(results[accuracy], errors="coerce").notna().any():
        return accuracy
    return "final_val_loss"


def groups_of(frame: pd.DataFrame, keys: list[str]):
    return frame.groupby(keys, dropna=False, sort=True) if keys else [((), frame)]


def cell_keys(results: pd.DataFrame, by: list[str] | None = None) -> list[str]:
    """The keys that name a cell: `by` when given, else every varying key but the seed and
    the learning rate, whatever else was swept."""
    keys = by if by else varying_keys(results)
    return [k for k in keys if k not in OVER]


def select(
    results: pd.DataFrame, metric: str, reading: str = "validation", by: list[str] | None = None
) -> pd.DataFrame:
    """One row per cell: its keys, the candidates it chose among, what chose the run and
    its value, the chosen run's seed, learning rate (where swept), folder and metric. Ties
    go to the lower final validation loss, then to the first run in the table's order."""
    if reading not in READINGS:
        raise KeyError(f"--select: {reading!r} is not one of {', '.join(READINGS)}")
    by_column = chooser(results, reading, metric)
    keys = cell_keys(results, by)
    frame = results[results["status"].eq(Status.COMPLETED.value)].copy()
    for column in {metric, by_column}:
        frame[column] = pd.to_numeric(frame.get(column), errors="coerce")
    why = _no_value(frame, by_column)
    frame = frame[frame[by_column].notna()]
    higher = known.better(by_column) == known.HIGHER
    over = [k for k in OVER if k in results.columns]
    rows = []
    tie_break = TIE_BREAK if by_column != TIE_BREAK and TIE_BREAK in frame else None
    if tie_break:
        frame[tie_break] = pd.to_numeric(frame[tie_break], errors="coerce")
    for values, members in groups_of(frame, keys):
        if members.empty:  # no cell keys and no run with a value
            continue
        values = values if isinstance(values, tuple) else (values,)
        order = [by_column, tie_break] if tie_break else [by_column]
        ranked = members.sort_values(
            order, ascending=[not higher, True][: len(order)], kind="stable", na_position="last"
        )
        chosen = ranked.iloc[0]
        rows.append(
            {
                **dict(zip(keys, values, strict=True)),
                "candidates": len(members),
                "selected_by": by_column,
                "selected_value": chosen[by_column],
                **{k: chosen[k] for k in over},
                metric: chosen[metric],
                "run": chosen["run"],
            }
        )
    table = pd.DataFrame(rows)
    if not table.empty:
        ascending = known.better(metric) == known.LOWER
        table = table.sort_values(metric, ascending=ascending, na_position="last", kind="stable")
    table.attrs.update(reading=reading, metric=metric, why=why)
    return table.reset_index(drop=True)


def _no_value(completed: pd.DataFrame, column: str) -> str | None:
    """Why no completed run can be selected by `column` (every value empty), or None."""
    if completed.empty or completed[column].notna().any():
        return None
    reasons = [
        r for c in (f"{column}_unsupported", "score_unsupported") if c in completed
        for r in completed[c].dropna()
    ]  # fmt: skip
    said = f" ({reasons[0]})" if reasons else ""
    return f"the {column} of every completed run is unsupported{said}"


def as_summary(selection: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The selection in summary.csv's columns (`<metric>_mean` the selected value, no
    spread), for the figures that draw a summary."""
    frame = selection.drop(columns=["candidates", "selected_by", "selected_value", "run"])
    frame = frame.drop(columns=[k for k in OVER if k in frame.columns])
    frame[f"{metric}_mean"] = frame.pop(metric)
    frame[f"{metric}_std"] = float("nan")
    return frame


def format_selection(selection: pd.DataFrame, out: Path) -> str:
    """The table a command prints, with what it is."""
    reading, metric = selection.attrs["reading"], selection.attrs["metric"]
    if selection.empty:
        why = selection.attrs.get("why") or "no completed run to select"
        return f"selection by {reading}: {why}"
    what = (
        f"the run with the best {selection['selected_by'].iat[0]} in each cell"
        if reading == "validation"
        else f"the best {metric} in each cell (the papers' reading: chosen by the reported "
        "number itself, optimistic by construction)"
    )
    shown = selection.drop(columns=["selected_by"]).to_string(index=False, float_format="%.4f")
    return f"selection by {reading} ({what}), {out / file_name(reading)}:\n{shown}"
