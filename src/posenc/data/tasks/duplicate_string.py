"""dataset=duplicate_string (context-sensitive): the binary string twice."""

from __future__ import annotations

import torch

from posenc.data.tasks import CONTEXT_SENSITIVE, Task, bits


class DuplicateString(Task):
    """101 -> 101101. Vocabulary {0, 1}; classes {0, 1}; 2n outputs."""

    level = CONTEXT_SENSITIVE

    vocab_size, n_classes = 2, 2

    def output_length(self, n):
        return 2 * n

    def inputs(self, generator, batch, n):
        return bits(generator, batch, n)

    def targets(self, x):
        return torch.cat([x, x], dim=1)
