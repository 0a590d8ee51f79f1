"""`python -m posenc.report PATH [--by KEY,KEY] [--metric NAME]`: report.html of a sweep
folder (posenc.analysis.reporting), following the folder's last summary unless told otherwise."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from posenc.cli import EXIT_NO_RUNS, add_grouping, parse_by, parse_paths, paths_parser, quiet_pipe
from posenc.cli.compare import own_folder


def run(argv: Sequence[str] | None) -> int:
    from posenc.analysis import tables

    p = paths_parser(
        "python -m posenc.report", "Write report.html: one self-contained page of a sweep."
    )
    add_grouping(p)
    args = parse_paths(p, argv)
    by = parse_by(args.by) if args.by else None
    try:
        out = own_folder(args, by, {}, None)  # a comparison's report: in its folder
        made = tables.make(
            args.paths,
            by=by,
            metric=args.metric,
            confidence=args.confidence,
            ci=args.ci,
            follow_last=True,
            out=out,
        )
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
    except (KeyError, NotADirectoryError) as e:
        p.error(e.args[0] if isinstance(e, KeyError) else str(e))
    if made.results.empty:
        print(
            f"no runs found below {', '.join(map(str, args.paths))}; nothing written",
            file=sys.stderr,
        )
        return EXIT_NO_RUNS
    try:
        (written,) = tables.write(made, csv=False, report=True)
    except OSError as e:  # a read-only folder
        p.error(f"cannot write {made.out / 'report.html'}: {e.strerror}")
    print(f"wrote {written}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return quiet_pipe(lambda: run(argv))
