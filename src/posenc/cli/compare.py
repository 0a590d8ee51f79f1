"""`python -m posenc.compare PATH [PATH ...] [--by KEY,KEY] [--metric NAME] [--plots]`:
results.csv and summary.csv of every run below the paths, and the summary printed."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from posenc.cli import EXIT_NO_RUNS, add_grouping, parse_by, parse_paths, paths_parser, quiet_pipe


def tables(argv: Sequence[str] | None, prog: str, doc: str, write_tables: bool) -> int:
    """compare and plot: one parser, the tables computed once."""
    from posenc.analysis.comparison import (
        format_summary,
        group_keys,
        load_results,
        output_folder,
        save_tables,
        saved_choices,
        summarize,
    )
    from posenc.analysis.paired import (
        COMPARISON,
        compare_to_baseline,
        format_comparison,
        parse_baseline,
    )
    from posenc.analysis.ranks import RANKS, format_ranks, rank_across
    from posenc.metrics import headline

    p = paths_parser(prog, doc)
    add_grouping(p)
    if write_tables:
        p.add_argument("--plots", action="store_true", help="also write the sweep plots")
        p.add_argument(
            "--baseline",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="compare every other group with this one, paired by seed (repeat for "
            "several keys): comparison.csv",
        )
        p.add_argument(
            "--across",
            metavar="KEY",
            help="rank the groups within each value of KEY (e.g. dataset): ranks.csv",
        )
    args = parse_paths(p, argv)
    try:
        out = output_folder(args.paths)
        last = {} if write_tables else saved_choices(out)  # plot follows the last compare
        by = parse_by(args.by) if args.by else last.get("by")
        results = load_results(args.paths)
        metric = args.metric or last.get("metric") or headline(results.columns)
        summary = summarize(results, by, metric, args.confidence, args.ci)
        baseline = parse_baseline(args.baseline) if write_tables else {}
        paired = (
            compare_to_baseline(results, baseline, metric, group_keys(summary), args.confidence)
            if baseline
            else None
        )
        across = (
            rank_across(
                results, args.across, metric, group_keys(summary), baseline, args.confidence
            )
            if write_tables and args.across
            else None
        )
    except (KeyError, NotADirectoryError) as e:
        p.error(e.args[0] if isinstance(e, KeyError) else str(e))
    if results.empty:
        where = ", ".join(map(str, args.paths))
        print(f"no runs found below {where}; nothing written", file=sys.stderr)
        return EXIT_NO_RUNS
    written: list[Path] = []
    if write_tables:  # printed first: a folder that cannot be written loses nothing shown
        print(format_summary(out, results, summary, metric))
        if paired is not None:
            print(format_comparison(paired, baseline, metric))
        if across is not None:
            print(format_ranks(across, args.across, metric))
    try:
        if write_tables:
            written += save_tables(out, results, summary, metric, by)
            if paired is not None:
                written.append(Path(out) / COMPARISON)
                paired.to_csv(written[-1], index=False)
                from posenc.analysis.plots import plot_comparison

                written.append(plot_comparison(Path(out), paired, group_keys(summary), metric))
            if across is not None:
                written.append(Path(out) / RANKS)
                across.to_csv(written[-1], index=False)
        if not write_tables or args.plots:
            from posenc.analysis.plots import plot_sweep

            written += plot_sweep(out, results, summary, metric)
    except OSError as e:  # a read-only folder: what was printed is what there is
        where = e.filename or out
        print(
            f"could not write to {where}: {e.strerror}; the tables above were not saved",
            file=sys.stderr,
        )
        for path in written:
            print(f"wrote {path}")
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    doc = "Compare runs: results.csv (a row per run) and summary.csv (mean ± std per group)."
    return quiet_pipe(lambda: tables(argv, "python -m posenc.compare", doc, True))
