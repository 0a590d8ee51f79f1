"""Figures for a run (encoding.png, loss.png) and for a sweep (loss_curves.png, summary.png).

Figures are built with matplotlib's object API (no pyplot): no global state between the many
jobs of one process, and no display needed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from posenc import run_folder as rf
from posenc.comparison import group_keys
from posenc.metrics import HEADLINE, better, length_metrics, split_length

DPI = 110


def _integer_ticks(*axes) -> None:
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path


def cosine_similarity(table: np.ndarray) -> np.ndarray:
    unit = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)
    return unit @ unit.T


def plot_encoding(initial: np.ndarray, final: np.ndarray, path: Path, title: str = "") -> Path:
    """Initial and final tables side by side (one colour scale) and the final cosine similarity."""
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    bound = float(max(np.abs(initial).max(), np.abs(final).max(), 1e-12))
    for ax, table, name in ((axes[0], initial, "initial"), (axes[1], final, "final")):
        image = ax.imshow(
            table, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest"
        )
        ax.set_title(f"{name} table")
        ax.set_xlabel("dimension")
        ax.set_ylabel("position")
    _integer_ticks(*axes)
    fig.colorbar(image, ax=axes[:2], label="value", shrink=0.9)
    sim = axes[2].imshow(
        cosine_similarity(final), cmap="viridis", vmin=-1, vmax=1, interpolation="nearest"
    )
    axes[2].set_title("final: cosine similarity")
    axes[2].set_xlabel("position")
    axes[2].set_ylabel("position")
    fig.colorbar(sim, ax=axes[2], label="cosine", shrink=0.9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def bias_matrix(table: np.ndarray) -> np.ndarray:
    """[heads, 2L − 1] bias by relative distance -> [heads, L, L] over query × key, using
    column L − 1 + (j − i) for key j and query i."""
    length = (table.shape[1] + 1) // 2
    i, j = np.arange(length)[:, None], np.arange(length)[None, :]
    return table[:, length - 1 + j - i]


def plot_attention_bias(
    initial: np.ndarray, final: np.ndarray, path: Path, title: str = ""
) -> Path:
    """The final bias each head adds to attention scores (query × key), and the bias by
    relative distance per head before and after training."""
    heads = min(final.shape[0], 8)
    fig = Figure(figsize=(2.6 * heads + 4.5, 3.4), layout="constrained")
    axes = fig.subplots(1, heads + 1, squeeze=False)[0]
    matrices = bias_matrix(final)
    finite = matrices[np.isfinite(matrices)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    for h in range(heads):
        image = axes[h].imshow(matrices[h], cmap="viridis", vmin=low, vmax=high)
        axes[h].set_title(f"head {h}")
        axes[h].set_xlabel("key")
        axes[h].set_ylabel("query" if h == 0 else "")
    _integer_ticks(*axes[:heads])
    fig.colorbar(image, ax=axes[:heads].tolist(), label="bias", shrink=0.9)
    distance = np.arange(final.shape[1]) - (final.shape[1] - 1) // 2
    for h in range(heads):
        (line,) = axes[-1].plot(distance, final[h], label=f"head {h}")
        axes[-1].plot(distance, initial[h], ":", color=line.get_color())
    axes[-1].set_xlabel("key − query (dotted: initial)")
    axes[-1].set_ylabel("bias")
    axes[-1].legend(fontsize="x-small")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_rotary(angles: np.ndarray, path: Path, title: str = "") -> Path:
    """What RoPE does to attention: the score q_m·k_n of one fixed vector (all ones) placed
    at every pair of positions, Σ_i 2·cos((m − n)·θ_i), over query × key and by distance."""
    theta = angles[1] if len(angles) > 1 else np.zeros(angles.shape[1])
    length = angles.shape[0]
    offset = np.arange(length)[:, None] - np.arange(length)[None, :]
    score = 2 * np.cos(offset[..., None] * theta).sum(-1)
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    image = axes[0].imshow(score, cmap="viridis")
    axes[0].set_xlabel("key position n")
    axes[0].set_ylabel("query position m")
    axes[0].set_title("q·k of a fixed vector")
    fig.colorbar(image, ax=axes[0], label="score", shrink=0.9)
    distance = np.arange(-(length - 1), length)
    axes[1].plot(distance, 2 * np.cos(distance[:, None] * theta).sum(-1))
    axes[1].set_xlabel("m − n")
    axes[1].set_ylabel("score")
    axes[1].set_title("depends on m − n only")
    axes[1].grid(alpha=0.3)
    _integer_ticks(axes[0])
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_loss(history: pd.DataFrame, path: Path, title: str = "") -> Path:
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for column, label in (("train_loss", "train"), ("val_loss", "validation")):
        ax.plot(history["epoch"], history[column], marker="o", markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _log_scale_if_positive(ax, history[["train_loss", "val_loss"]].to_numpy())
    ax.set_title(title or "loss per epoch")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _log_scale_if_positive(ax, values: np.ndarray) -> None:
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
        ax.set_yscale("log")


def plot_run(run_dir: Path, metrics: dict | None = None) -> list[Path]:
    """encoding.png (where the encoding has a table) and loss.png for one run folder;
    `metrics` as in its metrics.json (read from there when not given)."""
    run_dir = Path(run_dir)
    metrics = rf.read_metrics(run_dir) if metrics is None else metrics
    title = rf.run_title(metrics)
    written = []
    initial = rf.read_table(run_dir, rf.ENCODING_INITIAL)
    final = rf.read_table(run_dir, rf.ENCODING_FINAL)
    slot = metrics.get("encoding_slot", "input")
    if initial is not None and final is not None:
        path = run_dir / "encoding.png"
        if slot == "bias":
            written.append(plot_attention_bias(initial, final, path, title))
        elif slot == "rotary":
            written.append(plot_rotary(final, path, title))
        else:
            written.append(plot_encoding(initial, final, path, title))
    history = rf.read_history(run_dir)
    if len(history):
        written.append(plot_loss(history, run_dir / "loss.png", title))
    return written


def _val_curve(run_dir: Path) -> pd.Series | None:
    try:
        history = rf.read_history(run_dir)
    except rf.RunFolderError:
        return None  # a run without a readable history has no curve to draw
    return pd.to_numeric(history.set_index("epoch")["val_loss"], errors="coerce")


def _group_label(row: pd.Series, keys: list[str]) -> str:
    return " / ".join(str(row[k]) for k in keys) or "all runs"


def _group_members(results: pd.DataFrame, row: pd.Series, keys: list[str]) -> pd.DataFrame:
    members = results
    for k in keys:
        members = members[members[k].astype(str) == str(row[k])]
    return members


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
    if length_metrics(results.columns):
        written.append(plot_lengths(sweep_dir, results, summary, labels))
    written.append(plot_summary(sweep_dir, summary, keys, labels, metric))
    return written


def plot_loss_curves(
    sweep_dir: Path, results: pd.DataFrame, summary: pd.DataFrame, keys: list[str], labels
) -> Path:
    """loss_curves.png: mean validation loss per epoch of each group's completed runs, with a
    ±std band over seeds."""
    done = results[results["status"] == "completed"]
    fig = Figure(figsize=(9.5, 4.8 + 0.12 * len(summary)), layout="constrained")
    ax = fig.subplots()
    for i, (label, (_, row)) in enumerate(zip(labels, summary.iterrows(), strict=True)):
        runs = _group_members(done, row, keys)["run"]
        curves = [c for c in (_val_curve(sweep_dir / run) for run in runs) if c is not None]
        if not curves:
            continue
        table = pd.concat(curves, axis=1)
        mean, std = table.mean(axis=1), table.std(axis=1).fillna(0.0)
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
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MSE (mean ± std over seeds)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Validation loss per epoch\n{sweep_dir.name}")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize="small",
            frameon=False,
            title=" / ".join(keys) or None,
        )
    return _save(fig, sweep_dir / "loss_curves.png")


def plot_summary(
    sweep_dir: Path, summary: pd.DataFrame, keys: list[str], labels, metric: str = HEADLINE
) -> Path:
    """summary.png: the metric per group with std error bars, best at the top."""
    mean, std = summary[f"{metric}_mean"], summary[f"{metric}_std"].fillna(0.0)
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
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric} (mean ± std over completed runs; {better(metric)} is better)")
    ax.set_ylabel(" / ".join(keys))
    ax.set_title(f"{metric}, best first\n{sweep_dir.name}")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, sweep_dir / "summary.png")


def plot_lengths(
    sweep_dir: Path, results: pd.DataFrame, summary: pd.DataFrame, labels: list[str]
) -> Path:
    """length_generalization.png: test loss against evaluation length, a line per group
    (mean ± std band over completed seeds), the training length(s) marked."""
    columns = length_metrics(results.columns)
    lengths = np.array([split_length(c)[1] for c in columns])
    fig = Figure(figsize=(9.5, 4.8 + 0.12 * len(summary)), layout="constrained")
    ax = fig.subplots()
    for i, (label, (_, row)) in enumerate(zip(labels, summary.iterrows(), strict=True)):
        mean = row[[f"{c}_mean" for c in columns]].to_numpy(dtype=float)
        std = np.nan_to_num(row[[f"{c}_std" for c in columns]].to_numpy(dtype=float))
        supported = lengths[~np.isnan(mean)]
        if not supported.size:
            label = f"{label} (unsupported at every length)"
        elif supported.max() < lengths.max():
            label = f"{label} (unsupported past {supported.max()})"
        (line,) = ax.plot(lengths, mean, _line_style(i), marker="o", markersize=3, label=label)
        ax.fill_between(lengths, mean - std, mean + std, color=line.get_color(), alpha=0.1, lw=0)
    train_lengths = []
    if "seq_len" in results:
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
    ax.set_xscale("log", base=2)
    ticks = sorted({*lengths.tolist(), *train_lengths})
    ax.set_xticks(ticks, [f"{n}\n(train)" if n in train_lengths else str(n) for n in ticks])
    ax.set_xlabel("evaluation length")
    ax.set_ylabel("test MSE (mean ± std over seeds)")
    _log_scale_if_positive(ax, summary[[f"{c}_mean" for c in columns]].to_numpy(dtype=float))
    ax.set_title(f"Length generalization\n{sweep_dir.name}")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return _save(fig, sweep_dir / "length_generalization.png")
