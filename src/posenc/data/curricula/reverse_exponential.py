"""curriculum=reverse_exponential: length L drawn with probability proportional to tau^L
(the reference's ReverseExponentialCurriculum): tau < 1 favours the short lengths."""

from __future__ import annotations

import torch

from posenc.data.curricula import Curriculum
from posenc.errors import ConfigError


class ReverseExponential(Curriculum):
    def __init__(self, min_len: int, max_len: int, tau: float = 0.9):
        super().__init__(min_len, max_len)
        if not 0 < tau:
            raise ConfigError("curriculum.tau", f"{tau} must be above 0")
        lengths = torch.arange(min_len, max_len + 1, dtype=torch.float64)
        # tau^L relative to the shortest length: the same probabilities, no underflow
        weights = torch.exp((lengths - min_len) * torch.log(torch.tensor(tau, dtype=torch.float64)))
        if not torch.isfinite(weights).all() or weights.sum() == 0:
            raise ConfigError("curriculum.tau", f"{tau} gives no usable probabilities")
        self.probabilities = weights / weights.sum()

    def length(self, step: int, generator: torch.Generator) -> int:
        pick = torch.multinomial(self.probabilities, 1, generator=generator)
        return self.min_len + int(pick)
