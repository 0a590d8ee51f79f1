"""`python -m posenc.export mlflow PATH [PATH ...] [--tracking-uri URI] [--experiment NAME]`:
copy run folders into an MLflow store (posenc.store.tracking does the copying)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from posenc.cli import EXIT_NO_RUNS, parse_paths, quiet_pipe
from posenc.errors import ConfigError
from posenc.jobs.exits import ExitCode, exit_code
from posenc.store import TRACKING_TIMEOUT


def run(argv: Sequence[str] | None) -> int:
    from posenc.store.tracking import DEFAULT_URI, export_mlflow, runs_table_url

    parser = argparse.ArgumentParser(
        prog="python -m posenc.export", description="Export run folders to an experiment tracker."
    )
    sub = parser.add_subparsers(dest="tracker", required=True)
    p = sub.add_parser("mlflow", help="export run folders into an MLflow tracking store")
    p.add_argument("paths", nargs="+", type=Path, help="sweep folders, run folders or parents")
    p.add_argument("--tracking-uri", default=DEFAULT_URI, help=f"default: {DEFAULT_URI}")
    p.add_argument(
        "--experiment", help="one MLflow experiment for all (default: one per sweep folder)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=TRACKING_TIMEOUT,
        help=f"seconds to reach the store (default {TRACKING_TIMEOUT:g})",
    )
    args = parse_paths(parser, argv)
    try:
        started = time.perf_counter()
        links: list[str] = []
        counts = export_mlflow(
            args.paths,
            args.tracking_uri,
            args.experiment,
            args.timeout,
            on_experiment=lambda name, eid, runs: links.append(
                f"  {name}: {runs_table_url(eid, runs)}"
            ),
        )
    except ConfigError as e:
        print(e, file=sys.stderr)
        return exit_code(e)
    total = sum(counts.values())
    if total == 0:
        print(f"no runs found below {', '.join(map(str, args.paths))}", file=sys.stderr)
        return EXIT_NO_RUNS
    print(
        f"{total} runs into {args.tracking_uri}: {counts['created']} created, "
        f"{counts['updated']} updated, {counts['unchanged']} unchanged "
        f"({time.perf_counter() - started:.1f}s)"
    )
    print(f"browse them: mlflow ui --backend-store-uri {args.tracking_uri}, then open")
    print("\n".join(links))
    return ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    return quiet_pipe(lambda: run(argv))
