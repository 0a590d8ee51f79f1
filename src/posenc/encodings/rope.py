"""encoding=rope: rotary position embedding of queries and keys (Su et al. 2021), with
context extension by position interpolation, NTK-aware scaling or YaRN."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch

from posenc.encodings.base import BASE, Randomizable, RotaryEncoding
from posenc.errors import ConfigError, check_at_least, check_choice, check_positive
from posenc.metrics import SCALINGS

LAYOUTS = ("half", "interleaved")
YARN_ALPHA, YARN_BETA = 1.0, 32.0  # YaRN's ramp bounds, in rotations over the training length


class RoPE(Randomizable, RotaryEncoding):
    """Rotates pairs of each head's dimensions by angle p·θ_i, θ_i = base^(−2i/r), so the
    score q_m·k_n depends on m − n only.

    layout=half pairs dimension i with i + r/2 (GPT-NeoX, Hugging Face Llama);
    layout=interleaved pairs 2i with 2i + 1 (RoFormer, GPT-J). `fraction` of each head's
    dimensions rotate (r of them, even); the rest pass unchanged. Angles are float32.
    table(): the angle table [seq_len, r/2].

    `scaling` applies to sequences longer than the training length it extends
    (`original_length`; null: seq_len, so it acts only past this run's own windows; a
    fine-tune at a longer length sets its source's), with factor s = `scaling_factor`:
    `linear` divides positions by s (position interpolation); `ntk` multiplies the base by
    s^(r/(r−2)); `yarn` divides θ_i by s for dimensions that turn less than α = 1 time over
    the training length it extends, keeps it for those that turn more than
    β = 32 times, ramps linearly between, and multiplies q and k by 0.1·ln s + 1.
    """

    def __init__(
        self,
        dim: int,
        seq_len: int,
        base: float = BASE,
        layout: str = "half",
        fraction: float = 1.0,
        scaling: str = "none",
        scaling_factor: float = 4.0,
        original_length: int | None = None,
        **common,
    ):
        super().__init__(dim=dim, seq_len=seq_len, **common)
        check_positive("encoding.base", base)
        check_choice("encoding.layout", layout, LAYOUTS)
        check_choice("encoding.scaling", scaling, SCALINGS)
        check_at_least("encoding.scaling_factor", scaling_factor, 1)
        check_at_least("encoding.original_length", original_length, 1)
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
        self.check_scaling("encoding.scaling", scaling)
        self.base, self.layout = base, layout
        self.scaling, self.factor = scaling, scaling_factor
        self.original_length = original_length or seq_len  # where the scaling starts
        self.register_buffer("inv_freq", self.frequencies(base), persistent=False)

    def check_scaling(self, key: str, scaling: str) -> None:
        if scaling == "ntk" and self.rotated == 2:
            raise ConfigError(
                key,
                "ntk multiplies the base by s^(r/(r−2)), undefined for r = 2 rotated "
                "dimensions; rotate at least 4 (encoding.fraction, model.d_model) or use "
                "linear or yarn",
            )
        if self.random is not None and scaling != "none":
            raise ConfigError(key, "randomized positions already cover long inputs; use none")

    @contextlib.contextmanager
    def rescaled(self, scaling: str, factor: float) -> Iterator[None]:
        """Evaluate under another scaling and factor (eval.rope_scalings), restored after:
        a scaling acts only past the training length, so the trained weights stay valid.
        Raises ConfigError (key eval.rope_scalings) where the scaling cannot apply."""
        check_choice("eval.rope_scalings", scaling, SCALINGS)
        self.check_scaling("eval.rope_scalings", scaling)
        saved = self.scaling, self.factor
        self.scaling, self.factor = scaling, max(1.0, factor)
        try:
            yield
        finally:
            self.scaling, self.factor = saved

    def frequencies(self, base: float) -> torch.Tensor:
        """θ_i = base^(−2i/r), i = 0..r/2−1."""
        i = torch.arange(0, self.rotated, 2, dtype=torch.float64)
        return (base ** (-i / self.rotated)).float()

    def scaled(self) -> tuple[torch.Tensor, float, float]:
        """(θ_i, position divisor, q/k factor) for sequences past the training length."""
        s, theta = self.factor, self.inv_freq
        if self.scaling == "linear":
            return theta, s, 1.0
        if self.scaling == "ntk":
            r = self.rotated
            return self.frequencies(self.base * s ** (r / (r - 2))).to(theta.device), 1.0, 1.0
        if self.scaling == "yarn":
            rotations = self.original_length * theta / (2 * math.pi)
            ramp = ((rotations - YARN_ALPHA) / (YARN_BETA - YARN_ALPHA)).clamp(0, 1)
            return (1 - ramp) * theta / s + ramp * theta, 1.0, 0.1 * math.log(s) + 1
        return theta, 1.0, 1.0

    def angles(self, positions: torch.Tensor) -> torch.Tensor:
        """p·θ_i for every position id: [..., r/2], float32; scaled past the training length."""
        theta, divisor = self.inv_freq, 1.0
        if self.scaling != "none" and positions.shape[-1] > self.original_length:
            theta, divisor, _ = self.scaled()
        return (positions.to(torch.float32) / divisor).unsqueeze(-1) * theta

    def table(self) -> torch.Tensor:
        return self.angles(torch.arange(self.seq_len, device=self.inv_freq.device))

    def rotation(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin of every angle, [L, r/2] (or [batch, 1, L, r/2] for per-sequence
        positions), with YaRN's q/k factor folded in past the training length."""
        angle = self.angles(positions)
        if angle.dim() == 3:  # per-sequence positions [batch, L, r/2] -> over the heads
            angle = angle.unsqueeze(1)
        cos, sin = angle.cos(), angle.sin()
        if self.scaling == "yarn" and positions.shape[-1] > self.original_length:
            factor = self.scaled()[2]
            cos, sin = cos * factor, sin * factor
        return cos, sin

    def rotate(self, q: torch.Tensor, k: torch.Tensor, rotation) -> tuple:
        cos, sin = rotation
        return self._rotate(q, cos, sin), self._rotate(k, cos, sin)

    def _rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
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
