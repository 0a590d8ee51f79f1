"""Progress for long work: epochs or steps in a job, lengths in its evaluation, jobs in a
sweep, runs in an export. On a terminal a bar (tqdm) with rate and ETA, log lines printed
above it; anywhere else (a log file, CI, a pipe, Slurm) no bar, and instead a heartbeat: a
log line every POSENC_HEARTBEAT seconds (30; 0 turns it off) while the phase runs, naming
it, how far it has got and an estimate of the time left, so a log is never silent for
minutes. `phase(name)` gives a stretch of work without steps of its own (a test set) the
same line."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from tqdm import tqdm

log = logging.getLogger("posenc")
HEARTBEAT_SECONDS = 30.0  # the default interval of the heartbeat lines


def on_terminal() -> bool:
    return sys.stderr.isatty()


def heartbeat_seconds() -> float:
    """POSENC_HEARTBEAT (seconds between heartbeat lines; 0: none), else 30."""
    try:
        return max(0.0, float(os.environ.get("POSENC_HEARTBEAT", HEARTBEAT_SECONDS)))
    except ValueError:
        return HEARTBEAT_SECONDS


def progress(disable: bool = False, **kwargs: Any) -> tqdm | Heartbeat:
    """A bar on a terminal; elsewhere a Heartbeat with the same methods. `disable=True`
    hides the bar on a terminal too (a sweep's jobs), and keeps the heartbeat in logs."""
    if on_terminal() and not disable:
        return tqdm(leave=False, dynamic_ncols=True, **kwargs)
    if on_terminal():
        return tqdm(disable=True, **kwargs)
    return Heartbeat(**kwargs)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Heartbeat:
    """Where there is no bar: what a bar counts, said as a log line every `every` seconds
    by a timer thread while the work runs (nothing for work shorter than that)."""

    disable = True  # no bar to keep log lines away from

    def __init__(
        self,
        total: float | None = None,
        initial: float = 0,
        unit: str = "it",
        desc: str = "",
        every: float | None = None,
        **_: Any,
    ):
        self.total, self.n, self.unit, self.desc = total, initial, unit, desc
        self.start_n, self.started, self.postfix = initial, time.monotonic(), ""
        self.every = heartbeat_seconds() if every is None else every
        self._stop = threading.Event()
        self._thread = None
        if self.every > 0:
            self._thread = threading.Thread(target=self._beat, daemon=True, name="heartbeat")
            self._thread.start()

    def update(self, n: float = 1) -> None:
        self.n += n

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def line(self) -> str:
        """`training: 1200/3000 steps (40%), loss 0.41; 2m05s so far, about 3m08s left`."""
        elapsed = time.monotonic() - self.started
        if self.total is None and not self.n:  # a phase: no steps to count
            return f"{self.desc or 'working'}: {_duration(elapsed)} so far"
        where = f"{self.n:g}"
        if self.total:
            where += f"/{self.total:g} {self.unit}s ({100 * self.n / self.total:.0f}%)"
        else:
            where += f" {self.unit}s"
        done = self.n - self.start_n
        left = ""
        if self.total and done > 0 and self.n < self.total:
            left = f", about {_duration((self.total - self.n) * elapsed / done)} left"
        extra = f", {self.postfix}" if self.postfix else ""
        return f"{self.desc or 'working'}: {where}{extra}; {_duration(elapsed)} so far{left}"

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            log.info("%s", self.line())

    def close(self) -> None:
        self._stop.set()

    def __getstate__(self) -> dict[str, Any]:
        # a launcher pickles the sweep's callback, bar and all, for its workers: they get a
        # copy without the timer (the sweep process keeps the one that speaks)
        state = {k: v for k, v in self.__dict__.items() if k not in ("_stop", "_thread")}
        return {**state, "every": 0}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._stop, self._thread = threading.Event(), None

    def __enter__(self) -> Heartbeat:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """A stretch of work with no steps of its own (a test set): the heartbeat's line in a
    log, nothing on a terminal."""
    if on_terminal():
        yield
        return
    beat = Heartbeat(desc=name, unit="pass")
    try:
        yield
    finally:
        beat.close()


@contextlib.contextmanager
def bar_logging(bar: tqdm | Heartbeat) -> Iterator[None]:
    """Console log lines go through tqdm.write while the bar is shown, so they do not tear it."""
    if bar.disable:
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield
