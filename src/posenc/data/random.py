"""dataset=random: the control with nothing to learn."""

from __future__ import annotations

import torch

from posenc.data import Sizes, Splits, check_sizes, check_target, takes_sizes
from posenc.errors import ConfigError, choice_error


@takes_sizes
def random_dataset(
    generator: torch.Generator,
    feature_dim: int = 10,
    target: str = "sequence",
    mode: str = "iid",
    **sizes,
) -> Splits:
    """Inputs and targets are independent N(0, 1): val loss stays near 1.

    mode=windows cuts one random series of n_samples + seq_len values into its n_samples
    windows of `seq_len` consecutive values (feature_dim 1); the target is the value after
    the window (target=step: after each position).
    """
    s = Sizes(**sizes)
    check_target(target)
    check_sizes(s.seq_len, s.n_samples, feature_dim)
    n, length = s.n_samples, s.seq_len
    if mode == "iid":
        x = torch.randn(n, length, feature_dim, generator=generator)
        y = torch.randn(*((n, length) if target == "step" else (n,)), generator=generator)
    elif mode == "windows":
        if feature_dim != 1:
            raise ConfigError("dataset.feature_dim", f"{feature_dim} must be 1 in windows mode")
        series = torch.randn(n + length, generator=generator)
        windows = series.unfold(0, length + 1, 1)  # [n, seq_len + 1]
        x = windows[:, :length].unsqueeze(-1)
        y = windows[:, 1:] if target == "step" else windows[:, length]
    else:
        raise choice_error("dataset.mode", mode, ("iid", "windows"))
    return s.split(x, y, generator)
