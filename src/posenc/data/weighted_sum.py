"""dataset=weighted_sum: a position-weighted sum of the features."""

from __future__ import annotations

import torch

from posenc.data import Splits, check_sizes, check_target, split, standardise
from posenc.errors import check_finite


def weighted_sum_dataset(
    generator: torch.Generator,
    seq_len: int = 20,
    n_samples: int = 1000,
    feature_dim: int = 10,
    target: str = "sequence",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    w_min: float = 0.1,
    w_max: float = 0.5,
    input_scale: float = 0.5,
) -> Splits:
    """x ~ input_scale·N(0, 1); target = sum_t w_t sum_f x[t, f] with
    w = linspace(w_min, w_max, seq_len), standardised.

    target=step gives the running sum up to each position, standardised per position.
    """
    check_target(target)
    check_sizes(seq_len, n_samples, feature_dim)
    for key, value in (("w_min", w_min), ("w_max", w_max), ("input_scale", input_scale)):
        check_finite(f"dataset.{key}", value)
    x = input_scale * torch.randn(n_samples, seq_len, feature_dim, generator=generator)
    w = torch.linspace(w_min, w_max, seq_len)
    contrib = w * x.sum(-1)  # [n, seq_len]
    y = contrib.cumsum(-1) if target == "step" else contrib.sum(-1)
    return split(x, standardise(y), val_fraction, test_fraction, generator)
