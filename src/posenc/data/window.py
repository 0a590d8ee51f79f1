"""dataset=window: a moving average (a local, translation-invariant rule)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from posenc.data import Sizes, Splits, gaussian_inputs, takes_sizes
from posenc.errors import ConfigError, check_at_least


@takes_sizes
def window_dataset(
    generator: torch.Generator, feature_dim: int = 4, window: int = 4, **sizes
) -> Splits:
    """x ~ N(0, 1); the target at step t is the mean of feature 0 over the `window` positions
    up to and including t, positions before the start counting as 0 (always divided by
    `window`)."""
    s = Sizes(**sizes)
    check_at_least("dataset.window", window, 1)
    if window > s.seq_len:
        raise ConfigError(
            "dataset.window",
            f"{window} is longer than dataset.seq_len {s.seq_len}: every target would be a "
            "running sum divided by the window (near 0 for a long one), not a moving average; "
            "choose a window of at most seq_len",
        )
    x = gaussian_inputs(generator, s.seq_len, s.n_samples, feature_dim)
    padded = F.pad(x[:, :, 0], (window - 1, 0))  # zeros before the start
    y = padded.unfold(1, window, 1).mean(-1)  # [n, seq_len]
    return s.split(x, y, generator)
