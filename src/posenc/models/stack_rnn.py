"""model=stack_rnn: a vanilla RNN with a differentiable stack (Joulin & Mikolov 2015), the
reference's `StackRNNCore` (Delétang et al. 2023): the controller reads the top cell, then
pushes a value it computes, pops, or does nothing, as a softmax over the three."""

from __future__ import annotations

import torch
from torch import nn

from posenc.models.memory_rnn import MemoryRNN, reference_init

PUSH, POP, NO_OP = range(3)  # the reference's order of the actions


def stack_step(stack: torch.Tensor, actions: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """The stack [batch, size, cell] (cell 0 the top) after pushing `value` [batch, cell],
    popping and doing nothing, mixed by `actions` [batch, 3]: with one-hot actions, exactly
    the discrete push, pop or no-op (a pop fills the bottom with zeros; a push drops the
    bottom cell)."""
    pushed = torch.cat([value.unsqueeze(1), stack[:, :-1]], 1)
    popped = torch.cat([stack[:, 1:], torch.zeros_like(stack[:, :1])], 1)
    weight = actions.unsqueeze(-1).unsqueeze(-1)  # [batch, 3, 1, 1]
    return weight[:, PUSH] * pushed + weight[:, POP] * popped + weight[:, NO_OP] * stack


class StackRNN(MemoryRNN):
    """A stack of `memory_size` cells of `cell_size` (the reference's 30 of 8) under a
    `hidden_dim`-wide controller; see posenc.models.memory_rnn."""

    def __init__(self, spec, encoding, **common):  # memory_size, cell_size: MemoryRNN's
        super().__init__(spec, encoding, **common)
        width = self.hidden_dim
        self.push_value = reference_init(nn.Linear(width, self.cell_size), width)
        self.actions = reference_init(nn.Linear(width, 3), width)

    def update(self, memory: torch.Tensor, h: torch.Tensor, context: None) -> torch.Tensor:
        return stack_step(memory, torch.softmax(self.actions(h), -1), self.push_value(h))
