"""dataset=addition (context-sensitive): the sum of two n-digit decimal numbers, as in
Kazemnejad et al. 2023 (make_addition_dataset.py: each operand's first digit non-zero), in
symbolic form: digits and `+` as tokens, most significant digit first. The answer has a
fixed width, n + 1 digits with a leading 0 where nothing carries, so that every answer at
one length has one shape (the reference writes the sum as it is)."""

from __future__ import annotations

import torch

from posenc.data.tasks import CONTEXT_SENSITIVE, Task

PLUS = 10


class Addition(Task):
    """37 + 85 -> 122: tokens 3 7 + 8 5, answer 1 2 2; 12 + 34 -> 0 4 6. Vocabulary the
    digits and + (id 10); classes the digits."""

    level = CONTEXT_SENSITIVE

    vocab_size, n_classes = 11, 10

    def input_length(self, n):
        return 2 * n + 1

    def output_length(self, n):  # n: the input's tokens, 2 × digits + 1
        return (n - 1) // 2 + 1

    def inputs(self, generator, batch, n):
        digits = torch.randint(10, (batch, 2, n), generator=generator)
        digits[:, :, 0] = 1 + torch.randint(9, (batch, 2), generator=generator)
        plus = torch.full((batch, 1), PLUS)
        return torch.cat([digits[:, 0], plus, digits[:, 1]], dim=1)

    def targets(self, x):
        n = (x.shape[1] - 1) // 2
        a, b = x[:, :n], x[:, n + 1 :]
        column = torch.zeros((x.shape[0], n + 1), dtype=torch.long)
        carry = torch.zeros(x.shape[0], dtype=torch.long)
        for i in range(n - 1, -1, -1):  # least significant first: the carry goes left
            total = a[:, i] + b[:, i] + carry
            column[:, i + 1], carry = total % 10, total // 10
        column[:, 0] = carry
        return column
