"""model=linear: one linear map shared by every position."""

from __future__ import annotations

import torch

from posenc.errors import check_choice
from posenc.models.base import Model

READOUTS = ("mean", "last", "flatten")


class Linear(Model):
    """Per-step targets read every position; per-sequence targets take `readout`: the mean
    or last of the per-position outputs, or one map of the flattened sequence."""

    def __init__(self, spec, encoding, readout: str = "mean", **common):
        super().__init__(spec, encoding, **common)
        check_choice("model.readout", readout, READOUTS)
        self.readout = "step" if spec.per_step else readout
        width = spec.seq_len * self.in_dim if self.readout == "flatten" else self.in_dim
        self.head = self.make_head(width)

    def unsupported(self, length: int) -> str | None:
        if self.readout == "flatten" and length != self.spec.seq_len:
            return f"readout=flatten reads exactly {self.spec.seq_len} positions"
        return super().unsupported(length)

    def sees_future(self) -> tuple[str, str] | None:
        if self.readout == "step":  # one map per position: a bigram model on tokens
            return None
        return ("model.readout", f"{self.readout} reads every position for one output")

    def body(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        if self.readout == "flatten":
            return self.head(x.flatten(1)).squeeze(-1)
        out = self.head(x).squeeze(-1)  # [batch, seq_len]
        if self.readout == "mean":
            return out.mean(1)
        if self.readout == "last":
            return out[:, -1]
        return out
