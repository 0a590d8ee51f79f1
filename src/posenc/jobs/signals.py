"""SIGTERM, as Slurm sends at the time limit or on pre-emption, handled like Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM: the run ends `interrupted` with its history kept, and the command exits 143."""


def interrupt_reason(e: BaseException) -> str:
    return "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted by the user"


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def handle_sigterm() -> None:
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (some launchers' workers): leave it
        pass


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM held while the block runs, then delivered to the handlers that were
    there: an import that a KeyboardInterrupt cuts short can leave a library half-made (the
    run then trains and exits 0, or dies of a RecursionError), and metrics.json cut short
    would leave the folder `incomplete`. A signal that was ignored stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(number)
        if handler in (signal.SIG_IGN, None):
            continue
        previous[number] = handler
        signal.signal(number, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if pending:  # delivered now, as if it had come a moment later
            signal.raise_signal(pending[0])
