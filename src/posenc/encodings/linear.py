"""encoding=linear: PE_pos = W·pos + b, a learned linear map of the position index."""

from __future__ import annotations

import torch
from torch import nn

from posenc.encodings.base import InputEncoding


class LinearPosition(InputEncoding):
    """normalize=True feeds pos / (max_len - 1), so the training positions span [0, 1]; later
    positions extrapolate the line."""

    def __init__(
        self,
        dim: int,
        seq_len: int,
        normalize: bool = True,
        **common,
    ):
        super().__init__(dim, seq_len, **common)
        self.require_length(seq_len)
        self.normalize = normalize
        self.proj = nn.Linear(1, dim)

    def encode(self, positions: torch.Tensor) -> torch.Tensor:  # defined past max_len too
        pos = positions.to(self.proj.weight.dtype)
        if self.normalize:
            pos = pos / max(self.max_len - 1, 1)
        return self.proj(pos.unsqueeze(-1))
