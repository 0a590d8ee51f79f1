"""SIGTERM, as Slurm sends at the time limit or on pre-emption, handled like Ctrl-C."""

from __future__ import annotations

import signal


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
