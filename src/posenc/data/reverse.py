"""dataset=reverse: the sequence read backwards (absolute position decides the answer)."""

from __future__ import annotations

import torch

from posenc.data import Sizes, Splits, gaussian_inputs, takes_sizes


@takes_sizes
def reverse_dataset(generator: torch.Generator, feature_dim: int = 4, **sizes) -> Splits:
    """x ~ N(0, 1); the target at step t is feature 0 of the input at step seq_len − 1 − t.
    A model must know how far each position is from both ends."""
    s = Sizes(**sizes)
    x = gaussian_inputs(generator, s.seq_len, s.n_samples, feature_dim)
    return s.split(x, x[:, :, 0].flip(1), generator)
