"""A run's figures: encoding.png and loss.png, drawn from its run folder.

Built with matplotlib's object API (no pyplot: no global state between the many jobs of one
process, no display) and without constrained layout or pandas, which cost more than the
drawing: a single run's figures should not make it much slower (README, "Speed").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from posenc.store import run_folder as rf
from posenc.store.history import read_history

DPI = 110


def _integer_ticks(*axes) -> None:
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def save_figure(fig: Figure, path: Path) -> Path:
    """Written whole, beside the old figure then in its place: a link there is replaced."""
    from posenc.store.files import atomic_write

    with atomic_write(path) as partial:
        fig.savefig(partial, dpi=DPI)
    return path


def cosine_similarity(table: np.ndarray) -> np.ndarray:
    unit = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)
    return unit @ unit.T


def plot_encoding(initial: np.ndarray, final: np.ndarray, path: Path, title: str = "") -> Path:
    """Initial and final tables side by side (one colour scale) and the final cosine similarity."""
    fig = Figure(figsize=(13, 4.2))
    fig.subplots_adjust(left=0.05, right=0.97, bottom=0.12, top=0.84, wspace=0.3)
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
    return save_figure(fig, path)


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
    fig = Figure(figsize=(2.6 * heads + 4.5, 3.4))
    fig.subplots_adjust(left=0.04, right=0.98, bottom=0.15, top=0.8, wspace=0.35)
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
    return save_figure(fig, path)


def plot_rotary(angles: np.ndarray, path: Path, title: str = "") -> Path:
    """What RoPE does to attention: the score q_m·k_n of one fixed vector (all ones) placed
    at every pair of positions, Σ_i 2·cos((m − n)·θ_i), over query × key and by distance."""
    theta = angles[1] if len(angles) > 1 else np.zeros(angles.shape[1])
    length = angles.shape[0]
    offset = np.arange(length)[:, None] - np.arange(length)[None, :]
    score = 2 * np.cos(offset[..., None] * theta).sum(-1)
    fig = Figure(figsize=(10, 4.2))
    fig.subplots_adjust(left=0.07, right=0.97, bottom=0.12, top=0.84, wspace=0.3)
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
    return save_figure(fig, path)


def plot_loss(history: dict[str, np.ndarray], path: Path, title: str = "") -> Path:
    """Train and validation loss per epoch (per step for a token task, with its accuracy
    beside); `history` maps history.csv's columns to arrays."""
    x = next(iter(history))  # the x axis: the first column
    accuracy = "val_accuracy" in history
    fig = Figure(figsize=(11 if accuracy else 6.4, 4.2))
    fig.subplots_adjust(left=0.08 if accuracy else 0.12, right=0.97, bottom=0.12, top=0.88)
    axes = fig.subplots(1, 2 if accuracy else 1, squeeze=False)[0]
    for column, label in (("train_loss", "train"), ("val_loss", "validation")):
        axes[0].plot(history[x], history[column], marker="o", markersize=3, label=label)
    axes[0].set_ylabel("cross-entropy loss" if accuracy else "MSE loss")
    log_scale_if_positive(axes[0], np.concatenate([history["train_loss"], history["val_loss"]]))
    if accuracy:
        for column, label in (("train_accuracy", "train"), ("val_accuracy", "validation")):
            axes[1].plot(history[x], history[column], marker="o", markersize=3, label=label)
        axes[1].set_ylabel("accuracy (scored positions)")
        axes[1].set_ylim(-0.02, 1.02)
    for ax in axes:
        ax.set_xlabel(x)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"loss per {x}")
    return save_figure(fig, path)


def log_scale_if_positive(ax, values: np.ndarray) -> None:
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
    history = read_history(run_dir)
    if len(history):
        written.append(plot_loss(history.arrays(), run_dir / "loss.png", title))
    rows = [r for r in rf.read_length_eval(run_dir) if r.get("status") == "ok"]
    if rows:
        written.append(plot_run_lengths(rows, metrics, run_dir / rf.LENGTH_FIGURE, title))
    return written


def plot_run_lengths(rows: list[dict], metrics: dict, path: Path, title: str = "") -> Path:
    """length.png: the run's metric at each evaluated length as trained, RoPE's scalings
    dashed, the training length marked: one run's length curve without a sweep."""
    from posenc.metrics import kind_spec, run_kind

    column, label = kind_spec(run_kind(metrics)).length_figure  # as its kind declares
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    exact = any(r.get("exact_match") not in (None, "") for r in rows)
    columns = {
        column: f", {label}" if exact else "",
        **({"exact_match": ", exact match"} if exact else {}),
    }
    for scaling in dict.fromkeys(r.get("scaling") or "" for r in rows):
        for (name, said), marker in zip(columns.items(), "os", strict=False):
            points = sorted(
                (int(r["length"]), float(r[name]))
                for r in rows
                if (r.get("scaling") or "") == scaling and r.get(name) not in (None, "")
            )
            if points:
                x, y = zip(*points, strict=True)
                style = "-" if not scaling else "--"
                line = "as trained" if not scaling else f"{scaling} scaling at evaluation"
                ax.plot(x, y, style, marker=marker, markersize=3, label=line + said)
    if metrics.get("seq_len"):
        ax.axvline(float(metrics["seq_len"]), color="grey", ls=":", label="training length")
    ax.set_xlabel("evaluation length")
    label = f"{label} and exact match" if exact else label
    ax.set_ylabel(label)
    ax.set_title(f"{label} by length\n{title}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", frameon=False)
    return save_figure(fig, path)


def serve() -> None:
    """A drawing process (posenc.analysis.drawer.FigureDrawer): import matplotlib and load its fonts
    while the job trains, then draw the run folder named on stdin; says `ok` or the error."""
    import json
    import sys

    warm = Figure(figsize=(1, 1))
    warm.text(0.5, 0.5, "0.1 epoch")  # the first text drawn reads the font cache
    warm.canvas.draw()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            plot_run(Path(request["run_dir"]), request["metrics"])
            answer = "ok"
        except Exception as e:
            answer = f"{type(e).__name__}: {e}"
        print(json.dumps(answer), flush=True)
        return


if __name__ == "__main__":
    serve()
