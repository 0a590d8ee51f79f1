"""encoding=relative: T5's learned bias per head over bucketed relative distances
(Raffel et al. 2020)."""

from __future__ import annotations

import math

import torch
from torch import nn

from posenc.encodings.base import AttentionBias, Randomizable
from posenc.errors import ConfigError, check_at_least


def t5_bucket(
    relative_position: torch.Tensor,
    bidirectional: bool = True,
    num_buckets: int = 32,
    max_distance: int = 128,
) -> torch.Tensor:
    """T5's bucket of each relative position j − i (as in Mesh TensorFlow and Hugging Face):
    exact buckets for small distances, logarithmic ones up to max_distance, the last bucket
    beyond. Bidirectional: half the buckets for keys after the query."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).long() * num_buckets
        distance = relative_position.abs()
    else:
        distance = (-relative_position).clamp_min(0)
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    large = (
        max_exact
        + (
            torch.log(distance.float().clamp_min(1) / max_exact)
            / math.log(max_distance / max_exact)
            * (num_buckets - max_exact)
        ).long()
    )
    large = large.clamp_max(num_buckets - 1)
    return buckets + torch.where(is_small, distance, large)


class RelativeBias(Randomizable, AttentionBias):
    """bias[h, i, j] = b[bucket(j − i), h], b learned ([num_buckets, heads], init N(0, std)).
    Bidirectional unless the model is causal."""

    def __init__(
        self,
        n_heads: int,
        seq_len: int,
        causal: bool = False,
        num_buckets: int = 32,
        max_distance: int = 128,
        std: float = 0.02,
        **common,
    ):
        super().__init__(n_heads=n_heads, seq_len=seq_len, **common)
        check_at_least("encoding.std", std, 0)
        self.bidirectional = not causal
        smallest = 4 if self.bidirectional else 2
        if num_buckets < smallest:
            raise ConfigError("encoding.num_buckets", f"{num_buckets} must be at least {smallest}")
        exact = num_buckets // (4 if self.bidirectional else 2)
        if max_distance <= exact:
            raise ConfigError(
                "encoding.max_distance", f"{max_distance} must exceed the {exact} exact buckets"
            )
        self.num_buckets, self.max_distance = num_buckets, max_distance
        self.bias = nn.Embedding(num_buckets, n_heads)
        nn.init.normal_(self.bias.weight, std=std)
        self._buckets: dict[tuple[int, int, torch.device, bool], torch.Tensor] = {}

    def buckets(self, q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
        relative = k_positions.unsqueeze(-2) - q_positions.unsqueeze(-1)  # [..., q, k]
        return t5_bucket(relative, self.bidirectional, self.num_buckets, self.max_distance)

    def forward(self, q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
        """[heads, q, k], or [batch, heads, q, k] for per-sequence position ids."""
        if q_positions.dim() == 2:  # randomized positions: a bias per sequence
            return self.bias(self.buckets(q_positions, k_positions)).permute(0, 3, 1, 2)
        n, m, device = len(q_positions), len(k_positions), q_positions.device
        plain = torch.arange(max(n, m), device=device)
        cacheable = torch.equal(q_positions, plain[:n]) and torch.equal(k_positions, plain[:m])
        # inference-mode tensors cannot enter a training graph: a cache of their own
        key = (n, m, device, torch.is_inference_mode_enabled())
        buckets = self._buckets.get(key) if cacheable else None
        if buckets is None:  # for positions 0..L-1 the buckets depend on L only: cached
            buckets = self.buckets(q_positions, k_positions)
            if cacheable:
                self._buckets[key] = buckets
        return self.bias(buckets).permute(2, 0, 1)  # [heads, q, k]
