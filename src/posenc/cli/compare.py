"""`python -m posenc.compare PATH [PATH ...] [--by KEY,KEY] [--metric NAME] [--plots]`:
results.csv and summary.csv of every run below the paths, and the summary printed. The
tables are made by posenc.analysis.tables; this module parses, calls, prints and exits."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from posenc.cli import EXIT_NO_RUNS, add_grouping, parse_by, parse_paths, paths_parser, quiet_pipe


def parser(prog: str, doc: str, write_tables: bool):
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
            "--select",
            choices=("validation", "score"),
            help="the papers' selection protocol, one run per cell over the seeds and learning "
            "rates: validation (the run with the best final validation metric: honest) or "
            "score (the best score itself: the papers' reading, optimistic): "
            "selection_by_<reading>.csv",
        )
        p.add_argument(
            "--across",
            metavar="KEY",
            help="rank the groups within each value of KEY (e.g. dataset): ranks.csv",
        )
    return p


def tables(argv: Sequence[str] | None, prog: str, doc: str, write_tables: bool) -> int:
    """compare (tables, and figures with --plots) and plot (figures, following the last
    compare): one parser, the tables computed once."""
    from posenc.analysis import tables as sweep_tables
    from posenc.analysis.paired import parse_baseline

    p = parser(prog, doc, write_tables)
    args = parse_paths(p, argv)
    try:
        by = parse_by(args.by) if args.by else None
        baseline = parse_baseline(args.baseline) if write_tables else {}
        across = args.across if write_tables else None
        select = args.select if write_tables else None
        out = own_folder(args, by, baseline, across, select)
        made = sweep_tables.make(
            args.paths,
            by=by,
            metric=args.metric,
            confidence=args.confidence,
            ci=args.ci,
            baseline=baseline,
            across=across,
            follow_last=not write_tables,
            out=out,
            select=select,
        )
    except (KeyError, NotADirectoryError) as e:
        p.error(e.args[0] if isinstance(e, KeyError) else str(e))
    if made.results.empty:
        where = ", ".join(map(str, args.paths))
        print(f"no runs found below {where}; nothing written", file=sys.stderr)
        return EXIT_NO_RUNS
    if write_tables:  # printed first: a folder that cannot be written loses nothing shown
        print(sweep_tables.describe(made))
    figures = not write_tables or args.plots
    try:
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        # the report is refreshed by whatever writes new tables
        written = sweep_tables.write(made, csv=write_tables, figures=figures, report=write_tables)
    except OSError as e:  # a read-only folder: what was printed is what there is
        print(
            f"could not write to {e.filename or made.out}: {e.strerror}; the tables above "
            "were not saved",
            file=sys.stderr,
        )
        for path in getattr(e, "written", []):
            print(f"wrote {path}")
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


def own_folder(args, by, baseline, across, select=None) -> Path | None:
    """A comparison made with options goes to a folder of its own (comparisons/<options>),
    so the sweep's own tables stay what the sweep wrote; None for the sweep's own."""
    from posenc.analysis.tables import COMPARISONS, comparison_name

    name = comparison_name(by, args.metric, baseline, across, args.confidence, args.ci, select)
    if name is None:
        return None
    if not Path(args.paths[0]).is_dir():
        raise NotADirectoryError(f"{args.paths[0]} is not a folder: give a sweep or run folder")
    return Path(args.paths[0]) / COMPARISONS / name


def main(argv: Sequence[str] | None = None) -> int:
    doc = "Compare runs: results.csv (a row per run) and summary.csv (mean ± std per group)."
    return quiet_pipe(lambda: tables(argv, "python -m posenc.compare", doc, True))
