"""The encoding contract: a root class, one base class per slot (documented in __init__)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from posenc.errors import ConfigError, check_at_least, check_choice, check_finite

INPUT = "input"  # on the sequence: added to it or concatenated as extra features
ROTARY = "rotary"  # rotates queries and keys in every attention layer
BIAS = "bias"  # adds a [heads, q, k] bias to the attention scores
SLOTS = (INPUT, ROTARY, BIAS)

COMBINES = ("add", "concat")


class PositionalEncoding(nn.Module):
    """Root of every encoding: the slot it plugs into and what describes it."""

    slot: ClassVar[str] = INPUT

    def table(self) -> torch.Tensor | None:
        """What describes the encoding, saved as encoding_initial.npy / encoding_final.npy;
        None for an encoding with nothing to save."""
        return None


class InputEncoding(PositionalEncoding):
    """Input slot: built with the sequence width `dim` and the dataset's `seq_len`.

    Subclasses implement `encode(positions)`: position ids [L] (or [batch, L]) to vectors
    [L, dim] (or [batch, L, dim]). `forward(x, positions)` adds `scale` times them to x
    [batch, L, dim] or concatenates them as `dim` extra features (`out_dim` says which).
    """

    slot = INPUT

    def __init__(
        self,
        dim: int,
        seq_len: int,
        max_len: int | None = None,
        combine: str = "add",
        scale: float = 1.0,
    ):
        super().__init__()
        check_choice("encoding.combine", combine, COMBINES)
        check_finite("encoding.scale", scale)
        self.dim = dim
        self.seq_len = seq_len
        self.max_len = seq_len if max_len is None else max_len
        check_at_least("encoding.max_len", self.max_len, 1)
        self.combine = combine
        self.scale = scale

    @property
    def out_dim(self) -> int:
        """Width of the sequence after this encoding."""
        return 2 * self.dim if self.combine == "concat" else self.dim

    def encode(self, positions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def table(self) -> torch.Tensor | None:
        """The vectors of positions 0..max_len-1, [max_len, dim]."""
        device = next((b.device for b in self.buffers()), None)
        device = next((p.device for p in self.parameters()), device)
        return self.encode(torch.arange(self.max_len, device=device))

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        pe = self.encode(positions).to(x.dtype)
        if self.scale != 1.0:
            pe = self.scale * pe
        if self.combine == "add":
            return x + pe
        return torch.cat([x, pe.expand(x.shape[0], -1, -1)], dim=-1)

    def require_length(self, length: int) -> None:
        """A learned table cannot run past its rows: refuse, never truncate."""
        if length > self.max_len:
            raise ConfigError(
                "encoding.max_len",
                f"{self.max_len} is below the sequence length {length}; set "
                f"encoding.max_len>={length} (a learned table cannot run past its length)",
            )


class RotaryEncoding(PositionalEncoding):
    """Rotary slot: built with a head's width `dim` and `seq_len`.

    `forward(q, k, positions)` takes queries and keys [batch, heads, L, dim] and position
    ids [L] and returns them rotated, so that q_m·k_n depends on m − n.
    """

    slot = ROTARY

    def __init__(self, dim: int, seq_len: int):
        super().__init__()
        self.dim, self.seq_len = dim, seq_len


class AttentionBias(PositionalEncoding):
    """Bias slot: built with the attention's `n_heads` and `seq_len`.

    `forward(q_positions, k_positions)` returns a float bias [heads, Lq, Lk] that is added
    to the attention scores. `table()` is the bias by relative distance, [heads, 2·L − 1],
    column L − 1 + (j − i) for key j and query i, L = seq_len.
    """

    slot = BIAS

    def __init__(self, n_heads: int, seq_len: int):
        super().__init__()
        self.n_heads, self.seq_len = n_heads, seq_len

    def table(self) -> torch.Tensor:
        i = torch.zeros(1, dtype=torch.long, device=self._device())
        j = torch.arange(-(self.seq_len - 1), self.seq_len, device=i.device)
        return self(i + self.seq_len - 1, j + self.seq_len - 1)[:, 0, :]

    def _device(self) -> torch.device:
        for t in (*self.parameters(), *self.buffers()):
            return t.device
        return torch.device("cpu")
