"""dataset=window: a moving average (a local, translation-invariant rule)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from posenc.data import Splits, gaussian_inputs, split
from posenc.errors import check_at_least


def window_dataset(
    generator: torch.Generator,
    seq_len: int = 20,
    n_samples: int = 1000,
    feature_dim: int = 4,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    window: int = 4,
) -> Splits:
    """x ~ N(0, 1); the target at step t is the mean of feature 0 over the `window` positions
    up to and including t, positions before the start counting as 0 (always divided by
    `window`)."""
    check_at_least("dataset.window", window, 1)
    x = gaussian_inputs(generator, seq_len, n_samples, feature_dim)
    padded = F.pad(x[:, :, 0], (window - 1, 0))  # zeros before the start
    y = padded.unfold(1, window, 1).mean(-1)  # [n, seq_len]
    return split(x, y, val_fraction, test_fraction, generator)
