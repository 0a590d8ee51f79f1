"""Learning-rate schedules: the `scheduler` config group, stepped after every optimizer step.

Each option is a function of the `optimizer` and the run's `total_steps` (both supplied at
build time) and its own keys; it returns a torch LambdaLR whose factor multiplies the
optimizer's lr. The formulas are those of Hugging Face transformers' schedules
(`get_cosine_schedule_with_warmup`, `get_linear_schedule_with_warmup`), with warmup rising
linearly from 0 over the first `warmup_steps` steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.optim.lr_scheduler import LambdaLR

from posenc.errors import ConfigError, check_at_least

RECEIVES = ("optimizer", "total_steps")  # supplied by the job at build time


def _check(warmup_steps: int, total_steps: int, min_factor: float = 0.0) -> None:
    check_at_least("scheduler.warmup_steps", warmup_steps, 0)
    if warmup_steps >= total_steps > 0 and warmup_steps:
        raise ConfigError(
            "scheduler.warmup_steps",
            f"{warmup_steps} leaves nothing of the run's {total_steps} optimizer steps after "
            "warmup; lower it",
        )
    if not 0 <= min_factor <= 1:
        raise ConfigError("scheduler.min_factor", f"{min_factor} must be in [0, 1]")


def warmup_factor(step: int, warmup_steps: int) -> float | None:
    """step / warmup_steps during warmup, None after it."""
    return step / warmup_steps if step < warmup_steps else None


def constant(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0) -> LambdaLR:
    """lr throughout (after an optional linear warmup)."""
    _check(warmup_steps, total_steps)

    def factor(step: int) -> float:
        w = warmup_factor(step, warmup_steps)
        return 1.0 if w is None else w

    return LambdaLR(optimizer, factor)


def _decay(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int,
    min_factor: float,
    shape: Callable[[float], float],
) -> LambdaLR:
    """Linear warmup, then from lr down to min_factor·lr along `shape` (1 at progress 0, 0 at
    progress 1, the last step)."""
    _check(warmup_steps, total_steps, min_factor)

    def factor(step: int) -> float:
        w = warmup_factor(step, warmup_steps)
        if w is not None:
            return w
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_factor + (1 - min_factor) * shape(progress)

    return LambdaLR(optimizer, factor)


def cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int = 0,
    min_factor: float = 0.0,
) -> LambdaLR:
    """Linear warmup, then half a cosine from lr down to min_factor·lr at the last step."""
    half_cosine = lambda p: 0.5 * (1 + math.cos(math.pi * p))  # noqa: E731
    return _decay(optimizer, total_steps, warmup_steps, min_factor, half_cosine)


def linear(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int = 0,
    min_factor: float = 0.0,
) -> LambdaLR:
    """Linear warmup, then a straight line from lr down to min_factor·lr at the last step."""
    return _decay(optimizer, total_steps, warmup_steps, min_factor, lambda p: 1 - p)
