"""Optimizers: the `optimizer` config group. Each option is a function of the trainable
`params` and its own keys (their defaults are the option's) that returns a torch optimizer."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from posenc.errors import ConfigError, check_at_least, check_positive

RECEIVES = ("params",)  # supplied by the job at build time, never a config key


def _check_common(lr: float, weight_decay: float) -> None:
    check_positive("optimizer.lr", lr)
    check_at_least("optimizer.weight_decay", weight_decay, 0)


def sgd(
    params: Iterable[torch.nn.Parameter],
    lr: float = 0.01,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> torch.optim.SGD:
    _check_common(lr, weight_decay)
    check_at_least("optimizer.momentum", momentum, 0)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def adam(
    params: Iterable[torch.nn.Parameter],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
) -> torch.optim.Adam:
    _check_common(lr, weight_decay)
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ConfigError("optimizer.betas", f"{list(betas)} must be two numbers in [0, 1)")
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)
