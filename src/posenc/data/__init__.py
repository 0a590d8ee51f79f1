"""Datasets: the `dataset` config group.

Contract: a dataset is a function (named by `_target_` in conf/dataset/<option>.yaml) that
takes a seeded `generator` plus its own keyword arguments and returns `Splits`: train, val
and test tensors x [n, seq_len, feature_dim] and y [n] (one target per sequence) or
[n, seq_len] (one per position), float32. Every random draw comes from `generator`, so the
same seed gives the same data. Its signature's defaults are the option's defaults (see
posenc.config.schemas); the keys every dataset shares (`Sizes`: seq_len, n_samples, val_fraction,
test_fraction) are its `**sizes`, declared once with `@takes_sizes`.

Members: `random` (the control), `weighted_sum`, `glove_words` (real GloVe vectors), and the
length tasks `reverse`, `lag`, `window`. The token tasks scored by accuracy are samplers of
their own contract, in posenc.data.tasks: `parity_check`, `even_pairs`, `cycle_navigation`,
`modular_arithmetic`, `reverse_string`, `stack_manipulation`, `duplicate_string`,
`missing_duplicate_string`, `odds_first`, `bucket_sort`, `binary_addition`; Kazemnejad et
al.'s decoder-only tasks, in posenc.data.decoder_tasks (prompt then answer by default):
`copy`, `addition`, `sort`, `summation`, `polynomial`, `lego`, `scan`. Real text for
character-level language modelling, `text`, is a sampler of windows (posenc.data.text).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from posenc.errors import ConfigError, check_at_least, check_choice

TARGETS = ("sequence", "step")
RECEIVES = ("generator",)  # supplied by the job at build time, never a config key


@dataclass(frozen=True)
class Spec:
    """What a model is built for. Features in (vocab_size None) or token ids in; real targets
    (n_classes None, MSE) or one of n_classes per target (cross-entropy)."""

    seq_len: int
    feature_dim: int
    per_step: bool  # True: one target per position; False: one per sequence
    vocab_size: int | None = None  # token ids in [0, vocab_size)
    n_classes: int | None = None
    symbols_key: str = "dataset.vocab_size"  # the key that sets vocab_size and n_classes
    # a token task's layout (posenc.data.tasks.Blanks): how a batch arranges inputs and
    # targets, which outputs answer them, how many tokens are inputs
    layout: Any = None


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
    kind: ClassVar[str] = "regression"  # posenc.jobs.kinds: how a job trains it

    @property
    def spec(self) -> Spec:
        x, y = self.train.x, self.train.y
        return Spec(seq_len=x.shape[1], feature_dim=x.shape[2], per_step=y.dim() == 2)

    def to(self, device: torch.device) -> Splits:
        return Splits(
            *(Split(s.x.to(device), s.y.to(device)) for s in (self.train, self.val, self.test))
        )


@dataclass(frozen=True)
class Sizes:
    """The keys every dataset shares, with their defaults: how long and how many sequences,
    and the shares held out for validation and test. Checked when made."""

    seq_len: int = 20
    n_samples: int = 1000
    val_fraction: float = 0.1
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        check_sizes(self.seq_len, self.n_samples, None)

    def split(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Splits:
        return split(x, y, self.val_fraction, self.test_fraction, generator)


def takes_sizes(dataset: Callable[..., Splits]) -> Callable[..., Splits]:
    """Marks a dataset function whose `**sizes` are the keys of `Sizes`: posenc.config.schemas
    follows the mark, so those keys and their defaults are written once, on `Sizes`."""
    dataset.shared_keys = Sizes
    return dataset


def check_sizes(seq_len: int, n_samples: int, feature_dim: int | None) -> None:
    """Sizes of at least 1; with `feature_dim`, a dataset that fits in memory (the inputs
    and the split's shuffled copy), the largest size named when it does not."""
    sizes = {"seq_len": seq_len, "n_samples": n_samples, "feature_dim": feature_dim}
    for key, value in sizes.items():
        check_at_least(f"dataset.{key}", value, 1)
    if feature_dim is not None:
        from posenc.memory import check_floats

        key = max(sizes, key=sizes.get)
        what = f"a dataset of {n_samples} × {seq_len} × {feature_dim} values"
        check_floats(f"dataset.{key}", what, 2, n_samples, seq_len, feature_dim)


def gaussian_inputs(
    generator: torch.Generator, seq_len: int, n_samples: int, feature_dim: int
) -> torch.Tensor:
    """x ~ N(0, 1) of shape [n_samples, seq_len, feature_dim], sizes checked first."""
    check_sizes(seq_len, n_samples, feature_dim)
    return torch.randn(n_samples, seq_len, feature_dim, generator=generator)


def check_target(target: str, choices: tuple[str, ...] = TARGETS) -> None:
    check_choice("dataset.target", target, choices)


def check_fractions(val_fraction: float, test_fraction: float, what: str) -> None:
    """The shares held out for validation and test: each in [0, 1), leaving `what` to train
    on (the sizes each part needs are the dataset's to check)."""
    for key, value in (
        ("dataset.val_fraction", val_fraction),
        ("dataset.test_fraction", test_fraction),
    ):
        if not 0 <= value < 1:  # NaN and infinities fail this too
            raise ConfigError(key, f"{value} must be in [0, 1)")
    if val_fraction + test_fraction >= 1:
        raise ConfigError(
            "dataset.val_fraction",
            f"{val_fraction} + dataset.test_fraction {test_fraction} must stay below 1 "
            f"to leave {what} for training",
        )


def split(
    x: torch.Tensor,
    y: torch.Tensor,
    val_fraction: float,
    test_fraction: float,
    generator: torch.Generator,
) -> Splits:
    """Shuffle with the seeded generator, then cut into train / val / test."""
    check_fractions(val_fraction, test_fraction, "sequences")
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


def standardise(y: torch.Tensor) -> torch.Tensor:
    return (y - y.mean(0)) / y.std(0).clamp_min(1e-12)


__all__ = [
    "Sizes",
    "Spec",
    "Split",
    "Splits",
    "check_sizes",
    "check_target",
    "gaussian_inputs",
    "split",
    "standardise",
    "takes_sizes",
]
