"""encoding=sinusoidal: the fixed sine/cosine table of Vaswani et al. (2017)."""

from __future__ import annotations

import torch

from posenc.encodings.base import BASE, InputEncoding, Randomizable
from posenc.errors import check_choice, check_positive

LAYOUTS = ("interleaved", "concat")


def sinusoidal_vectors(
    positions: torch.Tensor, dim: int, base: float = BASE, layout: str = "interleaved"
) -> torch.Tensor:
    """PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(p / base^(2i/d)), any d, for any
    position ids [...]; returns [..., dim] float32. layout=concat puts all sine channels
    first, then all cosine channels (tensor2tensor)."""
    check_choice("encoding.layout", layout, LAYOUTS)
    pos = positions.to(torch.float64).unsqueeze(-1)
    two_i = torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device)
    angle = pos / base ** (two_i / dim)  # [..., ceil(d/2)]
    sin, cos = torch.sin(angle), torch.cos(angle[..., : dim // 2])
    if layout == "concat":
        return torch.cat([sin, cos], dim=-1).float()
    table = torch.empty(*angle.shape[:-1], dim, dtype=torch.float64, device=pos.device)
    table[..., 0::2], table[..., 1::2] = sin, cos
    return table.float()


def sinusoidal_table(
    positions: int, dim: int, base: float = BASE, layout: str = "interleaved"
) -> torch.Tensor:
    """The table of positions 0..positions-1, [positions, dim]."""
    return sinusoidal_vectors(torch.arange(positions), dim, base, layout)


class Sinusoidal(Randomizable, InputEncoding):
    """No gradient; positions past max_len are computed, not refused. randomize=true: each
    sequence gets a sorted random subset of [0, max_position) as its positions."""

    def __init__(
        self,
        dim: int,
        seq_len: int,
        base: float = BASE,
        layout: str = "interleaved",
        **common,
    ):
        super().__init__(dim=dim, seq_len=seq_len, **common)
        check_positive("encoding.base", base)
        check_choice("encoding.layout", layout, LAYOUTS)
        self.base, self.layout = base, layout
        self.register_buffer("pe", sinusoidal_table(self.max_len, dim, base, layout))

    def table(self) -> torch.Tensor:
        return self.pe

    def encode(self, positions: torch.Tensor) -> torch.Tensor:
        # Ids inside the table are looked up; any past it (random_eval=false at a longer length,
        # a task's ids) are computed.
        if positions.dim() == 1:
            inside = len(positions) <= self.max_len
        else:  # random ids are drawn below max_position <= max_len; a task's are looked at
            inside = self.random is not None or int(positions.max()) < self.max_len
        if inside:
            return self.pe[positions]
        return sinusoidal_vectors(positions, self.dim, self.base, self.layout)
