"""A sweep's figures: loss_curves.png, length_generalization.png and summary.png, from the
tables of posenc.analysis.comparison (run paths relative to the sweep folder); for token tasks
accuracy_by_length.png and scores.png (task × model/encoding) instead of the loss by length;
for text bpc_by_length.png (bits per character, RoPE's scalings dashed)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from posenc.analysis.comparison import group_keys, same_value
from posenc.analysis.run_figures import log_scale_if_positive, save_figure
from posenc.metrics import (
    HEADLINE,
    TASK_HEADLINE,
    better,
    length_metrics,
    specs_in,
    split_length,
)
from posenc.store import run_folder as rf
from posenc.store.history import read_history

log = logging.getLogger("posenc")


def _val_curve(run_dir: Path, column: str = "val_loss") -> pd.Series | None:
    try:
        history = read_history(run_dir).frame()
    except rf.RunFolderError as e:
        log.warning("no curve for %s: %s", run_dir, e)  # the other runs are still drawn
        return None
    if column not in history:
        return None
    return pd.to_numeric(history.set_index(history.columns[0])[column], errors="coerce")


VALUE_WIDTH = 24  # characters of a value in a label: longer ones squeeze the axes out


def _group_label(row: pd.Series, keys: list[str]) -> str:
    """The group's values; a run folder (init_from) by its own name; a long value by its
    end, where run folders' names differ (their seed, their last override)."""
    values = [Path(str(row[k])).name if k == "init_from" else str(row[k]) for k in keys]
    values = [v if len(v) <= VALUE_WIDTH else f"…{v[1 - VALUE_WIDTH :]}" for v in values]
    return " / ".join(values) or "all runs"


def _group_members(results: pd.DataFrame, row: pd.Series, keys: list[str]) -> pd.DataFrame:
    members = results
    for k in keys:
        members = members[same_value(members[k], row[k])]
    return members


MAX_CURVES = 10  # lines one figure tells apart: one colour each


def _line_style(i: int) -> str:
    return ("-", "--", ":", "-.")[i // 10 % 4]  # colours repeat after ten lines


def plot_sweep(
    out: Path | str, results: pd.DataFrame, summary: pd.DataFrame, metric: str = HEADLINE
) -> list[Path]:
    """The sweep's figures into `out` (run paths in `results` are relative to it, as compare
    gives them): loss_curves.png, length_generalization.png (with test_loss@L columns) and
    summary.png."""
    if results.empty:
        return []
    sweep_dir = Path(out)
    keys = group_keys(summary)
    labels = [_group_label(row, keys) for _, row in summary.iterrows()]
    written = [plot_loss_curves(sweep_dir, results, summary, keys, labels)]
    if _family_columns(results, "bpc"):
        written.append(plot_lengths(sweep_dir, results, summary, labels, "bpc"))
    elif _family_columns(results, "accuracy"):
        written.append(plot_accuracy_by_length(sweep_dir, results, summary, keys))
        if _family_columns(results, "exact_match"):  # a sequence wholly right, per length
            written.append(plot_lengths(sweep_dir, results, summary, labels, "exact_match"))
    elif length_metrics(results.columns):
        written.append(plot_lengths(sweep_dir, results, summary, labels))
    if f"{TASK_HEADLINE}_mean" in summary and summary[f"{TASK_HEADLINE}_mean"].notna().any():
        if len(summary) > 1:
            written.append(plot_scores(sweep_dir, summary, keys, results))
        else:  # a heatmap of one cell says less than the line that prints it
            log.info("scores.png: not drawn for one group; its score is in summary.csv")
    written.append(plot_summary(sweep_dir, summary, keys, labels, metric, results))
    return written


def _band(row: pd.Series, columns: list[str], mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interval of each mean (the summary's _ci_low/_ci_high; ± std in a summary without
    them); the mean itself where there is no interval (one run)."""
    if f"{columns[0]}_ci_low" in row:
        low = row[[f"{c}_ci_low" for c in columns]].to_numpy(dtype=float)
        high = row[[f"{c}_ci_high" for c in columns]].to_numpy(dtype=float)
    else:
        std = row[[f"{c}_std" for c in columns]].to_numpy(dtype=float)
        low, high = mean - std, mean + std
    return np.where(np.isnan(low), mean, low), np.where(np.isnan(high), mean, high)


def _band_name(summary: pd.DataFrame) -> str:
    level = summary.attrs.get("confidence", 0.95)
    if any(str(c).endswith("_ci_low") for c in summary.columns):
        return f"band: {level:.0%} interval"
    return "± std"


def _family_columns(table: pd.DataFrame, family: str) -> list[str]:
    return [c for c in length_metrics(table.columns) if split_length(c)[0] == family]


def plot_loss_curves(
    sweep_dir: Path, results: pd.DataFrame, summary: pd.DataFrame, keys: list[str], labels
) -> Path:
    """loss_curves.png: mean validation loss per epoch of each group's completed runs (text:
    bits per character; a fine-tune from step 0, its starting point), with a ±std band over
    seeds."""
    done = results[results["status"] == "completed"]
    specs = specs_in(done)
    # one kind: its declared curve; several: the validation loss all of them record
    column, what = specs[0].curve if len(specs) == 1 else ("val_loss", "loss")
    shown = min(len(summary), MAX_CURVES)  # the summary is best first: the best are drawn
    fig = Figure(figsize=(9.5, 4.8 + 0.12 * shown), layout="constrained")
    ax = fig.subplots()
    pairs = list(zip(labels, summary.iterrows(), strict=True))[:shown]
    drawn = []  # every mean drawn: a log axis where they span decades, as a run's loss.png
    for i, (label, (_, row)) in enumerate(pairs):
        runs = _group_members(done, row, keys)["run"]
        curves = [c for c in (_val_curve(sweep_dir / run, column) for run in runs) if c is not None]
        if not curves:
            continue
        table = pd.concat(curves, axis=1)
        mean, std = table.mean(axis=1), table.std(axis=1).fillna(0.0)
        drawn.append(mean.to_numpy(dtype=float))
        (line,) = ax.plot(
            mean.index,
            mean.to_numpy(),
            _line_style(i),
            marker="o",
            markersize=2.5,
            label=f"{label} (n={table.shape[1]})",
        )
        ax.fill_between(
            mean.index,
            (mean - std).to_numpy(),
            (mean + std).to_numpy(),
            color=line.get_color(),
            alpha=0.1,
            linewidth=0,
        )
    if drawn:
        log_scale_if_positive(ax, np.concatenate(drawn))
    axes = {spec.history[0] for spec in specs}
    x = axes.pop() if len(axes) == 1 else "step"
    ax.set_xlabel(x)
    ax.set_ylabel(f"validation {what} (mean ± std over seeds)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    left_out = f"; the best {shown} of {len(summary)} groups, the rest in summary.csv"
    ax.set_title(
        f"Validation loss per {x}{left_out if shown < len(summary) else ''}\n{sweep_dir.name}"
    )
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize="small",
            frameon=False,
            title=" / ".join(keys) or None,
        )
    return save_figure(fig, sweep_dir / "loss_curves.png")


def plot_summary(
    sweep_dir: Path,
    summary: pd.DataFrame,
    keys: list[str],
    labels,
    metric: str = HEADLINE,
    results: pd.DataFrame | None = None,
) -> Path:
    """summary.png: the metric per group with the interval of its mean as error bars (none
    with one run), best at the top."""
    mean = summary[f"{metric}_mean"]
    if f"{metric}_ci_low" in summary:
        low, high = summary[f"{metric}_ci_low"], summary[f"{metric}_ci_high"]
        std = np.vstack([(mean - low).fillna(0.0), (high - mean).fillna(0.0)])
        spread = f"mean and {summary.attrs.get('confidence', 0.95):.0%} interval"
    else:  # a summary made without intervals
        std, spread = summary[f"{metric}_std"].fillna(0.0), "mean ± std"
    fig = Figure(figsize=(8, 1.8 + 0.3 * len(summary)), layout="constrained")
    ax = fig.subplots()
    positions = np.arange(len(summary))
    ax.barh(
        positions,
        mean.fillna(0.0),
        xerr=std,
        color="tab:blue",
        alpha=0.8,
        error_kw={"ecolor": "black", "capsize": 3},
    )
    ax.set_yticks(
        positions, [f"{lab} (n={n})" for lab, n in zip(labels, summary["n_completed"], strict=True)]
    )
    for position, value, (_, row) in zip(positions, mean, summary.iterrows(), strict=True):
        if pd.isna(value):  # an empty bar says why it is empty
            why = _why_missing(results, row, keys, metric)
            ax.text(0, position, f"  no {metric}: {why}", va="center", fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric} ({spread} over completed runs; {better(metric)} is better)")
    ax.set_ylabel(" / ".join(keys))
    ax.set_title(f"{metric}, best first\n{sweep_dir.name}")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, sweep_dir / "summary.png")


LENGTH_FIGURES = {  # family: (file, y label)
    "test_loss": ("length_generalization.png", "test MSE", "Length generalization"),
    "bpc": ("bpc_by_length.png", "bits per character", "Bits per character by length"),
    "exact_match": (
        "exact_match_by_length.png",
        "exact match (every answer token and EOS right)",
        "Exact match by length",
    ),
}


def plot_lengths(
    sweep_dir: Path,
    results: pd.DataFrame,
    summary: pd.DataFrame,
    labels: list[str],
    family: str = "test_loss",
) -> Path:
    """length_generalization.png (test loss) or bpc_by_length.png (text): the family against
    evaluation length, a line per group (mean and interval band over completed seeds), the
    training length(s) marked; RoPE runs evaluated under other scalings (family_scaling@L)
    as dashed lines of the same colour."""
    file, y_label, title = LENGTH_FIGURES[family]
    columns = _family_columns(results, family)
    lengths = np.array([split_length(c)[1] for c in columns])
    fig = Figure(figsize=(9.5, 4.8 + 0.12 * len(summary)), layout="constrained")
    ax = fig.subplots()
    for i, (label, (_, row)) in enumerate(zip(labels, summary.iterrows(), strict=True)):
        mean = row[[f"{c}_mean" for c in columns]].to_numpy(dtype=float)
        low, high = _band(row, columns, mean)
        supported = lengths[~np.isnan(mean)]
        if not supported.size:
            label = f"{label} (unsupported at every length)"
        elif supported.max() < lengths.max():
            label = f"{label} (unsupported past {supported.max()})"
        (line,) = ax.plot(lengths, mean, _line_style(i), marker="o", markersize=3, label=label)
        ax.fill_between(lengths, low, high, color=line.get_color(), alpha=0.1, lw=0)
        for j, (scaling, scaled) in enumerate(_scaled_families(results, family).items()):
            values = row.reindex([f"{c}_mean" for c in scaled]).to_numpy(dtype=float)
            if np.isnan(values).all():
                continue
            at = np.array([split_length(c)[1] for c in scaled])
            ax.plot(
                at,
                values,
                ("--", ":", "-.", (0, (5, 1)))[j % 4],
                color=line.get_color(),
                marker="x",
                markersize=3,
                label=f"{label}, {scaling} scaling at evaluation",
            )
    train_lengths = _mark_training_lengths(ax, results)
    ax.set_xscale("log", base=2)
    ticks = sorted({*lengths.tolist(), *train_lengths})
    ax.set_xticks(ticks, [f"{n}\n(train)" if n in train_lengths else str(n) for n in ticks])
    ax.set_xlabel("evaluation length")
    ax.set_ylabel(f"{y_label} (mean, {_band_name(summary)} over seeds)")
    if family == "test_loss":
        values = summary[[f"{c}_mean" for c in columns]].to_numpy(dtype=float)
        log_scale_if_positive(ax, values)
    ax.set_title(f"{title}\n{sweep_dir.name}")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return save_figure(fig, sweep_dir / file)


def _mark_training_lengths(ax, results: pd.DataFrame) -> list[int]:
    """A dashed line and a mark on the axis at each training length; returns them."""
    if "seq_len" not in results:
        return []
    train_lengths = sorted(int(n) for n in pd.to_numeric(results["seq_len"]).dropna().unique())
    for j, train_len in enumerate(train_lengths):
        ax.axvline(
            train_len, color="grey", ls="--", lw=1, label="training length" if j == 0 else None
        )
        ax.plot(  # a point on the axis: the length every curve starts from
            [train_len],
            [0],
            "v",
            color="black",
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            markersize=7,
        )
    return train_lengths


def _scaled_families(results: pd.DataFrame, family: str) -> dict[str, list[str]]:
    """{scaling: its family_scaling@L columns} present in the results."""
    from posenc.metrics import SCALINGS

    found = {s: _family_columns(results, f"{family}_{s}") for s in SCALINGS}
    return {s: columns for s, columns in found.items() if columns}


def _facets(summary: pd.DataFrame, keys: list[str]) -> tuple[str | None, list[str]]:
    """The panel key (the dataset, when several tasks share the sweep) and the line keys."""
    panel = "dataset" if "dataset" in keys and summary["dataset"].nunique() > 1 else None
    return panel, [k for k in keys if k != panel]


def plot_accuracy_by_length(
    sweep_dir: Path, results: pd.DataFrame, summary: pd.DataFrame, keys: list[str]
) -> Path:
    """accuracy_by_length.png: accuracy against input length, a panel per task, a line per
    model/encoding (mean ± std band over completed seeds), the training range shaded."""
    columns = _family_columns(results, "accuracy")
    lengths = np.array([split_length(c)[1] for c in columns])
    panel, line_keys = _facets(summary, keys)
    panels = list(dict.fromkeys(summary[panel])) if panel else [None]
    n_cols = min(3, len(panels))
    n_rows = -(-len(panels) // n_cols)
    fig = Figure(figsize=(5.2 * n_cols + 2.6, 3.6 * n_rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols, squeeze=False)).ravel()
    # one colour and style per line across every panel, so the one legend reads them all
    labels = list(dict.fromkeys(_group_label(r, line_keys) for _, r in summary.iterrows()))
    style = {label: i for i, label in enumerate(labels)}
    for ax, name in zip(axes, panels, strict=False):
        rows = summary if name is None else summary[summary[panel] == name]
        for _, row in rows.iterrows():
            mean = row[[f"{c}_mean" for c in columns]].to_numpy(dtype=float)
            low, high = np.clip(_band(row, columns, mean), 0.0, 1.0)  # accuracy lies in [0, 1]
            i = style[_group_label(row, line_keys)]
            label = _group_label(row, line_keys) if line_keys else _what(results)
            color = f"C{i % 10}"
            ax.plot(lengths, mean, _line_style(i), color=color, lw=1.2, label=label)
            ax.fill_between(lengths, low, high, color=color, alpha=0.1, lw=0)
        members = results if name is None else results[results[panel].astype(str) == str(name)]
        train_range = _task_training_range(sweep_dir, members)
        if train_range is not None and lengths.size and train_range[1] >= lengths.min():
            ax.axvspan(*train_range, color="grey", alpha=0.15, label="training lengths")
        elif train_range is not None:  # only unseen lengths drawn: a line, not a band
            ax.axvline(train_range[1], color="grey", ls="--", label="longest training length")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(str(name) if name is not None else _task_of(members))
        ax.set_xlabel("input length")
        ax.set_ylabel(f"accuracy (mean, {_band_name(summary)})")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    handles = {}  # every line's handle, whichever panel drew it first
    for ax in axes[: len(panels)]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles.keys()),
            loc="outside right upper",
            fontsize="small",
            frameon=False,
            title=" / ".join(line_keys) or None,
        )
    fig.suptitle(f"Accuracy by length\n{sweep_dir.name}")
    return save_figure(fig, sweep_dir / "accuracy_by_length.png")


def _what(results: pd.DataFrame) -> str:
    """`encoding / model` of a table's runs (one group: a single run, or seeds of one)."""
    parts = [
        results[k].dropna().astype(str).unique() for k in ("encoding", "model") if k in results
    ]
    return " / ".join(", ".join(p) for p in parts if len(p)) or "all runs"


def _task_of(results: pd.DataFrame) -> str:
    names = results["dataset"].dropna().astype(str).unique() if "dataset" in results else []
    return ", ".join(names) or "accuracy"


def _why_missing(results: pd.DataFrame | None, row: pd.Series, keys: list[str], metric: str):
    """Why a group has no value of `metric`: its runs' own word (`score_unsupported`, the
    error of a run that did not complete), else that none recorded it."""
    members = _group_members(results, row, keys) if results is not None else pd.DataFrame()
    for column in (f"{metric}_unsupported", "score_unsupported", "error"):
        if column in members:
            said = members[column].dropna().astype(str)
            if len(said):
                return said.iloc[0][:80]
    return "not recorded"


def _task_training_range(sweep_dir: Path, members: pd.DataFrame) -> tuple[float, float] | None:
    """The training range read from one completed run's config (dataset.min_len..max_len)."""
    for run in members["run"]:
        try:
            dataset = rf.read_record(sweep_dir / run)["config"].get("dataset", {})
        except rf.RunFolderError:
            continue
        if "max_len" in dataset:
            return float(dataset.get("min_len", 1)), float(dataset["max_len"])
    return None


def plot_scores(
    sweep_dir: Path,
    summary: pd.DataFrame,
    keys: list[str],
    results: pd.DataFrame | None = None,
    name: str = "scores.png",
    title: str | None = None,
) -> Path:
    """scores.png: the score (mean accuracy past the training lengths) as a heatmap, a row
    per task, a column per model/encoding, mean ± std over seeds in each cell: the shape of
    the papers' main table. `name` and `title`: another table drawn the same way (the
    selection protocol's)."""
    panel, column_keys = _facets(summary, keys)
    frame = summary.copy()
    names = results if results is not None else pd.DataFrame()
    frame["_row"] = frame[panel].astype(str) if panel else _task_of(names)
    frame["_col"] = [
        _group_label(r, column_keys) if column_keys else _what(names) for _, r in frame.iterrows()
    ]
    mean = frame.pivot_table(
        index="_row", columns="_col", values=f"{TASK_HEADLINE}_mean", aggfunc="first", dropna=False
    )
    std = frame.pivot_table(
        index="_row", columns="_col", values=f"{TASK_HEADLINE}_std", aggfunc="first", dropna=False
    )
    order = mean.mean(axis=0).sort_values(ascending=False).index  # best column first
    mean, std = mean[order], std.reindex(columns=order)
    fig = Figure(
        figsize=(max(1.3 * mean.shape[1] + 2.8, 6.0), 0.6 * mean.shape[0] + 2.2),
        layout="constrained",
    )
    ax = fig.subplots()
    image = ax.imshow(mean.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (i, j), value in np.ndenumerate(mean.to_numpy(dtype=float)):
        spread = std.iat[i, j]
        text = (
            "—"
            if np.isnan(value)
            else f"{value:.2f}" + ("" if pd.isna(spread) else f"\n±{spread:.2f}")
        )
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize=8,
            color="white" if value < 0.6 else "black",
        )
    ax.set_xticks(range(mean.shape[1]), mean.columns, rotation=35, ha="right")
    ax.set_yticks(range(mean.shape[0]), mean.index)
    ax.set_xlabel(" / ".join(column_keys))
    fig.colorbar(image, ax=ax, label="score\n(mean accuracy past\nthe training lengths)")
    spread = "mean ± std over seeds" if std.notna().to_numpy().any() else "one seed: no ±"
    ax.set_title(f"{title or f'Score ({spread}; — unsupported)'}\n{sweep_dir.name}")
    return save_figure(fig, sweep_dir / name)


def plot_comparison(sweep_dir: Path, table: pd.DataFrame, keys: list[str], metric: str) -> Path:
    """comparison.png: a forest plot of each group's mean difference from the baseline with
    its interval, the verdict beside it; the zero line is "no difference"."""
    rows = table.reset_index(drop=True)
    fig = Figure(figsize=(8.5, 1.6 + 0.42 * len(rows)), layout="constrained")
    ax = fig.subplots()
    colours = {"better": "tab:green", "worse": "tab:red"}
    for i, row in rows.iterrows():
        colour = colours.get(row["verdict"], "tab:gray")
        if pd.notna(row["diff_ci_low"]):
            ax.hlines(i, row["diff_ci_low"], row["diff_ci_high"], color=colour, lw=1)
        if pd.notna(row.get("diff_ci_low_sim")):
            low, high = row["diff_ci_low_sim"], row["diff_ci_high_sim"]
            ax.hlines(i, low, high, color=colour, lw=4, alpha=0.45)
        ax.plot(row["mean_diff"], i, "o", color=colour)
    ax.axvline(0, color="black", lw=1)
    labels = [
        f"{_group_label(r, keys)}  ({r['verdict']}, n={r['n_pairs']})" for _, r in rows.iterrows()
    ]
    ax.set_yticks(np.arange(len(rows)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(
        f"{metric}: group − baseline, {better(metric)} is better\n(thick: simultaneous "
        "interval over the groups, Bonferroni, which the Holm verdict follows; thin: unadjusted)"
    )
    baseline = rows["baseline"].iloc[0] if "baseline" in rows and len(rows) else "?"
    ax.set_title(f"Against the baseline {baseline}\n{sweep_dir.name}")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, sweep_dir / "comparison.png")


def plot_pareto_front(
    path: Path,
    points: list[tuple[list[float], str, bool]],
    names: list[str],
    directions: list[str],
) -> Path:
    """A multi-objective search's completed trials on its first two objectives, each
    labelled (its sampled values), those on the Pareto front (the flag) joined by a line."""
    fig = Figure(figsize=(7.2, 5.0))
    ax = fig.add_subplot()
    x, y = ([p[0][i] for p in points] for i in (0, 1))
    on = sorted((i for i, p in enumerate(points) if p[2]), key=lambda i: (x[i], y[i]))
    ax.scatter(x, y, color="0.7", label="trial")
    ax.plot([x[i] for i in on], [y[i] for i in on], "o-", color="C3", label="Pareto front")
    for (_, label, _), xi, yi in zip(points, x, y, strict=True):
        ax.annotate(label, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
    for axis, name, direction in zip((ax.xaxis, ax.yaxis), names, directions, strict=False):
        better = "higher" if direction == "maximize" else "lower"
        axis.set_label_text(f"{name} ({better} is better)")
    rest = f" (objectives {', '.join(names)})" if len(names) > 2 else ""
    ax.set_title(f"{len(on)} of {len(points)} completed trials on the Pareto front{rest}")
    ax.legend()
    return save_figure(fig, path)
