"""The command-line front of compare and plot: argument parsing, printing, exit codes.

`python -m posenc.compare PATH [PATH ...] [--by KEY,KEY] [--metric NAME] [--plots]` and
`python -m posenc.plot PATH [--by KEY,KEY] [--metric NAME]` share one parser.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from posenc.compare import SUMMARY_METRICS, compare, group_keys, output_folder, save_tables

EXIT_NO_RUNS = 1


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("paths", nargs="+", type=Path, help="sweep folders, run folders or parents")
    p.add_argument("--by", help="group by these keys (comma-separated) instead of the varying ones")
    p.add_argument(
        "--metric",
        default="final_val_loss",
        help=f"sort by this metric's mean: {', '.join(SUMMARY_METRICS)}, or test_loss@L",
    )
    return p


def parse_paths(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse, set up warnings on stderr, and refuse a path that does not exist."""
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    for path in args.paths:
        if not path.exists():
            parser.error(f"no such folder: {path}")
    return args


def parse_by(text: str | None) -> list[str] | None:
    return [k.strip() for k in text.split(",") if k.strip()] if text else None


def format_table(summary: pd.DataFrame, metric: str = "final_val_loss") -> str:
    """The printed view: keys, counts, and mean ± std of the main metrics."""
    keys = group_keys(summary)
    view = summary[keys + ["n", "n_completed"]].copy()
    lengths = [
        c.removesuffix("_mean")
        for c in summary.columns
        if c.startswith("test_loss@") and c.endswith("_mean")
    ]
    shown = [metric] + [m for m in ("final_train_loss", "test_loss", *lengths) if m != metric]
    for m in shown:
        mean, std = summary[f"{m}_mean"], summary[f"{m}_std"]
        view[m] = [
            "-" if pd.isna(a) else (f"{a:.4g}" if pd.isna(b) else f"{a:.4g} ± {b:.2g}")
            for a, b in zip(mean, std, strict=True)
        ]
    return view.to_string(index=False)


def print_summary(out: Path, results: pd.DataFrame, summary: pd.DataFrame, metric: str) -> None:
    print(f"{len(results)} runs in {out} (sorted by {metric}; mean ± std over completed runs)")
    print(format_table(summary, metric))


def _run(argv: Sequence[str] | None, prog: str, doc: str, tables: bool, plots_flag: bool) -> int:
    p = parser(prog, doc)
    if plots_flag:
        p.add_argument("--plots", action="store_true", help="also write the sweep plots")
    args = parse_paths(p, argv)
    try:
        out = output_folder(args.paths)
        results, summary = compare(args.paths, parse_by(args.by), args.metric)
    except (KeyError, NotADirectoryError) as e:
        p.error(e.args[0] if isinstance(e, KeyError) else str(e))
    if results.empty:
        where = ", ".join(map(str, args.paths))
        print(f"no runs found below {where}; nothing written", file=sys.stderr)
        return EXIT_NO_RUNS
    written = []
    if tables:
        print_summary(out, results, summary, args.metric)
        written += save_tables(out, results, summary)
    if not tables or getattr(args, "plots", False):
        from posenc.plots import plot_sweep

        written += plot_sweep(out, results, summary, args.metric)
    for path in written:
        print(f"wrote {path}")
    return 0


def quiet_pipe(main: Callable[[], int]) -> int:
    """`... | head` closes stdout early: end quietly, as other Unix tools do."""
    try:
        code = main()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def compare_cli(argv: Sequence[str] | None = None) -> int:
    doc = "Compare runs: results.csv (a row per run) and summary.csv (mean ± std per group)."
    return quiet_pipe(lambda: _run(argv, "python -m posenc.compare", doc, True, True))


def plot_cli(argv: Sequence[str] | None = None) -> int:
    doc = "Draw a sweep's figures: loss_curves.png and summary.png."
    return quiet_pipe(lambda: _run(argv, "python -m posenc.plot", doc, False, False))
