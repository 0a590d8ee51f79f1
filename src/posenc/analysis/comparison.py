"""Compare runs: tables computed from run folders (results and summary), and their text view.

`load_results` gives one row per run, `summarize` the mean and std over the completed runs of
each group; `save_tables` writes them as results.csv and summary.csv; `format_summary` is the
table a sweep and `python -m posenc.compare` print. Figures belong to posenc.analysis.plots, the
commands to posenc.cli. Metric names and directions come from posenc.metrics.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

import posenc.metrics as known
from posenc.store import run_folder as rf
from posenc.store.status import Status

RESULTS, SUMMARY = "results.csv", "summary.csv"
MAX_PRINTED_LENGTHS = 8  # more per-length columns are left to summary.csv and the figures
CHOICES = "summary.json"  # the metric and grouping summary.csv was made with
STATS = ("_n", "_mean", "_std", "_sem", "_median", "_ci_low", "_ci_high")  # per metric
SEED = "seed"


def length_metrics(table: pd.DataFrame) -> list[str]:
    """The family@L columns (test_loss@L), by increasing L."""
    return known.length_metrics(map(str, table.columns))


def summary_metrics(results: pd.DataFrame) -> list[str]:
    return known.summary_metrics(map(str, results.columns))


def override_key(item: str) -> str:
    """`+experiment=x` -> experiment, `~a.b` -> a.b, `optimizer.lr=0.1` -> optimizer.lr."""
    return str(item).partition("=")[0].lstrip("+~")


def key_value(record: dict[str, Any], key: str) -> Any:
    """A key's value in a run: the option chosen for a group, else the composed config's."""
    if key in record["choices"]:
        return record["choices"][key]
    node: Any = record["config"]
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, int | float | str | bool) or node is None else str(node)


def load_results(paths: Iterable[Path | str], base: Path | str | None = None) -> pd.DataFrame:
    """One row per run below the paths: its folder (relative to the first path), one column
    per key that some run overrides and that varies (its value from each run's own config),
    `status`, and every metric. Missing metrics.json: `incomplete`; unreadable: `corrupt`.
    Folders are relative to `base` (default: the first path)."""
    paths = [Path(p) for p in paths]
    base = Path(base).resolve() if base else paths[0].resolve() if paths else Path.cwd()
    rows, records = [], []
    for run in rf.find_runs(paths):
        try:
            record = rf.read_record(run)
        except rf.RunFolderError as e:
            record = {"overrides": [], "choices": {}, "config": {}}
            metrics = {"status": Status.CORRUPT.value, "error": str(e)}
        else:
            metrics = rf.read_metrics(run)
        records.append(record)
        rows.append({"run": os.path.relpath(run, base), **metrics})
    if not rows:
        return pd.DataFrame(columns=["run", "status"])
    keys = list(dict.fromkeys(override_key(o) for r in records for o in r["overrides"]))
    values = pd.DataFrame(
        [{k: key_value(r, k) for k in keys} for r in records], columns=keys, dtype=object
    )
    swept = swept_keys(paths)
    varying = [k for k in keys if values[k].astype(str).nunique(dropna=False) > 1 or k in swept]
    metrics = pd.DataFrame(rows, dtype=object).drop(columns=varying, errors="ignore")
    table = pd.concat([metrics[["run"]], values[varying], metrics.drop(columns="run")], axis=1)
    front = ["run", *varying, "status"]
    table = table[front + [c for c in table.columns if c not in front]]
    return table.apply(_typed)


def swept_keys(paths: Iterable[Path]) -> set[str]:
    """The keys a sweep folder's last multirun swept (its multirun.yaml): they name the groups
    even when only one of their values has run so far (a sweep cut short)."""
    import yaml

    keys: set[str] = set()
    for path in paths:
        config = Path(path) / "multirun.yaml"
        if not config.is_file():
            continue
        try:
            overrides = yaml.safe_load(config.read_text())["hydra"]["overrides"]["task"]
            from hydra.core.override_parser.overrides_parser import OverridesParser

            parsed = OverridesParser.create().parse_overrides([str(o) for o in overrides])
        except Exception:  # an unreadable record only loses the hint
            continue
        keys.update(override_key(o.input_line) for o in parsed if o.is_sweep_override())
    return keys


def _typed(column: pd.Series) -> pd.Series:
    """Numbers as numbers, integers as integers (nullable where a run lacks the key)."""
    present = [v for v in column if v is not None and not (isinstance(v, float) and v != v)]
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return column.astype("Int64")
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return column.astype(float)
    return column.infer_objects()


def same_value(column: pd.Series, value: Any) -> pd.Series:
    """Which rows of a key column hold `value`, compared as text, missing equal to missing
    (a key that only some runs set is NA, or NaN after a groupby, for the others)."""
    if pd.isna(value):
        return column.isna()
    return column.notna() & (column.astype(str) == str(value))


def varying_keys(results: pd.DataFrame) -> list[str]:
    cols = list(results.columns)
    return cols[1 : cols.index("status")] if "status" in cols else []


def summarize(
    results: pd.DataFrame,
    by: Sequence[str] | None = None,
    metric: str = known.HEADLINE,
    confidence: float = 0.95,
    ci: str = "t",
    seed: int = 0,
) -> pd.DataFrame:
    """Per group and metric, over the completed runs that have a value: `_n`, `_mean`,
    `_std`, `_sem`, `_median` and the `confidence` interval of the mean (`_ci_low`,
    `_ci_high`: Student-t, or a bootstrap seeded by `seed`; NaN below two values). Best
    first by `metric`."""
    from posenc.analysis.statistics import interval

    by = _check_summary(results, by, metric, confidence, ci)
    metrics = summary_metrics(results)
    frame = results.copy()
    for m in metrics:
        frame[m] = pd.to_numeric(frame[m], errors="coerce") if m in frame else float("nan")
        frame[m] = frame[m].astype(float)
    frame["_completed"] = frame["status"].eq(Status.COMPLETED.value)
    keys = list(by) or ["_all"]
    if not by:
        frame["_all"] = "all runs"
    groups = frame.groupby(keys, dropna=False, sort=True)
    summary = groups.size().rename("n").to_frame()
    summary["n_completed"] = groups["_completed"].sum().astype(int)
    done = frame[frame["_completed"]].groupby(keys, dropna=False)
    columns = {}
    for m in metrics:
        bounds = done[m].agg(lambda v, m=m: interval(v.tolist(), confidence, ci, seed))
        columns.update(
            {
                f"{m}_n": done[m].count().reindex(summary.index, fill_value=0).astype(int),
                f"{m}_mean": done[m].mean(),
                f"{m}_std": done[m].std(),
                f"{m}_sem": done[m].sem(),
                f"{m}_median": done[m].median(),
                f"{m}_ci_low": bounds.map(lambda b: b[0]),
                f"{m}_ci_high": bounds.map(lambda b: b[1]),
            }
        )
    summary = pd.concat([summary, pd.DataFrame(columns, index=summary.index)], axis=1)
    summary = summary.reset_index()
    if not by:
        summary = summary.drop(columns="_all")
    ascending = known.better(metric) == known.LOWER
    summary = summary.sort_values(
        f"{metric}_mean", ascending=ascending, na_position="last", kind="stable"
    ).reset_index(drop=True)
    summary.attrs.update(confidence=confidence, ci=ci)
    return summary


def _check_summary(
    results: pd.DataFrame, by: Sequence[str] | None, metric: str, confidence: float, ci: str
) -> list[str]:
    """The grouping keys (every varying key but the seed when not given); KeyError naming
    the option when a key, the metric, the interval or its level is not one posenc has."""
    from posenc.analysis.statistics import METHODS

    if ci not in METHODS:
        raise KeyError(f"--ci: {ci!r} is not one of {', '.join(METHODS)}")
    if not 0 < confidence < 1:
        raise KeyError(f"--confidence: {confidence} must be between 0 and 1")
    if by is None:
        by = [k for k in varying_keys(results) if k != SEED]
    missing = [k for k in by if k not in results.columns]
    if missing:
        raise KeyError(
            f"--by: no column {', '.join(missing)}; choose from {', '.join(varying_keys(results))}"
        )
    metrics = summary_metrics(results)
    if metric not in metrics:
        raise KeyError(f"--metric: {metric!r} is not one of {', '.join(metrics)}")
    return list(by)


def group_keys(summary: pd.DataFrame) -> list[str]:
    return [c for c in summary.columns if c not in ("n", "n_completed") and not c.endswith(STATS)]


def compare(
    paths: Sequence[Path | str], by: Sequence[str] | None = None, metric: str = known.HEADLINE
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The results and summary tables of every run below the paths."""
    results = load_results(paths)
    return results, summarize(results, by, metric)


def output_folder(paths: Sequence[Path | str]) -> Path:
    """Where the tables of these paths go: the first path, which must be a folder."""
    out = Path(paths[0])
    if not out.is_dir():
        raise NotADirectoryError(f"{out} is not a folder: give a sweep or run folder")
    return out


def save_tables(
    out: Path,
    results: pd.DataFrame,
    summary: pd.DataFrame,
    metric: str = known.HEADLINE,
    by: Sequence[str] | None = None,
) -> list[Path]:
    """results.csv, summary.csv and summary.json (the metric it is sorted by and the keys it
    groups by, which the figures follow) into the folder `out`; nothing without runs."""
    import json

    if results.empty:
        return []
    written = [Path(out) / RESULTS, Path(out) / SUMMARY]
    from posenc.store import files  # never through a link planted in the folder

    files.write_csv(written[0], results)
    files.write_csv(written[1], summary)
    choices = {"metric": metric, "by": list(by) if by is not None else None}
    files.write_text(Path(out) / CHOICES, json.dumps(choices) + "\n")
    return written


def saved_choices(out: Path) -> dict[str, Any]:
    """The metric and grouping of the folder's last summary ({} when there is none)."""
    import json

    try:
        choices = json.loads((Path(out) / CHOICES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return choices if isinstance(choices, dict) else {}


def format_summary(
    out: Path, results: pd.DataFrame, summary: pd.DataFrame, metric: str = known.HEADLINE
) -> str:
    """The printed view: a header line, then the keys, counts, and mean ± std of the main
    metrics, `metric` first."""
    keys = group_keys(summary)
    view = summary[keys + ["n", "n_completed"]].copy()
    names = [c.removesuffix("_mean") for c in summary.columns]
    lengths = known.length_metrics(names)
    spec = known.specs_in(results[results["status"] == "completed"])[0]  # the first declared
    main = (*((spec.headline,) if spec.headline in names else ()), *spec.printed)
    if spec.printed_family is not None:  # its family only; every length, or only if few
        family = [m for m in lengths if known.split_length(m)[0] == spec.printed_family]
        few = not spec.printed_family_when_few or len(family) <= MAX_PRINTED_LENGTHS
        lengths = family if few else []
    shown = list(dict.fromkeys([metric, *main, *lengths]))
    for m in shown:
        mean = summary[f"{m}_mean"]
        std = (summary[f"{m}_ci_high"] - summary[f"{m}_ci_low"]) / 2  # the half-width
        # a completed run without a value at a length could not run there (length_eval.csv)
        parsed = known.split_length(m)
        scaled = parsed is not None and parsed[0].endswith(tuple(f"_{x}" for x in known.SCALINGS))
        missing = "unsupported" if (parsed and not scaled) or m == known.TASK_HEADLINE else "-"
        view[m] = [
            (missing if done else "-")
            if pd.isna(a)
            else (f"{a:.4g}" if pd.isna(b) else f"{a:.4g} ± {b:.2g}")
            for a, b, done in zip(mean, std, summary["n_completed"] > 0, strict=True)
        ]
    level = summary.attrs.get("confidence", 0.95)
    method = summary.attrs.get("ci", "t")
    header = (
        f"{len(results)} runs in {out} (sorted by {metric}; mean ± half-width of its "
        f"{level:.0%} {'Student-t' if method == 't' else 'bootstrap'} interval over completed "
        "runs; no ± with one run)"
    )
    if known.TASK_HEADLINE in names and not lengths:
        header += "\n(accuracy at each length: accuracy@L in summary.csv, accuracy_by_length.png)"
    if any(n.startswith("bpc_") for n in names):
        header += "\n(RoPE's scalings at evaluation: bpc_<scaling>@L in summary.csv)"
    return f"{header}\n{view.to_string(index=False)}{_not_counted(results)}{_limited(results)}"


def _limited(results: pd.DataFrame) -> str:
    """A line when runs cut by debug limits (metrics.json's `limited`) are in the table."""
    if "limited" not in results:
        return ""
    cut = results["limited"].notna() & results["limited"].astype(str).ne("")
    if not cut.any():
        return ""
    mixed = "beside full runs: " if not cut.all() else ""
    first = results.loc[cut, "limited"].iloc[0]
    return (
        f"\nnote: {int(cut.sum())} of {len(results)} runs were cut by debug limits ({first}); "
        f"{mixed}their numbers are a check, not a result"
    )


def _not_counted(results: pd.DataFrame, most: int = 10) -> str:
    """Lines naming the runs that are corrupt or failed, with why: not in the means."""
    if "error" not in results:
        return ""
    bad = results[results["status"].isin(["corrupt", "failed"]) & results["error"].notna()]
    lines = [f"  {r.run}: {r.status}: {str(r.error)[:200]}" for r in bad.head(most).itertuples()]
    if len(bad) > most:
        lines.append(f"  … and {len(bad) - most} more (results.csv)")
    return "\nnot in the means:\n" + "\n".join(lines) if lines else ""
