"""encoding=abacus: Abacus embeddings (McLeish et al. 2024; mcleish7/arithmetic, abacus.py)."""

from __future__ import annotations

import torch
from torch import nn

from posenc.encodings.base import PLACES, InputEncoding
from posenc.errors import ConfigError, check_at_least


class Abacus(InputEncoding):
    """A learned table indexed by each digit's place inside its number, counted from 1 (row 0:
    every token that is not a digit), read from the `places` stream the task supplies
    (dataset=addition). In training one offset k in [0, max_offset) is drawn per batch, as
    the reference draws it (`random.randint(0, max_k)` per forward), and added to every digit's
    place, so the rows past the training length are trained too; none at evaluation.

    Rows: `max_len` (null: the longest training sequence plus max_offset, every row a
    training batch can reach); a place past them is refused, never wrapped. Beside it, an
    encoding of another slot acts on attention: `+encoding@beside=fire`."""

    reads = PLACES
    learned_table = True

    def __init__(self, dim: int, seq_len: int, max_offset: int = 100, std: float = 0.02, **common):
        check_at_least("encoding.max_offset", max_offset, 1)
        check_at_least("encoding.std", std, 0)
        common["max_len"] = common.get("max_len") or seq_len + max_offset
        super().__init__(dim=dim, seq_len=seq_len, **common)
        if self.max_len < seq_len + max_offset:  # a training batch's places must fit
            raise ConfigError(
                "encoding.max_len",
                f"{self.max_len} rows cannot hold the places of a training sequence of "
                f"{seq_len} tokens shifted by up to encoding.max_offset {max_offset}; set "
                f"encoding.max_len>={seq_len + max_offset} or null",
            )
        self.max_offset = max_offset
        self.weight = nn.Parameter(torch.randn(self.max_len, dim) * std)

    def position_ids(self, batch, length, device, supplied=None) -> torch.Tensor:
        if supplied is None:
            raise ConfigError(
                "encoding", "abacus reads the digit places a task supplies (dataset=addition)"
            )
        if not self.training:
            return supplied
        k = int(torch.randint(self.max_offset, ()))  # once per batch, from torch's stream
        return torch.where(supplied > 0, supplied + k, supplied)

    def unsupported(self, length: int) -> str | None:
        return None  # places, not the length, index the table (unsupported_ids)

    def table(self) -> torch.Tensor:
        return self.weight

    def encode(self, positions: torch.Tensor) -> torch.Tensor:
        self.require_ids(positions)
        return self.weight[positions]
