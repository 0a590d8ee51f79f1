"""The memory-augmented RNNs' shared core (Delétang et al. 2023, after Joulin & Mikolov 2015):
a vanilla-RNN controller that reads the first cell of an external memory with every input
and, after each step, changes the memory by a softmax over discrete actions; the new memory
is the actions' outcomes mixed by their probabilities, so it is differentiable end to end.
Members: `stack_rnn` (push, pop, no-op) and `tape_rnn` (write, then stay, move or jump)."""

from __future__ import annotations

import math

import torch
from torch import nn

from posenc.encodings.none import NoEncoding
from posenc.errors import ConfigError, check_at_least
from posenc.memory import FLOAT
from posenc.models.base import Model


def reference_init(layer: nn.Linear, fan_in: int) -> nn.Linear:
    """Haiku's Linear initialisation, as the reference has it: weights from a normal with
    standard deviation 1/sqrt(fan_in) truncated at two deviations, zero bias."""
    std = 1 / math.sqrt(fan_in)
    nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


class MemoryRNN(Model):
    """h_t = ReLU(W_i [x_t; m_t] + b_i + W_h h_{t-1} + b_h) (Haiku's VanillaRNN, the
    reference's controller), m_t the memory's first cell before step t; then the member's
    `update(memory, h_t, context)`, the context made once from the inputs' lengths. The head
    reads ReLU(h_t) = h_t at each step. Inputs are one-hot tokens (d_model null, as in the
    reference) or features; no positional encoding: the memory is what carries order."""

    stepwise = True

    def __init__(
        self,
        spec,
        encoding,
        hidden_dim: int = 64,
        memory_size: int = 30,
        cell_size: int = 8,
        **common,
    ):
        super().__init__(spec, encoding, **common)
        check_at_least("model.hidden_dim", hidden_dim, 1)
        check_at_least("model.memory_size", memory_size, 2)
        check_at_least("model.cell_size", cell_size, 1)
        self.hidden_dim, self.memory_size, self.cell_size = hidden_dim, memory_size, cell_size
        self.check_sizes()
        fan_in = self.in_dim + cell_size  # one layer over [x_t; m_t] in the reference
        self.from_input = reference_init(nn.Linear(self.in_dim, hidden_dim), fan_in)
        self.from_memory = reference_init(nn.Linear(cell_size, hidden_dim, bias=False), fan_in)
        self.from_hidden = reference_init(nn.Linear(hidden_dim, hidden_dim), hidden_dim)
        self.head = self.make_head(hidden_dim)

    ACTIONS = 3  # the memory's outcomes mixed at each step (a member sets its own)

    def controller_size(self) -> int:
        """Parameters of the controller and the member's own layers."""
        h = self.hidden_dim
        return (self.in_dim + self.cell_size + h + 2) * h + (h + 1) * self.ACTIONS

    def check_sizes(self) -> None:
        """Refused before a layer is made, naming the key: parameters (with their gradients
        and two Adam moments) and one sequence's memory for one step (each outcome kept for
        the backward pass), each against the machine's free memory."""
        from posenc.memory import check_fits

        params = 4 * FLOAT * self.controller_size()
        key = "model.hidden_dim" if self.hidden_dim >= self.cell_size else "model.cell_size"
        what = f"a controller of {self.hidden_dim} units reading cells of {self.cell_size}"
        check_fits(key, what, params)
        cells = (self.ACTIONS + 1) * FLOAT * self.memory_size * self.cell_size
        key = "model.memory_size" if self.memory_size >= self.cell_size else "model.cell_size"
        what = f"a memory of {self.memory_size} cells of {self.cell_size} for one sequence"
        check_fits(key, what, cells)

    def _build_encoding(self, factory):
        cls = getattr(factory, "func", factory)
        if not (isinstance(cls, type) and issubclass(cls, NoEncoding)):
            raise ConfigError(
                "encoding",
                f"{type(self).__name__} takes no positional encoding (its memory carries "
                f"order, as in Delétang et al. 2023); use encoding=none, not "
                f"{getattr(cls, '__name__', cls)}",
            )
        return super()._build_encoding(factory)

    def context(self, jumps: torch.Tensor):
        """What every step's update needs of the inputs' lengths, made once a sequence."""
        return None

    def update(self, memory: torch.Tensor, h: torch.Tensor, context) -> torch.Tensor:
        """The memory [batch, memory_size, cell_size] after the step whose state is h."""
        raise NotImplementedError

    def input_lengths(self, x: torch.Tensor) -> torch.Tensor:
        """Each sequence's input length n [batch], as the token task's layout counts it
        (its tokens before the blanks), else its whole length."""
        layout = self.spec.layout
        if layout is None or x.dim() != 2:
            return torch.full((x.shape[0],), x.shape[1], dtype=torch.long, device=x.device)
        return layout.input_lengths(x)

    def forward(self, x: torch.Tensor, positions=None) -> torch.Tensor:
        jumps = self.input_lengths(x)  # no positional encoding: positions are not read
        if self.project is not None:
            x = self.project(x)
        return self.unroll(x, jumps)

    def body(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        full = torch.full((x.shape[0],), x.shape[1], dtype=torch.long, device=x.device)
        return self.unroll(x, full)

    def unroll(self, x: torch.Tensor, jumps: torch.Tensor) -> torch.Tensor:
        """Step by step over the sequence, vectorised over the batch."""
        batch, steps, _ = x.shape
        inputs = self.from_input(x)  # every step's input term at once
        memory = x.new_zeros(batch, self.memory_size, self.cell_size)
        h = x.new_zeros(batch, self.hidden_dim)
        context, outputs = self.context(jumps), []
        for t in range(steps):
            h = torch.relu(inputs[:, t] + self.from_memory(memory[:, 0]) + self.from_hidden(h))
            memory = self.update(memory, h, context)
            outputs.append(h)
        out = torch.stack(outputs, 1)
        if not self.spec.per_step:
            out = out[:, -1]
        return self.head(out).squeeze(-1)
