"""encoding=fire: functional interpolation for relative positions (Li et al. 2023)."""

from __future__ import annotations

import math

import torch
from torch import nn

from posenc.encodings.base import AttentionBias
from posenc.errors import check_at_least, check_positive
from posenc.memory import check_floats


class FIRE(AttentionBias):
    """bias[h, i, j] = MLP(ψ(i − j) / ψ(max(i, L_thr)))_h with ψ(x) = log(c·|x| + 1): a
    learned function of the relative distance, normalised by the query's own position, so
    every query sees distances in [0, 1] however long the sequence. c (init `c`) and L_thr
    (init `threshold`, null: the training length) are learned; the MLP has one hidden layer
    of `hidden_dim` ReLU units and one output per head. Without a causal mask |i − j| makes
    the bias symmetric."""

    def __init__(
        self,
        n_heads: int,
        seq_len: int,
        hidden_dim: int = 32,
        c: float = 1.0,
        threshold: float | None = None,
    ):
        super().__init__(n_heads, seq_len)
        check_at_least("encoding.hidden_dim", hidden_dim, 1)
        # the MLP's hidden units at every (query, key) pair, kept for the backward pass
        what = f"FIRE's {hidden_dim} hidden units at {seq_len}² distances"
        check_floats("encoding.hidden_dim", what, 3, seq_len, seq_len, hidden_dim)
        check_positive("encoding.c", c)
        threshold = float(seq_len) if threshold is None else threshold
        check_positive("encoding.threshold", threshold)
        self.log_c = nn.Parameter(torch.tensor(math.log(c)))
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))
        self.mlp = nn.Sequential(
            nn.Linear(1, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, n_heads)
        )

    def psi(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log1p(self.log_c.exp() * x.abs())

    def normalized(self, q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
        """ψ(i − j) / ψ(max(i, L_thr)) for every query i and key j: [..., q, k]."""
        dtype = self.threshold.dtype  # float32 unless the model was cast
        i = q_positions.to(dtype).unsqueeze(-1)
        j = k_positions.to(dtype).unsqueeze(-2)
        scale = torch.maximum(i, self.threshold.abs().clamp_min(1.0))
        return self.psi(i - j) / self.psi(scale)

    def forward(self, q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
        bias = self.mlp(self.normalized(q_positions, k_positions).unsqueeze(-1))
        return bias.movedim(-1, -3)  # [..., heads, q, k]
