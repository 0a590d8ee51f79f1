"""dataset=odds_first (context-sensitive): the symbols at odd positions, then the even ones."""

from __future__ import annotations

import torch

from posenc.data.tasks import CONTEXT_SENSITIVE, Task, bits


class OddsFirst(Task):
    """s1 s2 … sn -> s1 s3 s5 … s2 s4 … (1-indexed, the paper's definition): 00110101 ->
    0100 0111, 110 -> 10 1. (The reference code puts s2 s4 … first, a mirror image of the
    same task.) Vocabulary {0, 1}; classes {0, 1}; n outputs."""

    level = CONTEXT_SENSITIVE

    vocab_size, n_classes = 2, 2

    def output_length(self, n):
        return n

    def inputs(self, generator, batch, n):
        return bits(generator, batch, n)

    def targets(self, x):
        return torch.cat([x[:, ::2], x[:, 1::2]], dim=1)
