"""curriculum=uniform: every training length equally likely (the reference's
UniformCurriculum over 1..N, and the papers' protocol)."""

from __future__ import annotations

import torch

from posenc.data.curricula import Curriculum


class Uniform(Curriculum):
    def length(self, step: int, generator: torch.Generator) -> int:
        span = self.max_len - self.min_len + 1
        return self.min_len + int(torch.randint(span, (1,), generator=generator))
