"""dataset=sort (context-sensitive): the input's symbols in ascending order, as in
Kazemnejad et al. 2023 (make_sort_dataset.py, single-digit: symbols drawn uniformly with
repetition, sorted by their rank), in symbolic form: DeepMind's bucket_sort over the ten
digits by default."""

from __future__ import annotations

from posenc.data.tasks.bucket_sort import BucketSort


class Sort(BucketSort):
    """3 1 4 1 -> 1 1 3 4. Vocabulary and classes: `vocab_size` symbols (default the ten
    digits)."""

    def __init__(self, generator, vocab_size: int = 10, **common):
        super().__init__(generator, vocab_size=vocab_size, **common)
