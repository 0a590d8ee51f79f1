"""encoding=alibi: attention with linear biases (Press et al. 2022)."""

from __future__ import annotations

import math

import torch

from posenc.encodings.base import AttentionBias
from posenc.errors import ConfigError, check_choice

MODES = ("symmetric", "causal", "asymmetric")


def alibi_slopes(n_heads: int) -> list[float]:
    """The ALiBi reference code's slopes: 2^(−8h/n), h = 1..n, for n a power of two; else
    those of the closest lower power of two, then every other slope of the next one up."""
    if math.log2(n_heads).is_integer():
        return [2 ** (-8 * h / n_heads) for h in range(1, n_heads + 1)]
    lower = 2 ** math.floor(math.log2(n_heads))
    return alibi_slopes(lower) + alibi_slopes(2 * lower)[0::2][: n_heads - lower]


class ALiBi(AttentionBias):
    """bias[h, i, j] = −slope_h·|i − j| (mode symmetric, the default without a causal mask);
    mode causal penalises only keys behind the query (the paper's form, with model.causal);
    mode asymmetric uses one slope set for keys on the left and another for the right (the
    odd-numbered slopes of a 2n-head ALiBi), so mirrored offsets differ. No parameters: the
    model caches the bias per (length, device)."""

    static = True  # no parameters: cached per length

    def __init__(self, n_heads: int, seq_len: int, causal: bool = False, mode: str | None = None):
        super().__init__(n_heads, seq_len)
        mode = mode or ("causal" if causal else "symmetric")
        check_choice("encoding.mode", mode, MODES)
        if mode == "causal" and not causal:
            raise ConfigError(
                "encoding.mode",
                "'causal' needs model.causal=true (without a causal mask keys on the right "
                "would get no penalty); use symmetric or asymmetric",
            )
        self.mode = mode
        self.register_buffer("left", torch.tensor(alibi_slopes(n_heads)), persistent=False)
        right = alibi_slopes(2 * n_heads)[0::2][:n_heads] if mode == "asymmetric" else None
        self.register_buffer(
            "right", self.left.clone() if right is None else torch.tensor(right), persistent=False
        )

    def forward(self, q_positions: torch.Tensor, k_positions: torch.Tensor) -> torch.Tensor:
        """[heads, q, k], or [batch, heads, q, k] for per-sequence position ids."""
        offset = k_positions.unsqueeze(-2) - q_positions.unsqueeze(-1)  # j − i: [..., q, k]
        offset = offset.to(self.left.dtype).unsqueeze(-3)  # over the heads
        behind, ahead = (-offset).clamp_min(0), offset.clamp_min(0)
        if self.mode == "causal":
            ahead = torch.zeros_like(ahead)  # masked anyway
        return -(self.left[:, None, None] * behind + self.right[:, None, None] * ahead)
