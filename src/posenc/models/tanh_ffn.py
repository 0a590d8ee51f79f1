"""model=tanh_ffn: a feed-forward network over the flattened sequence."""

from __future__ import annotations

import torch
from torch import nn

from posenc.errors import ConfigError, check_at_least, check_choice
from posenc.models.base import Model

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class TanhFFN(Model):
    """Flattened sequence -> Linear(hidden_dim) -> activation -> Linear -> tanh (optional);
    one output per position for per-step targets."""

    def __init__(
        self,
        spec,
        encoding,
        hidden_dim: int = 64,
        activation: str = "tanh",
        output_tanh: bool = True,
        **common,
    ):
        if spec.n_classes is not None:
            raise ConfigError(
                "model",
                "tanh_ffn maps the flattened window at once, so every output reads every "
                "position (in text, the next character it is asked for), at one fixed width, "
                "as real values; token tasks and text need model=transformer (causal for "
                "text), lstm or linear",
            )
        super().__init__(spec, encoding, **common)
        check_choice("model.activation", activation, ACTIVATIONS)
        check_at_least("model.hidden_dim", hidden_dim, 1)
        self.hidden = nn.Linear(spec.seq_len * self.in_dim, hidden_dim)
        self.activation = ACTIVATIONS[activation]()
        self.head = self.make_head(hidden_dim, spec.seq_len if spec.per_step else 1)
        self.output_tanh = output_tanh

    def unsupported(self, length: int) -> str | None:
        if length != self.spec.seq_len:
            return f"a tanh FFN reads a fixed width of {self.spec.seq_len} positions"
        return super().unsupported(length)

    def body(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        out = self.head(self.activation(self.hidden(x.flatten(1))))
        if self.output_tanh:
            out = torch.tanh(out)
        return out if self.spec.per_step else out.squeeze(-1)
