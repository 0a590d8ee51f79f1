"""dataset=random: the control with nothing to learn."""

from __future__ import annotations

import torch

from posenc.data import Splits, check_sizes, check_target, split
from posenc.errors import ConfigError, choice_error


def random_dataset(
    generator: torch.Generator,
    seq_len: int = 20,
    n_samples: int = 1000,
    feature_dim: int = 10,
    target: str = "sequence",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    mode: str = "iid",
    series_len: int = 100,
) -> Splits:
    """Inputs and targets are independent N(0, 1): val loss stays near 1.

    mode=windows cuts one random series of `series_len` values into windows of `seq_len`
    consecutive values; the target is the value after the window (target=step: after each
    position). n_samples is then series_len - seq_len and feature_dim is 1.
    """
    check_target(target)
    check_sizes(seq_len, n_samples, feature_dim)
    if mode == "iid":
        x = torch.randn(n_samples, seq_len, feature_dim, generator=generator)
        shape = (n_samples, seq_len) if target == "step" else (n_samples,)
        y = torch.randn(*shape, generator=generator)
    elif mode == "windows":
        if feature_dim != 1:
            raise ConfigError("dataset.feature_dim", f"{feature_dim} must be 1 in windows mode")
        n = series_len - seq_len
        if n < 1:
            raise ConfigError(
                "dataset.series_len", f"{series_len} must exceed dataset.seq_len={seq_len}"
            )
        series = torch.randn(series_len, generator=generator)
        windows = series.unfold(0, seq_len + 1, 1)  # [n, seq_len + 1]
        x = windows[:, :seq_len].unsqueeze(-1)
        y = windows[:, 1:] if target == "step" else windows[:, seq_len]
    else:
        raise choice_error("dataset.mode", mode, ("iid", "windows"))
    return split(x, y, val_fraction, test_fraction, generator)
