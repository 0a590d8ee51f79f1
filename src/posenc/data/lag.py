"""dataset=lag: the input k steps back (relative position decides the answer)."""

from __future__ import annotations

import torch

from posenc.data import Sizes, Splits, gaussian_inputs, takes_sizes
from posenc.errors import ConfigError, check_at_least


@takes_sizes
def lag_dataset(generator: torch.Generator, feature_dim: int = 4, lag: int = 2, **sizes) -> Splits:
    """x ~ N(0, 1); the target at step t is feature 0 of the input at step t − lag, and 0
    for the first `lag` steps. The same rule at every position: a relative one."""
    s = Sizes(**sizes)
    check_at_least("dataset.lag", lag, 0)
    if lag >= s.seq_len:
        raise ConfigError(
            "dataset.lag",
            f"{lag} is not below dataset.seq_len {s.seq_len}: every target would be 0; choose "
            "a lag below seq_len",
        )
    x = gaussian_inputs(generator, s.seq_len, s.n_samples, feature_dim)
    y = torch.zeros(s.n_samples, s.seq_len)
    y[:, lag:] = x[:, : s.seq_len - lag, 0]
    return s.split(x, y, generator)
