"""Compare runs: `python -m posenc.compare PATH [PATH ...] [--by KEY,KEY] [--metric NAME]`.

Finds every run folder below the PATHs (one holding .hydra/overrides.yaml) and writes, into
the first PATH, results.csv (one row per run) and summary.csv (mean and std over seeds per
combination of the varying keys), and prints the summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import yaml

from posenc import artifacts

log = logging.getLogger("posenc")

RESULTS, SUMMARY = "results.csv", "summary.csv"
SUMMARY_METRICS = (
    "final_train_loss",
    "final_val_loss",
    "test_loss",
    "best_val_loss",
    "train_seconds",
)
NO_METRICS = "incomplete"  # no metrics.json yet: a job still running, or killed
SEED = "seed"


def find_runs(paths: Iterable[Path]) -> list[Path]:
    runs: set[Path] = set()
    for path in paths:
        path = Path(path)
        if (path / ".hydra" / "overrides.yaml").is_file():
            runs.add(path.resolve())
        runs.update(p.parent.parent.resolve() for p in path.rglob(".hydra/overrides.yaml"))
    return sorted(runs)


def _parse_value(text: str):
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, str, bool)) or value is None else text


def read_overrides(run: Path) -> dict:
    """`key=value` overrides as a dict, without `+`/`++`/`~` (`+experiment` -> experiment)."""
    items = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text()) or []
    out = {}
    for item in items:
        key, _, value = str(item).partition("=")
        out[key.lstrip("+~")] = _parse_value(value)
    return out


def load_results(paths: Sequence[Path]) -> pd.DataFrame:
    """One row per run: folder, the override keys that vary across runs, status, metrics."""
    base = Path(paths[0]).resolve()
    rows, overrides = [], []
    for run in find_runs(paths):
        metrics_path = run / artifacts.METRICS
        metrics = {"status": NO_METRICS}
        if metrics_path.is_file():
            try:
                metrics = json.loads(metrics_path.read_text())
                if not isinstance(metrics, dict) or "status" not in metrics:
                    raise ValueError("no status")
            except (ValueError, OSError) as e:
                log.warning("skipping %s: unreadable metrics.json (%s)", metrics_path, e)
                continue
        try:
            overrides.append(read_overrides(run))
        except (yaml.YAMLError, OSError) as e:
            log.warning("skipping %s: unreadable .hydra/overrides.yaml (%s)", run, e)
            continue
        rows.append({"run": os.path.relpath(run, base), **metrics})
    if not rows:
        return pd.DataFrame(columns=["run", "status"])
    keys = pd.DataFrame(overrides, index=range(len(rows)))
    varying = [k for k in keys.columns if keys[k].astype(str).nunique(dropna=False) > 1]
    metrics = pd.DataFrame(rows).drop(columns=varying, errors="ignore")
    front = ["run", *varying, "status"]
    table = pd.concat([metrics[["run"]], keys[varying], metrics.drop(columns="run")], axis=1)
    return table[front + [c for c in table.columns if c not in front]]


def varying_keys(results: pd.DataFrame) -> list[str]:
    cols = list(results.columns)
    return cols[1 : cols.index("status")] if "status" in cols else []


def summarize(
    results: pd.DataFrame, by: Sequence[str] | None = None, metric: str = "final_val_loss"
) -> pd.DataFrame:
    """Mean and std of each metric over the completed runs of each group; best first."""
    if by is None:
        by = [k for k in varying_keys(results) if k != SEED]
    missing = [k for k in by if k not in results.columns]
    if missing:
        raise KeyError(
            f"--by: no column {', '.join(missing)}; choose from {', '.join(varying_keys(results))}"
        )
    frame = results.copy()
    for m in SUMMARY_METRICS:
        frame[m] = pd.to_numeric(frame[m], errors="coerce") if m in frame else float("nan")
    frame["_completed"] = frame["status"].eq("completed")
    keys = list(by) or ["_all"]
    if not by:
        frame["_all"] = "all runs"
    groups = frame.groupby(keys, dropna=False, sort=True)
    summary = groups.size().rename("n").to_frame()
    summary["n_completed"] = groups["_completed"].sum().astype(int)
    done = frame[frame["_completed"]].groupby(keys, dropna=False)
    for m in SUMMARY_METRICS:
        summary[f"{m}_mean"] = done[m].mean()
        summary[f"{m}_std"] = done[m].std()
    summary = summary.reset_index()
    if not by:
        summary = summary.drop(columns="_all")
    sort_by = f"{metric}_mean"
    if sort_by not in summary.columns:
        raise KeyError(f"--metric: {metric!r} is not one of {', '.join(SUMMARY_METRICS)}")
    return summary.sort_values(sort_by, na_position="last", kind="stable").reset_index(drop=True)


def group_keys(summary: pd.DataFrame) -> list[str]:
    return [
        c
        for c in summary.columns
        if c not in ("n", "n_completed") and not c.endswith(("_mean", "_std"))
    ]


def format_table(summary: pd.DataFrame, metric: str = "final_val_loss") -> str:
    """The printed view: keys, counts, and mean ± std of the main metrics."""
    keys = group_keys(summary)
    view = summary[keys + ["n", "n_completed"]].copy()
    shown = [metric] + [m for m in ("final_train_loss", "test_loss") if m != metric]
    for m in shown:
        mean, std = summary[f"{m}_mean"], summary[f"{m}_std"]
        view[m] = [
            "-" if pd.isna(a) else (f"{a:.4g}" if pd.isna(b) else f"{a:.4g} ± {b:.2g}")
            for a, b in zip(mean, std, strict=True)
        ]
    return view.to_string(index=False)


def compare(
    paths: Sequence[Path | str],
    by: Sequence[str] | None = None,
    metric: str = "final_val_loss",
    echo: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write results.csv and summary.csv into the first path; return both tables."""
    paths = [Path(p) for p in paths]
    results = load_results(paths)
    summary = summarize(results, by, metric)
    out = paths[0] if paths[0].is_dir() else paths[0].parent
    results.to_csv(out / RESULTS, index=False)
    summary.to_csv(out / SUMMARY, index=False)
    if echo:
        print(f"{len(results)} runs in {out} (sorted by {metric}; mean ± std over completed runs)")
        print(format_table(summary, metric))
        print(f"wrote {out / RESULTS} and {out / SUMMARY}")
    return results, summary


def cli(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m posenc.compare", description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path, help="sweep folders, run folders or parents")
    parser.add_argument("--by", help="group by these keys (comma-separated) instead")
    parser.add_argument(
        "--metric",
        default="final_val_loss",
        help=f"sort by this metric's mean: {', '.join(SUMMARY_METRICS)}",
    )
    parser.add_argument("--plots", action="store_true", help="also write the sweep plots")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    for p in args.paths:
        if not p.exists():
            parser.error(f"no such folder: {p}")
    by = [k.strip() for k in args.by.split(",") if k.strip()] if args.by else None
    try:
        results, _ = compare(args.paths, by, args.metric)
    except KeyError as e:
        parser.error(e.args[0])
    if results.empty:
        where = ", ".join(map(str, args.paths))
        print(f"no run folders (with .hydra/overrides.yaml) below {where}", file=sys.stderr)
        return 1
    if args.plots:
        from posenc.plots import plot_sweep

        for path in plot_sweep(args.paths[0], by, args.metric):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
