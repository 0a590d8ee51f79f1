"""Datasets: each builds train/val/test tensors from one seeded generator.

A dataset is any callable named by `_target_` in conf/dataset/*.yaml that takes its keys and a
`generator` and returns `Splits`. Targets are [n] (one value per sequence) or [n, seq_len]
(one value per position).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from posenc.config import ConfigError, choice_error

TARGETS = ("sequence", "step")


@dataclass(frozen=True)
class Spec:
    seq_len: int
    feature_dim: int
    per_step: bool  # True: one target per position; False: one per sequence


@dataclass
class Split:
    x: torch.Tensor  # [n, seq_len, feature_dim], float32
    y: torch.Tensor  # [n] or [n, seq_len], float32

    def __len__(self) -> int:
        return self.x.shape[0]


@dataclass
class Splits:
    train: Split
    val: Split
    test: Split

    @property
    def spec(self) -> Spec:
        x, y = self.train.x, self.train.y
        return Spec(seq_len=x.shape[1], feature_dim=x.shape[2], per_step=y.dim() == 2)

    def to(self, device: torch.device) -> Splits:
        return Splits(
            *(Split(s.x.to(device), s.y.to(device)) for s in (self.train, self.val, self.test))
        )


def split(
    x: torch.Tensor,
    y: torch.Tensor,
    val_fraction: float,
    test_fraction: float,
    generator: torch.Generator,
) -> Splits:
    """Shuffle with the seeded generator, then cut into train / val / test."""
    n = x.shape[0]
    n_val, n_test = round(n * val_fraction), round(n * test_fraction)
    n_train = n - n_val - n_test
    for key, size in (
        ("dataset.val_fraction", n_val),
        ("dataset.test_fraction", n_test),
        ("dataset.n_samples", n_train),
    ):
        if size < 1:
            raise ConfigError(
                key,
                f"leaves an empty split ({n} samples -> train {n_train}, val {n_val}, "
                f"test {n_test}); raise dataset.n_samples or change the fractions",
            )
    perm = torch.randperm(n, generator=generator)
    x, y = x[perm].float().contiguous(), y[perm].float().contiguous()
    a, b = n_train, n_train + n_val
    return Splits(Split(x[:a], y[:a]), Split(x[a:b], y[a:b]), Split(x[b:], y[b:]))


def check_target(target: str, choices: tuple[str, ...] = TARGETS) -> None:
    if target not in choices:
        raise choice_error("dataset.target", target, choices)


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
    """The control with nothing to learn: inputs and targets are independent N(0, 1).

    mode=windows cuts one random series of `series_len` values into windows of `seq_len`
    consecutive values; the target is the value after the window (target=step: after each
    position). n_samples is then series_len - seq_len and feature_dim is 1.
    """
    check_target(target)
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


def standardise(y: torch.Tensor) -> torch.Tensor:
    return (y - y.mean(0)) / y.std(0).clamp_min(1e-12)


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
    """target = sum_t w_t sum_f x[t, f] with w = linspace(w_min, w_max, seq_len), standardised.

    target=step gives the running sum up to each position, standardised per position.
    """
    check_target(target)
    x = input_scale * torch.randn(n_samples, seq_len, feature_dim, generator=generator)
    w = torch.linspace(w_min, w_max, seq_len)
    contrib = w * x.sum(-1)  # [n, seq_len]
    y = contrib.cumsum(-1) if target == "step" else contrib.sum(-1)
    return split(x, standardise(y), val_fraction, test_fraction, generator)
