"""curriculum=fixed: every batch at one length (the reference's FixedCurriculum)."""

from __future__ import annotations

import torch

from posenc.data.curricula import Curriculum


class Fixed(Curriculum):
    """`length` (null: dataset.max_len, the longest training length)."""

    def __init__(self, min_len: int, max_len: int, length: int | None = None):
        super().__init__(min_len, max_len)
        self.fixed = self.within("curriculum.length", max_len if length is None else length)

    def length(self, step: int, generator: torch.Generator) -> int:
        return self.fixed
