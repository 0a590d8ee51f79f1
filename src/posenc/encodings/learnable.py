"""encoding=learnable: a trained table of one vector per position (BERT/GPT style)."""

from __future__ import annotations

import torch
from torch import nn

from posenc.encodings.base import BASE, InputEncoding, Randomizable
from posenc.encodings.sinusoidal import sinusoidal_table
from posenc.errors import check_at_least, check_choice, check_positive

INITS = ("zeros", "normal", "sinusoidal")


class Learnable(Randomizable, InputEncoding):
    """A [max_len, dim] parameter; refuses positions past its rows. randomize=true: a table
    of max_position rows, each sequence trained on a sorted random subset of them."""

    learned_table = True

    def __init__(
        self,
        dim: int,
        seq_len: int,
        init: str = "normal",
        std: float = 0.02,
        base: float = BASE,
        **common,
    ):
        super().__init__(dim=dim, seq_len=seq_len, **common)
        self.require_length(seq_len)
        check_choice("encoding.init", init, INITS)
        check_positive("encoding.base", base)
        check_at_least("encoding.std", std, 0)
        if init == "zeros":
            weight = torch.zeros(self.max_len, dim)
        elif init == "normal":
            weight = torch.randn(self.max_len, dim) * std
        else:
            weight = sinusoidal_table(self.max_len, dim, base)
        self.weight = nn.Parameter(weight)

    def table(self) -> torch.Tensor:
        return self.weight

    def encode(self, positions: torch.Tensor) -> torch.Tensor:
        self.require_length(positions.shape[-1])
        self.require_ids(positions)
        return self.weight[positions]
