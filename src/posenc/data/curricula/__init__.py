"""Curricula over a token task's training lengths (Delétang et al. 2023's
`experiments/curriculum.py`): which input length each training batch has.

Contract: a curriculum is a `Curriculum` subclass, named by `_target_` in
conf/curriculum/<option>.yaml, one module per member. It is built with the task's training
range (`min_len`, `max_len`: RECEIVES, supplied by the job) and its own keys, and implements
`length(step, generator)`: the input length of the batch of optimizer step `step` (0 the
first), every random number drawn from `generator` (the task's training stream), always
within [min_len, max_len] (the lengths the run validates on).

Members: `uniform` (the default: uniform over min_len..max_len, the reference's
UniformCurriculum), `fixed` (one length), `regular_increase` (a length that grows with the
steps, RegularIncreaseCurriculum), `reverse_exponential` (short lengths favoured,
ReverseExponentialCurriculum). Only token tasks draw lengths: other kinds refuse any but
`uniform`.
"""

from __future__ import annotations

import torch

from posenc.errors import ConfigError

RECEIVES = ("min_len", "max_len")  # the task's training range, supplied by the job


class Curriculum:
    """Lengths within [min_len, max_len], one per training batch."""

    def __init__(self, min_len: int, max_len: int):
        self.min_len, self.max_len = min_len, max_len

    def length(self, step: int, generator: torch.Generator) -> int:
        raise NotImplementedError

    def within(self, key: str, value: int) -> int:
        """`value` checked to be a training length: ConfigError naming `key` otherwise."""
        if not self.min_len <= value <= self.max_len:
            raise ConfigError(
                key,
                f"{value} is outside the training lengths dataset.min_len..dataset.max_len "
                f"({self.min_len}..{self.max_len}), which the run validates on",
            )
        return value


__all__ = ["RECEIVES", "Curriculum"]
