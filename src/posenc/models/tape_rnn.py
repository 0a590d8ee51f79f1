"""model=tape_rnn: a vanilla RNN with a differentiable tape, the reference's
`TapeInputLengthJumpCore` (Delétang et al. 2023): the controller reads the current cell,
writes a value there (an MLP of its state), then stays, moves one cell left or right, or
jumps the input's length left or right, as a softmax over the five."""

from __future__ import annotations

import torch
from torch import nn

from posenc.errors import check_at_least
from posenc.models.memory_rnn import MemoryRNN, reference_init

STAY, LEFT, RIGHT, JUMP_LEFT, JUMP_RIGHT = range(5)  # the reference's order of the actions


def move_index(size: int, jumps: torch.Tensor) -> torch.Tensor:
    """[batch, 5 * size]: for each move, the cell each new cell comes from, new[m] =
    old[(m - shift) mod size] (the reference's roll of the identity; shift -1, LEFT, moves
    every cell one place towards cell 0), the jumps shifting by each sequence's length."""
    ones = torch.ones_like(jumps)
    shifts = torch.stack([0 * ones, -ones, ones, -jumps, jumps], 1)  # [batch, 5]
    cells = torch.arange(size, device=jumps.device)
    return ((cells - shifts.unsqueeze(-1)) % size).flatten(1)


def tape_step(
    tape: torch.Tensor, actions: torch.Tensor, value: torch.Tensor, index: torch.Tensor
) -> torch.Tensor:
    """The tape [batch, size, cell] after writing `value` [batch, cell] into cell 0, then
    each move (`index`: move_index), mixed by `actions` [batch, 5]. With one-hot actions,
    exactly the discrete write-and-move."""
    batch, size, cell = tape.shape
    written = torch.cat([value.unsqueeze(1), tape[:, 1:]], 1)
    moved = written.gather(1, index.unsqueeze(-1).expand(-1, -1, cell))
    return torch.einsum("basc,ba->bsc", moved.view(batch, 5, size, cell), actions)


class TapeRNN(MemoryRNN):
    """A tape of `memory_size` cells of `cell_size` (the reference example's 40 of 8) under
    a `hidden_dim`-wide controller; the written value is an MLP of `mlp_layers` ReLU layers
    of `mlp_width` (the reference's 64, 64) then a linear map. See posenc.models.memory_rnn."""

    ACTIONS = 5  # stay, left, right, jump left, jump right

    def __init__(
        self,
        spec,
        encoding,
        memory_size: int = 40,
        cell_size: int = 8,
        mlp_width: int = 64,
        mlp_layers: int = 2,
        **common,
    ):
        super().__init__(spec, encoding, memory_size=memory_size, cell_size=cell_size, **common)
        check_at_least("model.mlp_width", mlp_width, 1)
        check_at_least("model.mlp_layers", mlp_layers, 0)
        from posenc.memory import FLOAT, check_fits

        mlp = (self.hidden_dim + mlp_width * max(mlp_layers - 1, 0) + cell_size) * mlp_width
        check_fits("model.mlp_width", f"a written-value MLP {mlp_width} wide", 4 * FLOAT * mlp)
        layers, width = [], self.hidden_dim
        for _ in range(mlp_layers):
            layers += [reference_init(nn.Linear(width, mlp_width), width), nn.ReLU()]
            width = mlp_width
        layers.append(reference_init(nn.Linear(width, cell_size), width))
        self.write_value = nn.Sequential(*layers)
        self.actions = reference_init(nn.Linear(self.hidden_dim, 5), self.hidden_dim)

    def context(self, jumps: torch.Tensor) -> torch.Tensor:
        return move_index(self.memory_size, jumps)

    def update(self, memory: torch.Tensor, h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        actions = torch.softmax(self.actions(h), -1)
        return tape_step(memory, actions, self.write_value(h), index)
