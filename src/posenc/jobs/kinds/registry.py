"""The kinds posenc trains: `KINDS` and `register` (a kind of your own), the lookup from a
built dataset to its kind, and a kind for driving the loop alone."""

from __future__ import annotations

from typing import Any

import torch

from posenc.errors import ConfigError
from posenc.jobs.kinds.base import Kind, RoundStats, Step, length_seed
from posenc.jobs.kinds.regression import Regression
from posenc.jobs.kinds.text import Text
from posenc.jobs.kinds.tokens import Tokens

KINDS: dict[str, type[Kind]] = {k.name: k for k in (Regression, Tokens, Text)}


def register(kind: type[Kind]) -> type[Kind]:
    """Add a kind of run (a Kind subclass whose `declared` is a posenc.metrics.KindSpec
    registered with posenc.metrics.declare): datasets that declare its name train as it."""
    KINDS[kind.name] = kind
    return kind


def kinds() -> dict[str, type[Kind]]:
    return dict(KINDS)


def kind_of(data: Any) -> type[Kind]:
    """The kind a built dataset declares (`kind`)."""
    known = kinds()
    name = getattr(data, "kind", None)
    if name not in known:
        raise ConfigError(
            "dataset._target_",
            "must return posenc.data.Splits or be a posenc.data.tasks.Task (a kind of run: "
            f"{', '.join(known)})",
        )
    return known[name]


def loop_kind(data: Any, trainer: Any, device: str = "cpu", seeds=(0, 0)) -> Kind:
    """The kind of `data` for the training loop alone, evaluated at no other length: for
    benchmarks and tests that drive posenc.jobs.loop.fit directly."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"seed": 0, "dataset": {}, "eval": {"lengths": [], "batch_size": 4096}})
    return kind_of(data)(data, cfg, trainer, torch.device(device), seeds)


__all__ = [
    "KINDS",
    "Kind",
    "RoundStats",
    "Step",
    "kind_of",
    "kinds",
    "length_seed",
    "loop_kind",
    "register",
]
