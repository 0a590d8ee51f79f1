"""model=transformer: a stack of pre-norm encoder blocks, with all three encoding slots."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from posenc.encodings.base import BIAS, ROTARY
from posenc.errors import ConfigError, check_at_least, check_choice
from posenc.models.base import Attention, Model

READOUTS = ("mean", "last", "first")


class Block(nn.Module):
    """x + attention(norm(x)), then x + feed_forward(norm(x)); dropout where
    torch.nn.TransformerEncoderLayer has it, ReLU as its default."""

    def __init__(self, width: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.ff = nn.Sequential(
            nn.Linear(width, d_ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_ff, width)
        )
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, rotary, rotation, mask, causal):
        b, n, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        if rotary is not None:
            q, k = rotary.rotate(q, k, rotation)
        attn = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=causal and mask is None,
        )
        x = x + self.drop1(self.out(attn.transpose(1, 2).reshape(b, n, width)))
        return x + self.drop2(self.ff(self.norm2(x)))


class Transformer(Model):
    """Pre-norm encoder blocks (multi-head self-attention, then a feed-forward layer, each
    with a residual), a final LayerNorm and a linear head. Attention runs through
    scaled_dot_product_attention; a bias-slot encoding is its float mask (merged with the
    causal mask), cached per (length, device, inference mode) when it has no parameters.
    With causal=true and encoding=none this is NoPE (Kazemnejad et al. 2023)."""

    def __init__(
        self,
        spec,
        encoding,
        n_heads: int = 4,
        n_layers: int = 2,
        d_ff: int | None = None,
        dropout: float = 0.0,
        causal: bool = False,
        readout: str = "mean",
        d_model: int | None = 32,
        **common,
    ):
        check_at_least("model.n_heads", n_heads, 1)
        check_at_least("model.n_layers", n_layers, 1)
        check_at_least("model.d_ff", d_ff, 1)
        check_choice("model.readout", readout, READOUTS)
        if not 0 <= dropout < 1:
            raise ConfigError("model.dropout", f"{dropout} must be in [0, 1)")
        attention = Attention(n_heads, causal)
        super().__init__(spec, encoding, d_model=d_model, attention=attention, **common)
        self.n_heads, self.causal = n_heads, causal
        width = self.head_width(self.in_dim) * n_heads
        self.readout = "step" if spec.per_step else readout
        self.blocks = nn.ModuleList(
            Block(width, n_heads, d_ff or 4 * width, dropout) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(width)
        self.head = self.make_head(width)
        self._masks: dict[tuple[int, torch.device, bool], torch.Tensor | None] = {}

    def sees_future(self) -> tuple[str, str] | None:
        if self.causal:
            return None
        return (
            "model.causal",
            "false lets every position attend to the ones after it, which hold the next "
            "symbol it is asked for; set model.causal=true",
        )

    def attention_mask(self, positions: torch.Tensor) -> torch.Tensor | None:
        """The float mask for scaled_dot_product_attention: the bias-slot encoding's
        [heads, L, L] bias, −inf above the diagonal when causal; None when plain causal or
        no mask (SDPA's own is_causal then applies)."""
        bias = self.in_slot(BIAS)
        if bias is None:
            return None
        # inference-mode tensors cannot enter a training graph: a cache of their own
        key = (positions.shape[-1], positions.device, torch.is_inference_mode_enabled())
        static = bias.static and positions.dim() == 1  # a batch's own ids: never cached
        if static and key in self._masks:
            return self._masks[key]
        mask = bias(positions, positions)
        if self.causal:
            future = torch.ones(key[0], key[0], dtype=torch.bool, device=key[1]).triu(1)
            mask = mask.masked_fill(future, float("-inf"))
        if static:
            self._masks[key] = mask
        return mask

    def body(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        rotary = self.in_slot(ROTARY)
        rotation = rotary.rotation(positions) if rotary is not None else None  # once, all layers
        mask = self.attention_mask(positions)
        if mask is not None:  # [1 or batch, heads, L, L]: 4-D keeps SDPA on its fused CPU kernel
            mask = mask.to(x.dtype)
            mask = mask.unsqueeze(0) if mask.dim() == 3 else mask
        for block in self.blocks:
            x = block(x, rotary, rotation, mask, self.causal)
        x = self.norm(x)
        if self.readout == "mean":
            x = x.mean(1)
        elif self.readout == "last":
            x = x[:, -1]
        elif self.readout == "first":
            x = x[:, 0]
        return self.head(x).squeeze(-1)
