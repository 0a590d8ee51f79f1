"""model=lstm: a recurrent network read at its last step (every step for per-step targets)."""

from __future__ import annotations

import torch
from torch import nn

from posenc.errors import check_at_least
from posenc.models.base import Model


class LSTM(Model):
    def __init__(self, spec, encoding, hidden_dim: int = 32, num_layers: int = 1, **common):
        super().__init__(spec, encoding, **common)
        check_at_least("model.hidden_dim", hidden_dim, 1)
        check_at_least("model.num_layers", num_layers, 1)
        self.lstm = nn.LSTM(self.in_dim, hidden_dim, num_layers=num_layers, batch_first=True)
        self.head = self.make_head(hidden_dim)

    def body(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        if not self.spec.per_step:
            out = out[:, -1]
        return self.head(out).squeeze(-1)
