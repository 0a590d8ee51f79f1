"""`python -m posenc.report PATH [--by KEY,KEY] [--metric NAME]`: report.html of a sweep
folder (posenc.analysis.reporting), following the folder's last summary unless told otherwise."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from posenc.cli import EXIT_NO_RUNS, add_grouping, parse_by, parse_paths, paths_parser, quiet_pipe


def run(argv: Sequence[str] | None) -> int:
    from posenc.analysis.comparison import load_results, output_folder, saved_choices, summarize
    from posenc.analysis.reporting import write_report
    from posenc.metrics import headline

    p = paths_parser(
        "python -m posenc.report", "Write report.html: one self-contained page of a sweep."
    )
    add_grouping(p)
    args = parse_paths(p, argv)
    try:
        out = output_folder(args.paths)
        last = saved_choices(out)
        by = parse_by(args.by) if args.by else last.get("by")
        results = load_results(args.paths)
        metric = args.metric or last.get("metric") or headline(results.columns)
        summary = summarize(results, by, metric, args.confidence, args.ci)
    except (KeyError, NotADirectoryError) as e:
        p.error(e.args[0] if isinstance(e, KeyError) else str(e))
    if results.empty:
        print(
            f"no runs found below {', '.join(map(str, args.paths))}; nothing written",
            file=sys.stderr,
        )
        return EXIT_NO_RUNS
    try:
        written = write_report(out, results, summary, metric)
    except OSError as e:  # a read-only folder
        p.error(f"cannot write {out / 'report.html'}: {e.strerror}")
    print(f"wrote {written}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return quiet_pipe(lambda: run(argv))
