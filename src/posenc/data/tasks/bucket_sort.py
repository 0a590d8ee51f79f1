"""dataset=bucket_sort (context-sensitive): the string sorted."""

from __future__ import annotations

from posenc.data.tasks import CONTEXT_SENSITIVE, Task, bits
from posenc.errors import check_at_least


class BucketSort(Task):
    """10204112 -> 00111224 (vocab_size 5, the paper's). Classes are the symbols; n outputs."""

    level = CONTEXT_SENSITIVE

    n_classes = 5

    def __init__(self, generator, vocab_size: int = 5, **common):
        super().__init__(generator, **common)
        check_at_least("dataset.vocab_size", vocab_size, 2)
        self.vocab_size = self.n_classes = vocab_size

    def output_length(self, n):
        return n

    def inputs(self, generator, batch, n):
        return bits(generator, batch, n, high=self.vocab_size)

    def targets(self, x):
        return x.sort(dim=1).values
