"""Positional encodings.

Every encoding is a `PositionalEncoding`: it is built with the width `dim` of the sequence it
acts on and the dataset's `seq_len`, says what it offers (`kinds`), and, where it has one,
exposes its position table [positions, dim]. Today all act on the input (`INPUT`: a table
added to or concatenated with the sequence); encodings that act inside attention will offer
`QK_ROTATION` or `ATTENTION_BIAS`, and a model body refuses kinds it cannot use.
"""

from __future__ import annotations

import torch
from torch import nn

from posenc.config import ConfigError, choice_error

INPUT = "input"  # an additive or concatenated table on the sequence
QK_ROTATION = "qk_rotation"  # rotates queries and keys (RoPE)
ATTENTION_BIAS = "attention_bias"  # adds to attention scores (ALiBi, T5 bias)

COMBINES = ("add", "concat")


def sinusoidal_table(
    positions: int, dim: int, base: float = 10000.0, layout: str = "interleaved"
) -> torch.Tensor:
    """PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(p / base^(2i/d)); any d.

    layout=concat puts all sine channels first, then all cosine channels (tensor2tensor).
    """
    pos = torch.arange(positions, dtype=torch.float64).unsqueeze(1)
    two_i = torch.arange(0, dim, 2, dtype=torch.float64)  # 2i for each pair
    angle = pos / base ** (two_i / dim)  # [positions, ceil(d/2)]
    table = torch.empty(positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : dim // 2])
    if layout == "concat":
        table = torch.cat([table[:, 0::2], table[:, 1::2]], dim=1)
    elif layout != "interleaved":
        raise choice_error("encoding.layout", layout, ("interleaved", "concat"))
    return table.float()


class PositionalEncoding(nn.Module):
    """Base class: the contract a model relies on."""

    kinds: frozenset[str] = frozenset({INPUT})

    def __init__(self, dim: int, seq_len: int, max_len: int | None = None, combine: str = "add"):
        super().__init__()
        if combine not in COMBINES:
            raise choice_error("encoding.combine", combine, COMBINES)
        self.dim = dim
        self.seq_len = seq_len
        self.max_len = seq_len if max_len is None else max_len
        if self.max_len < 1:
            raise ConfigError("encoding.max_len", f"{self.max_len} must be at least 1")
        self.combine = combine

    @property
    def out_dim(self) -> int:
        """Width of the sequence after this encoding."""
        return 2 * self.dim if self.combine == "concat" else self.dim

    def table(self) -> torch.Tensor | None:
        """The position table [max_len, dim], or None for encodings without one."""
        return None

    def positions(self, length: int) -> torch.Tensor:
        """Encodings for positions 0..length-1, shape [length, dim]."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pe = self.positions(x.shape[1]).to(x.dtype)
        if self.combine == "add":
            return x + pe
        return torch.cat([x, pe.expand(x.shape[0], -1, -1)], dim=-1)

    def _require_length(self, length: int) -> None:
        if length > self.max_len:
            raise ConfigError(
                "encoding.max_len",
                f"{self.max_len} is below the sequence length {length}; set "
                f"encoding.max_len>={length} (a learned table cannot run past its length)",
            )


class NoEncoding(PositionalEncoding):
    """No position information: the control."""

    def __init__(self, dim: int, seq_len: int):
        super().__init__(dim, seq_len)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Sinusoidal(PositionalEncoding):
    """Fixed sine/cosine table (Vaswani et al.); computed past max_len when needed."""

    def __init__(
        self,
        dim: int,
        seq_len: int,
        max_len: int | None = None,
        combine: str = "add",
        base: float = 10000.0,
        layout: str = "interleaved",
    ):
        super().__init__(dim, seq_len, max_len, combine)
        self.base, self.layout = base, layout
        self.register_buffer("pe", sinusoidal_table(self.max_len, dim, base, layout))

    def table(self) -> torch.Tensor:
        return self.pe

    def positions(self, length: int) -> torch.Tensor:
        if length <= self.max_len:
            return self.pe[:length]
        return sinusoidal_table(length, self.dim, self.base, self.layout).to(self.pe.device)


INITS = ("zeros", "normal", "sinusoidal")


class Learnable(PositionalEncoding):
    """A trained [max_len, dim] table (BERT/GPT-style absolute positions)."""

    def __init__(
        self,
        dim: int,
        seq_len: int,
        max_len: int | None = None,
        combine: str = "add",
        init: str = "normal",
        std: float = 0.02,
        base: float = 10000.0,
    ):
        super().__init__(dim, seq_len, max_len, combine)
        self._require_length(seq_len)
        if init == "zeros":
            weight = torch.zeros(self.max_len, dim)
        elif init == "normal":
            weight = torch.randn(self.max_len, dim) * std
        elif init == "sinusoidal":
            weight = sinusoidal_table(self.max_len, dim, base)
        else:
            raise choice_error("encoding.init", init, INITS)
        self.weight = nn.Parameter(weight)

    def table(self) -> torch.Tensor:
        return self.weight

    def positions(self, length: int) -> torch.Tensor:
        self._require_length(length)
        return self.weight[:length]


class LinearPosition(PositionalEncoding):
    """PE_pos = W·pos + b: a learned linear map of the position index.

    normalize=True feeds pos / (max_len - 1), so positions span [0, 1].
    """

    def __init__(
        self,
        dim: int,
        seq_len: int,
        max_len: int | None = None,
        combine: str = "add",
        normalize: bool = True,
    ):
        super().__init__(dim, seq_len, max_len, combine)
        self._require_length(seq_len)
        self.normalize = normalize
        self.proj = nn.Linear(1, dim)

    def _index(self, length: int) -> torch.Tensor:
        pos = torch.arange(length, dtype=torch.float32, device=self.proj.weight.device)
        if self.normalize:
            pos = pos / max(self.max_len - 1, 1)
        return pos.unsqueeze(1)

    def table(self) -> torch.Tensor:
        return self.proj(self._index(self.max_len))

    def positions(self, length: int) -> torch.Tensor:
        self._require_length(length)
        return self.proj(self._index(length))


__all__ = [
    "ATTENTION_BIAS",
    "INPUT",
    "QK_ROTATION",
    "Learnable",
    "LinearPosition",
    "NoEncoding",
    "PositionalEncoding",
    "Sinusoidal",
    "sinusoidal_table",
]
