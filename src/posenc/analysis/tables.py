"""A sweep's tables and figures, made one way for every command that makes them (compare,
plot, report) and for a sweep's end: load the runs, summarize over seeds, optionally pair
them with a baseline and rank them across a key, then print and write what was asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from posenc.analysis import comparison
from posenc.metrics import headline


@dataclass
class Tables:
    """Everything a sweep's tables hold, computed once."""

    out: Path  # where they are written: the first path
    results: pd.DataFrame
    summary: pd.DataFrame
    metric: str
    by: list[str] | None = None
    baseline: dict[str, str] = field(default_factory=dict)
    paired: pd.DataFrame | None = None  # comparison.csv: each group against the baseline
    across: str | None = None
    ranks: pd.DataFrame | None = None  # ranks.csv: the groups ranked within each `across`
    selection: pd.DataFrame | None = None  # selection_by_<reading>.csv: one run per cell

    @property
    def keys(self) -> list[str]:
        return comparison.group_keys(self.summary)


def make(
    paths: Sequence[Path | str],
    by: Sequence[str] | None = None,
    metric: str | None = None,
    confidence: float = 0.95,
    ci: str = "t",
    baseline: dict[str, str] | None = None,
    across: str | None = None,
    follow_last: bool = False,
    prefer: str | None = None,
    out: Path | None = None,
    select: str | None = None,
) -> Tables:
    """The tables of every run below `paths`. `follow_last`: the grouping and metric not
    given follow the folder's last summary (plot and report draw what compare printed);
    `prefer`: the metric sorted by when the runs recorded it (a search's objective);
    `out`: where the tables go (default: the first path; run folders relative to it);
    `select`: the selection protocol's reading (posenc.analysis.selection). Raises
    KeyError (an unknown key or metric) or NotADirectoryError (a path)."""
    from posenc.analysis.paired import compare_to_baseline
    from posenc.analysis.ranks import rank_across

    first = comparison.output_folder(paths)
    out = Path(out) if out is not None else first
    last = comparison.saved_choices(out) if follow_last else {}
    by = list(by) if by else last.get("by")
    results = comparison.load_results(paths, base=out)
    preferred = prefer if prefer in results.columns else None
    metric = metric or preferred or last.get("metric") or headline(results.columns)
    summary = comparison.summarize(results, by, metric, confidence, ci)
    tables = Tables(out, results, summary, metric, by, dict(baseline or {}), across=across)
    if tables.baseline:
        tables.paired = compare_to_baseline(
            results, tables.baseline, metric, tables.keys, confidence
        )
    if across:
        tables.ranks = rank_across(
            results, across, metric, tables.keys, tables.baseline, confidence
        )
    if select:
        from posenc.analysis.selection import select as select_runs

        tables.selection = select_runs(results, metric, select, list(by) if by else None)
    return tables


COMPARISONS = "comparisons"  # a comparison a user asked for: a folder of its own in here


def comparison_name(
    by: Sequence[str] | None = None,
    metric: str | None = None,
    baseline: dict[str, str] | None = None,
    across: str | None = None,
    confidence: float = 0.95,
    ci: str = "t",
    select: str | None = None,
) -> str | None:
    """The folder name of a comparison made with these options (`by=encoding,metric=score`);
    None for the sweep's own (no option given), whose tables are the sweep folder's. One
    path component whatever the values hold: a separator, a NUL, `..` or a name too long
    is encoded with a hash, as a sweep job's folder is."""
    from posenc.store.sweep_folder import job_dir_name

    parts = [
        f"by={'+'.join(by)}" if by else "",
        f"metric={metric}" if metric else "",
        f"baseline={'+'.join(f'{k}={v}' for k, v in baseline.items())}" if baseline else "",
        f"across={across}" if across else "",
        f"confidence={confidence:g}" if confidence != 0.95 else "",
        f"ci={ci}" if ci != "t" else "",
        f"select={select}" if select else "",
    ]
    name = ",".join(p for p in parts if p)
    return job_dir_name("", name) if name else None


def describe(tables: Tables) -> str:
    """What a command prints: the summary, then the comparison and the ranks it made."""
    from posenc.analysis.paired import format_comparison
    from posenc.analysis.ranks import format_ranks

    t = tables
    parts = [comparison.format_summary(t.out, t.results, t.summary, t.metric)]
    if t.paired is not None:
        parts.append(format_comparison(t.paired, t.baseline, t.metric))
    if t.ranks is not None:
        parts.append(format_ranks(t.ranks, t.across, t.metric))
    if t.selection is not None:
        from posenc.analysis.selection import format_selection

        parts.append(format_selection(t.selection, t.out))
    return "\n".join(parts)


def write(
    tables: Tables, csv: bool = True, figures: bool = False, report: bool = False
) -> list[Path]:
    """Write what was asked into the folder: the CSV tables (results, summary, comparison
    and its figure, ranks), the sweep's figures, report.html. Returns the paths written;
    an OSError stops it, the paths written so far in its `written` attribute."""
    written: list[Path] = []
    try:
        if csv:
            written += _write_csv(tables)
        if figures:
            from posenc.analysis.plots import plot_sweep

            written += plot_sweep(tables.out, tables.results, tables.summary, tables.metric)
            if tables.selection is not None:
                written += _selection_figure(tables)
        if report:
            from posenc.analysis.reporting import write_report

            t = tables
            written.append(write_report(t.out, t.results, t.summary, t.metric))
    except OSError as e:
        e.written = written  # type: ignore[attr-defined]
        raise
    return written


def _write_csv(t: Tables) -> list[Path]:
    from posenc.analysis.paired import COMPARISON
    from posenc.analysis.ranks import RANKS
    from posenc.store import files

    written = comparison.save_tables(t.out, t.results, t.summary, t.metric, t.by)
    if t.paired is not None:
        from posenc.analysis.plots import plot_comparison

        written.append(t.out / COMPARISON)
        files.write_csv(written[-1], t.paired)
        written.append(plot_comparison(t.out, t.paired, t.keys, t.metric))
    if t.ranks is not None:
        written.append(t.out / RANKS)
        files.write_csv(written[-1], t.ranks)
    if t.selection is not None:
        from posenc.analysis.selection import file_name

        written.append(t.out / file_name(t.selection.attrs["reading"]))
        files.write_csv(written[-1], t.selection)
    return written


def _selection_figure(t: Tables) -> list[Path]:
    """scores_selected_by_<reading>.png: the scores heatmap of the selected runs."""
    from posenc.analysis.plots import plot_scores
    from posenc.analysis.selection import as_summary, cell_keys
    from posenc.metrics import TASK_HEADLINE

    selection, reading = t.selection, t.selection.attrs["reading"]
    if t.metric != TASK_HEADLINE or selection.empty or selection[t.metric].isna().all():
        return []
    keys = cell_keys(t.results, t.by)
    how = "best validation" if reading == "validation" else "best score: the papers' reading"
    return [
        plot_scores(
            t.out,
            as_summary(selection, t.metric),
            keys,
            t.results,
            name=f"scores_selected_by_{reading}.png",
            title=f"Score of the selected run ({how}; — unsupported)",
        )
    ]


def of_sweep(sweep_dir: Path, metric: str | None, prefer: str | None, figures: bool) -> Any:
    """A sweep's end: its tables printed and written, its figures, its report; None when
    the folder holds no run."""
    tables = make([sweep_dir], metric=metric, prefer=prefer)
    if tables.results.empty:
        return None
    print(describe(tables))
    write(tables, csv=True, figures=figures, report=True)
    return tables
