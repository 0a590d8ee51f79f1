"""dataset=lag: the input k steps back (relative position decides the answer)."""

from __future__ import annotations

import torch

from posenc.data import Splits, gaussian_inputs, split
from posenc.errors import check_at_least


def lag_dataset(
    generator: torch.Generator,
    seq_len: int = 20,
    n_samples: int = 1000,
    feature_dim: int = 4,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    lag: int = 2,
) -> Splits:
    """x ~ N(0, 1); the target at step t is feature 0 of the input at step t − lag, and 0
    for the first `lag` steps. The same rule at every position: a relative one."""
    check_at_least("dataset.lag", lag, 0)
    x = gaussian_inputs(generator, seq_len, n_samples, feature_dim)
    y = torch.zeros(n_samples, seq_len)
    if lag < seq_len:
        y[:, lag:] = x[:, : seq_len - lag, 0]
    return split(x, y, val_fraction, test_fraction, generator)
