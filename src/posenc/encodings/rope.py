"""encoding=rope: rotary position embedding of queries and keys (Su et al. 2021)."""

from __future__ import annotations

import torch

from posenc.encodings.base import RotaryEncoding
from posenc.errors import ConfigError, check_choice, check_positive

LAYOUTS = ("half", "interleaved")


class RoPE(RotaryEncoding):
    """Rotates pairs of each head's dimensions by angle p·θ_i, θ_i = base^(−2i/r), so the
    score q_m·k_n depends on m − n only.

    layout=half pairs dimension i with i + r/2 (GPT-NeoX, Hugging Face Llama);
    layout=interleaved pairs 2i with 2i + 1 (RoFormer, GPT-J). `fraction` of each head's
    dimensions rotate (r of them, even); the rest pass unchanged. cos and sin are computed in
    float32. table(): the angle table [seq_len, r/2].
    """

    def __init__(
        self,
        dim: int,
        seq_len: int,
        base: float = 10000.0,
        layout: str = "half",
        fraction: float = 1.0,
    ):
        super().__init__(dim, seq_len)
        check_positive("encoding.base", base)
        check_choice("encoding.layout", layout, LAYOUTS)
        if not 0 < fraction <= 1:
            raise ConfigError("encoding.fraction", f"{fraction} must be in (0, 1]")
        self.rotated = round(dim * fraction)
        if self.rotated < 2 or self.rotated % 2:
            raise ConfigError(
                "encoding.fraction",
                f"rotates {self.rotated} of a head's {dim} dimensions; RoPE rotates pairs, so "
                "this must be an even number of at least 2 (change encoding.fraction, "
                "model.d_model or model.n_heads)",
            )
        self.base, self.layout = base, layout
        i = torch.arange(0, self.rotated, 2, dtype=torch.float32)
        self.register_buffer("inv_freq", base ** (-i / self.rotated), persistent=False)

    def angles(self, positions: torch.Tensor) -> torch.Tensor:
        """p·θ_i for every position id: [..., r/2], float32."""
        return positions.to(torch.float32).unsqueeze(-1) * self.inv_freq

    def table(self) -> torch.Tensor:
        return self.angles(torch.arange(self.seq_len, device=self.inv_freq.device))

    def rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        r = self.rotated
        rot, rest = x[..., :r], x[..., r:]
        cos, sin = cos.to(x.dtype), sin.to(x.dtype)
        if self.layout == "half":
            a, b = rot[..., : r // 2], rot[..., r // 2 :]
            out = torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)
        else:
            a, b = rot[..., 0::2], rot[..., 1::2]
            out = torch.stack([a * cos - b * sin, b * cos + a * sin], dim=-1).flatten(-2)
        return torch.cat([out, rest], dim=-1) if rest.shape[-1] else out

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        angle = self.angles(positions)  # O(L·r) per call: cheap next to attention itself
        cos, sin = angle.cos(), angle.sin()
        return self.rotate(q, cos, sin), self.rotate(k, cos, sin)
