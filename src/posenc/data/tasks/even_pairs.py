"""dataset=even_pairs (regular): is the number of 01 and 10 pairs odd?"""

from __future__ import annotations

from posenc.data.tasks import REGULAR, Task, bits


class EvenPairs(Task):
    """001110 -> one 01 and one 10 -> class 0; 0101001 -> class 1. The class is 1 exactly
    when the first and last symbols differ. Vocabulary {0, 1}; classes {0, 1}."""

    level = REGULAR

    vocab_size, n_classes = 2, 2

    def inputs(self, generator, batch, n):
        return bits(generator, batch, n)

    def targets(self, x):
        return (x[:, 1:] != x[:, :-1]).sum(1, keepdim=True) % 2
