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
        p.add_argument(
            "--out",
            type=Path,
            metavar="DIR",
            help="write the tables, figures and report here (default: the sweep's own folder, "
            "or comparisons/<options> in it; several folders: comparisons/<options> beside them)",
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
        if write_tables:
            out = announce(args.out or out or default_folder(args.paths))
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
        print(f"wrote {readable(path)}")
    return 0


def default_folder(paths: Sequence[Path]) -> Path | None:
    """Where a comparison without options goes: the sweep's own folder for one path; for
    several, comparisons/all beside them (never into the first one's own tables)."""
    if len(paths) == 1:
        return None
    from posenc.analysis.tables import COMPARISONS

    return common_parent(paths) / COMPARISONS / "all"


def common_parent(paths: Sequence[Path]) -> Path:
    import os

    return Path(os.path.commonpath([str(Path(p).resolve()) for p in paths]))


def announce(out: Path | None) -> Path | None:
    """A comparison about to replace an earlier one in `out` says so, with its time."""
    from datetime import datetime

    if out is not None and (Path(out) / "results.csv").is_file():
        stamp = datetime.fromtimestamp((Path(out) / "results.csv").stat().st_mtime)
        print(
            f"note: replacing the comparison of {stamp:%Y-%m-%d %H:%M:%S} in {readable(out)}",
            file=sys.stderr,
        )
    return out


def readable(path: Path) -> str:
    """A path as a person reads it: relative to the current folder when inside it."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))
    except ValueError:
        return str(resolved)


def own_folder(args, by, baseline, across, select=None) -> Path | None:
    """A comparison made with options goes to a folder of its own (comparisons/<options>),
    so the sweep's own tables stay what the sweep wrote; None for the sweep's own."""
    from posenc.analysis.tables import COMPARISONS, comparison_name

    name = comparison_name(by, args.metric, baseline, across, args.confidence, args.ci, select)
    if name is None:
        return None
    if not Path(args.paths[0]).is_dir():
        raise NotADirectoryError(f"{args.paths[0]} is not a folder: give a sweep or run folder")
    if len(args.paths) > 1:  # several folders: beside them, in none of them
        return common_parent(args.paths) / COMPARISONS / name
    return Path(args.paths[0]) / COMPARISONS / name


def main(argv: Sequence[str] | None = None) -> int:
    doc = "Compare runs: results.csv (a row per run) and summary.csv (mean ± std per group)."
    return quiet_pipe(lambda: tables(argv, "python -m posenc.compare", doc, True))
