"""dataset=reverse_string (context-free): the binary string backwards."""

from __future__ import annotations

from posenc.data.tasks import CONTEXT_FREE, Task, bits


class ReverseString(Task):
    """0111 -> 1110. Vocabulary {0, 1}; classes {0, 1}; n outputs."""

    level = CONTEXT_FREE

    vocab_size, n_classes = 2, 2

    def output_length(self, n):
        return n

    def inputs(self, generator, batch, n):
        return bits(generator, batch, n)

    def targets(self, x):
        return x.flip(1)
