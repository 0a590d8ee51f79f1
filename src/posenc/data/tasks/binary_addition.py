"""dataset=binary_addition (context-sensitive): the sum of two little-endian binary numbers."""

from __future__ import annotations

import torch

from posenc.data.tasks import CONTEXT_SENSITIVE, Task, bits
from posenc.data.tasks.stack_manipulation import end_mask

PLUS = END = 2


class BinaryAddition(Task):
    """`a + b` in little-endian binary (the + is token 2): a has k digits (k uniform in
    [1, n − 2]), b the other n − 1 − k, each a uniform non-zero number of that many digits
    (leading zeros allowed). The output is the sum in little-endian binary without leading
    zeros, the end token 2, then 0s up to n + 1 positions: 001+01101 (4 + 22) -> 0101120000.
    For n ≤ 2 the input is one number x < 2^n − 1 written in n digits and the output x (the
    reference's convention). Accuracy counts up to the end token. Vocabulary {0, 1, +};
    classes {0, 1, end}."""

    level = CONTEXT_SENSITIVE

    vocab_size, n_classes = 3, 3

    def output_length(self, n):
        return n + 1

    def inputs(self, generator, batch, n):
        j = torch.arange(n)
        if n <= 2:
            value = torch.randint(2**n - 1, (batch, 1), generator=generator)
            return (value >> j) & 1
        k = 1 + torch.randint(n - 2, (batch, 1), generator=generator)
        x = bits(generator, batch, n)
        in_a, in_b = j < k, j > k
        while True:  # a uniform non-zero number: redraw the rows where one is all zero
            zero = ~((x * in_a).any(1) & (x * in_b).any(1))
            if not zero.any():
                break
            x[zero] = bits(generator, int(zero.sum()), n)
        return torch.where(j == k, PLUS, x)

    def targets(self, x):
        batch, n = x.shape
        j = torch.arange(n, device=x.device)
        plus = x == PLUS
        k = torch.where(plus.any(1), plus.int().argmax(1), n).unsqueeze(1)  # n <= 2: no +
        a = torch.where(j < k, x, 0)  # digit i of a at position i
        b = x.gather(1, (j + k + 1).clamp_max(n - 1)) * (j < n - 1 - k)  # of b at k + 1 + i
        total = torch.zeros(batch, n + 1, dtype=torch.long)
        carry = torch.zeros(batch, dtype=torch.long)
        for i in range(n):
            s = a[:, i] + b[:, i] + carry
            total[:, i], carry = s % 2, s // 2
        total[:, n] = carry
        ones = torch.arange(n + 1) * (total == 1)
        digits = (ones.max(1, keepdim=True).values + 1) * total.any(1, keepdim=True)
        digits = digits.clamp_min(1)  # zero is written as one digit, 0
        span = torch.arange(n + 1)
        y = torch.where(span < digits, total, 0)
        return torch.where(span == digits, END, y)

    def accuracy_mask(self, y):
        return end_mask(y, END)
