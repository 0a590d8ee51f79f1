"""encoding=none: no position information, the control."""

from __future__ import annotations

import torch

from posenc.encodings.base import InputEncoding


class NoEncoding(InputEncoding):
    """Leaves the sequence as it is. With `model.causal=true` on a transformer this is NoPE."""

    def __init__(self, dim: int, seq_len: int):
        super().__init__(dim, seq_len)

    def table(self) -> None:
        return None

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return x
