"""Progress bars (tqdm) for long work: epochs in a job, runs in an export. On a terminal a bar
with rate and ETA, log lines printed above it; anywhere else (a log file, CI, a pipe) no bar,
only the plain lines."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from tqdm import tqdm


def on_terminal() -> bool:
    return sys.stderr.isatty()


def progress(disable: bool = False, **kwargs: Any) -> tqdm:
    return tqdm(disable=disable or not on_terminal(), leave=False, dynamic_ncols=True, **kwargs)


@contextlib.contextmanager
def bar_logging(bar: tqdm) -> Iterator[None]:
    """Console log lines go through tqdm.write while the bar is shown, so they do not tear it."""
    if bar.disable:
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield
