"""dataset=sort (context-sensitive): the input's symbols in ascending order, as in
Kazemnejad et al. 2023 (make_sort_dataset.py, single-digit: symbols drawn uniformly with
repetition, sorted by their rank), in symbolic form."""

from __future__ import annotations

import torch

from posenc.data.tasks import CONTEXT_SENSITIVE, Task
from posenc.errors import check_at_least


class Sort(Task):
    """3 1 4 1 -> 1 1 3 4. Vocabulary and classes: `vocab_size` symbols (default the ten
    digits)."""

    level = CONTEXT_SENSITIVE

    def __init__(self, generator, vocab_size: int = 10, **common):
        super().__init__(generator, **common)
        check_at_least("dataset.vocab_size", vocab_size, 2)
        self.vocab_size = self.n_classes = vocab_size

    def output_length(self, n):
        return n

    def inputs(self, generator, batch, n):
        return torch.randint(self.vocab_size, (batch, n), generator=generator)

    def targets(self, x):
        return x.sort(1).values
