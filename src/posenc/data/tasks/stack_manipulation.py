"""dataset=stack_manipulation (context-free): a stack after a list of POP / PUSH actions."""

from __future__ import annotations

import torch

from posenc.data.tasks import CONTEXT_FREE, Task, bits

POP, PUSH0, PUSH1 = 2, 3, 4
END = 2  # the output's end-of-stack token


class StackManipulation(Task):
    """A stack of k bits (bottom to top, k uniform in [1, n − 1]) then n − k actions POP (2),
    PUSH 0 (3), PUSH 1 (4); a POP on an empty stack does nothing. The output is the final
    stack top to bottom, the end token 2, then 0s up to n + 1 positions: 0 1 1 0 PUSH1 POP
    POP -> 1 1 0 2 0 0 0 0. Accuracy counts the positions up to the end token (the
    reference's mask). At n = 1 the input is one bit b and the output b 2. Vocabulary
    {0, 1, POP, PUSH 0, PUSH 1}; classes {0, 1, end}."""

    level = CONTEXT_FREE

    vocab_size, n_classes = 5, 3

    def output_length(self, n):
        return n + 1

    def inputs(self, generator, batch, n):
        x = bits(generator, batch, n)
        if n > 1:
            k = 1 + torch.randint(n - 1, (batch, 1), generator=generator)
            actions = torch.randint(POP, PUSH1 + 1, (batch, n), generator=generator)
            x = torch.where(torch.arange(n) < k, x, actions)
        return x

    def targets(self, x):
        batch, n = x.shape
        # the initial bits are pushes too: one pass over the tokens runs the whole stack
        stack = torch.zeros(batch, n + 1, dtype=torch.long)
        size = torch.zeros(batch, dtype=torch.long)
        rows = torch.arange(batch)
        for t in range(n):
            token = x[:, t]
            push = token != POP
            stack[rows[push], size[push]] = torch.where(token[push] == PUSH1, 1, token[push] % 3)
            size = torch.where(push, size + 1, (size - 1).clamp_min(0))
        j = torch.arange(n + 1)
        top_down = stack.gather(1, (size.unsqueeze(1) - 1 - j).clamp_min(0))
        y = torch.where(j < size.unsqueeze(1), top_down, 0)
        return torch.where(j == size.unsqueeze(1), END, y)

    def accuracy_mask(self, y):
        return end_mask(y, END)


def end_mask(y: torch.Tensor, end: int) -> torch.Tensor:
    """True up to and including the first end token of each row."""
    first_end = (y == end).int().argmax(dim=1, keepdim=True)
    return torch.arange(y.shape[1], device=y.device) <= first_end
