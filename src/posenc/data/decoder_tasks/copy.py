"""dataset=copy (context-sensitive): the input again, in Kazemnejad et al. 2023's variants
(McGill-NLP/length-generalization, scripts/dataset_builders/make_copy_dataset.py), in
symbolic form: the reference's words ("Copy:", "Replace a with b in") are left out.

- `cmc` (copy_multi_char, the default): n symbols drawn uniformly, copied.
- `rsc` (repeat_single_char): one symbol n times, copied.
- `rdc` (repeat_double_char): two distinct symbols a, b, then a n times; the answer b n
  times (the reference's "Replace a with b in a a a"), so the input holds n + 2 tokens.
"""

from __future__ import annotations

import torch

from posenc.data.tasks import CONTEXT_SENSITIVE, Task
from posenc.errors import ConfigError, check_at_least

VARIANTS = ("cmc", "rsc", "rdc")


class Copy(Task):
    """cmc 3 1 4 -> 3 1 4; rsc 7 7 7 -> 7 7 7; rdc 5 2 5 5 5 -> 2 2 2. Vocabulary and classes:
    `vocab_size` symbols (the reference draws from 100 one-token strings)."""

    level = CONTEXT_SENSITIVE

    def __init__(self, generator, variant: str = "cmc", vocab_size: int = 100, **common):
        super().__init__(generator, **common)
        if variant not in VARIANTS:
            raise ConfigError("dataset.variant", f"{variant!r} is not one of {', '.join(VARIANTS)}")
        check_at_least("dataset.vocab_size", vocab_size, 2)
        self.variant, self.vocab_size, self.n_classes = variant, vocab_size, vocab_size

    def input_length(self, n):
        return n + 2 if self.variant == "rdc" else n

    def output_length(self, n):  # n: the input's tokens
        return n - 2 if self.variant == "rdc" else n

    def inputs(self, generator, batch, n):
        if self.variant == "cmc":
            return torch.randint(self.vocab_size, (batch, n), generator=generator)
        a = torch.randint(self.vocab_size, (batch, 1), generator=generator)
        if self.variant == "rsc":
            return a.expand(batch, n).clone()
        b = (a + 1 + torch.randint(self.vocab_size - 1, (batch, 1), generator=generator)) % (
            self.vocab_size
        )  # any symbol but a
        return torch.cat([a, b, a.expand(batch, n)], dim=1)

    def targets(self, x):
        if self.variant == "rdc":
            return x[:, 1:2].expand(-1, x.shape[1] - 2).clone()
        return x.clone()
