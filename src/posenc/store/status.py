"""How a run ended: the `status` of metrics.json, read by every module that reads runs."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    COMPLETED = "completed"  # every step it was asked for finished: the folder is whole
    DIVERGED = "diverged"  # a non-finite loss stopped training: a result
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM
    FAILED = "failed"  # refused or crashed; `error` (and `failed_step`) say why
    INCOMPLETE = "incomplete"  # no metrics.json: still running, or killed
    CORRUPT = "corrupt"  # metrics.json exists but cannot be read


NOT_DONE = frozenset({Status.FAILED, Status.INCOMPLETE, Status.CORRUPT})  # a sweep reruns these
