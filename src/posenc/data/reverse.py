"""dataset=reverse: the sequence read backwards (absolute position decides the answer)."""

from __future__ import annotations

import torch

from posenc.data import Splits, gaussian_inputs, split


def reverse_dataset(
    generator: torch.Generator,
    seq_len: int = 20,
    n_samples: int = 1000,
    feature_dim: int = 4,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Splits:
    """x ~ N(0, 1); the target at step t is feature 0 of the input at step seq_len − 1 − t.
    A model must know how far each position is from both ends."""
    x = gaussian_inputs(generator, seq_len, n_samples, feature_dim)
    return split(x, x[:, :, 0].flip(1), val_fraction, test_fraction, generator)
