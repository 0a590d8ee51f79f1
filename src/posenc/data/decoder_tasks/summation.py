"""dataset=summation (regular): the sum of n digits mod 10, as in Kazemnejad et al. 2023
(make_sum_dataset.py with modular: values 1..9), in symbolic form."""

from __future__ import annotations

import torch

from posenc.data.tasks import REGULAR, Task


class Summation(Task):
    """7 5 9 -> 1 (21 mod 10). Vocabulary the digits (0 never drawn, as in the reference);
    classes the digits; one output."""

    level = REGULAR

    vocab_size, n_classes = 10, 10

    def inputs(self, generator, batch, n):
        return 1 + torch.randint(9, (batch, n), generator=generator)

    def targets(self, x):
        return x.sum(1, keepdim=True) % 10
