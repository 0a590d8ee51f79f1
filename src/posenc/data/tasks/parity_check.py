"""dataset=parity_check (regular): is the number of 1s in a binary string odd?"""

from __future__ import annotations

from posenc.data.tasks import REGULAR, Task, bits


class ParityCheck(Task):
    """0110 -> 0 (two 1s), 111 -> 1. Vocabulary {0, 1}; classes {0, 1}; one output."""

    level = REGULAR

    vocab_size, n_classes = 2, 2

    def inputs(self, generator, batch, n):
        return bits(generator, batch, n)

    def targets(self, x):
        return x.sum(1, keepdim=True) % 2
