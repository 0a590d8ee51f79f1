"""curriculum=regular_increase: a length that grows by `increase_amount` every
`increase_frequency` steps from `initial_length` (the reference's RegularIncreaseCurriculum),
held at dataset.max_len once it gets there (the longest length the run validates on)."""

from __future__ import annotations

import torch

from posenc.data.curricula import Curriculum
from posenc.errors import check_at_least


class RegularIncrease(Curriculum):
    """`sample_all_length`: draw uniformly among the lengths reached so far (the reference's
    option), else the current one."""

    def __init__(
        self,
        min_len: int,
        max_len: int,
        initial_length: int | None = None,
        increase_frequency: int = 1000,
        increase_amount: int = 1,
        sample_all_length: bool = False,
    ):
        super().__init__(min_len, max_len)
        start = min_len if initial_length is None else initial_length
        self.initial = self.within("curriculum.initial_length", start)
        check_at_least("curriculum.increase_frequency", increase_frequency, 1)
        check_at_least("curriculum.increase_amount", increase_amount, 0)
        self.frequency, self.amount = increase_frequency, increase_amount
        self.sample_all = sample_all_length

    def length(self, step: int, generator: torch.Generator) -> int:
        increases = step // self.frequency
        if self.sample_all:  # the reference's randint(0, increases + 1)
            increases = int(torch.randint(increases + 1, (1,), generator=generator))
        return min(self.initial + self.amount * increases, self.max_len)
