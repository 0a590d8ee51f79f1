"""The exit-code policy of every posenc command: one enum, and one function that maps what
happened (a typed exception, or none) to a code.

Hydra turns an Exception raised by a callback into a warning, so the outcomes a sweep's
callbacks report (a folder in use, jobs that did not complete) are BaseExceptions.
"""

from __future__ import annotations

import enum

from posenc.errors import ConfigError
from posenc.jobs.signals import Terminated


class ExitCode(enum.IntEnum):
    OK = 0  # done; a diverged run is a result
    FAILED = 1  # a job crashed, or a sweep had a job that did not complete
    CONFIG_ERROR = 2  # a configuration mistake: nothing trained, nothing overwritten
    INTERRUPTED = 130  # Ctrl-C
    TERMINATED = 143  # SIGTERM


class JobEnded(BaseException):
    """A single run ended without a result: its log and metrics.json already say why, or
    `message` does (a folder it was refused). A BaseException, so that Hydra hands it on
    as it is instead of printing "Error executing job" over it."""

    def __init__(self, code: ExitCode, message: str | None = None):
        super().__init__(message or f"the job ended with exit code {int(code)}")
        self.code, self.message = code, message


class SweepRefused(BaseException):
    """A sweep that cannot start (its folder is in use or cannot be made): nothing ran."""

    def __init__(self, error: ConfigError):
        super().__init__(str(error))
        self.error = error


class SweepIncomplete(BaseException):
    """A sweep ended with jobs that failed, were refused their folder or left no result."""

    def __init__(self, jobs: list[str]):
        super().__init__(", ".join(jobs))
        self.jobs = jobs


def exit_code(error: BaseException | None) -> ExitCode:
    """What the command exits with after `error` (None: it ended normally)."""
    if error is None:
        return ExitCode.OK
    if isinstance(error, Terminated):
        return ExitCode.TERMINATED
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(error, JobEnded):
        return error.code
    if isinstance(error, ConfigError | SweepRefused):
        return ExitCode.CONFIG_ERROR
    return ExitCode.FAILED
