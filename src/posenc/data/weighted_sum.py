"""dataset=weighted_sum: a position-weighted sum of the features."""

from __future__ import annotations

import torch

from posenc.data import Sizes, Splits, check_sizes, check_target, standardise, takes_sizes
from posenc.errors import check_finite


@takes_sizes
def weighted_sum_dataset(
    generator: torch.Generator,
    feature_dim: int = 10,
    target: str = "sequence",
    w_min: float = 0.1,
    w_max: float = 0.5,
    input_scale: float = 0.5,
    **sizes,
) -> Splits:
    """x ~ input_scale·N(0, 1); target = sum_t w_t sum_f x[t, f] with
    w = linspace(w_min, w_max, seq_len), standardised.

    target=step gives the running sum up to each position, standardised per position.
    """
    s = Sizes(**sizes)
    check_target(target)
    check_sizes(s.seq_len, s.n_samples, feature_dim)
    for key, value in (("w_min", w_min), ("w_max", w_max), ("input_scale", input_scale)):
        check_finite(f"dataset.{key}", value)
    x = input_scale * torch.randn(s.n_samples, s.seq_len, feature_dim, generator=generator)
    w = torch.linspace(w_min, w_max, s.seq_len)
    contrib = w * x.sum(-1)  # [n, seq_len]
    y = contrib.cumsum(-1) if target == "step" else contrib.sum(-1)
    return s.split(x, standardise(y), generator)
