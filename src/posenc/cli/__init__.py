"""posenc's commands, one thin module each (parse, call the library, print, exit), above the
library: no library module imports one.

- `train`: `python -m posenc.train` (with `app`, the Hydra application, and `sweep_end`,
  the end of a sweep)
- `compare`: `python -m posenc.compare`
- `plot`: `python -m posenc.plot`
- `export`: `python -m posenc.export mlflow`
- `report`: `python -m posenc.report`
- `sample`: `python -m posenc.sample` (text from a trained text run)

This module holds what they share: paths to read, `--by`/`--metric`, quiet broken pipes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from posenc.metrics import BASE_FAMILIES, HEADLINE, SUMMARY, TASK_HEADLINE

EXIT_NO_RUNS = 1


def paths_parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("paths", nargs="+", type=Path, help="sweep folders, run folders or parents")
    return p


def add_grouping(p: argparse.ArgumentParser) -> None:
    p.add_argument("--by", help="group by these keys (comma-separated) instead of the varying ones")
    p.add_argument(
        "--metric",
        help=f"sort by this metric's mean: {', '.join(SUMMARY)}, or family@L "
        f"({', '.join(BASE_FAMILIES)}) "
        f"(default: {TASK_HEADLINE} for token tasks, else {HEADLINE}; for plot, the metric "
        "the folder's summary was last made with)",
    )
    p.add_argument(
        "--confidence",
        type=float,
        default=0.95,
        help="level of the summary's intervals of the mean (default 0.95)",
    )
    p.add_argument(
        "--ci",
        choices=("t", "bootstrap"),
        default="t",
        help="interval: t (Student-t, the default) or bootstrap (seeded, 10000 resamples)",
    )


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


def quiet_pipe(main: Callable[[], int]) -> int:
    """`... | head` closes stdout early: end quietly, as other Unix tools do."""
    try:
        code = main()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
