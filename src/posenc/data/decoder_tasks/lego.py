"""dataset=lego (regular): chains of variable assignments (LEGO, Zhang et al. 2022), as
Kazemnejad et al. 2023 build them (make_lego_dataset.py, clauses in order): n distinct
variables of 26, the first set to +1 or -1, each next one `= +` or `= -` the one before;
asked for a variable of the chain's second half (index ceil(n/2) .. n - 1), the answer is
its value. Symbolic: variables, values and signs are tokens; the reference's words ("If
… Then, what is the value of …") are left out. A finite state (26 values) decides it."""

from __future__ import annotations

import math

import torch

from posenc.data.tasks import REGULAR, Task
from posenc.errors import ConfigError

VARIABLES = 26
MINUS_ONE, PLUS_ONE, SAME, NEGATED = range(VARIABLES, VARIABLES + 4)  # -1, +1, `= +`, `= -`


class Lego(Task):
    """a = +1; b = - a; c = + b; query c -> -1: tokens a +1, b - a, c + b, c; answer class 0
    (-1; class 1 is +1). Vocabulary 26 variables, the two values and the two signs;
    classes the two values; one output. Length n: the variables (2 ≤ n ≤ 26; 3n tokens)."""

    level = REGULAR

    vocab_size, n_classes = VARIABLES + 4, 2

    def __init__(self, generator, **common):
        common.setdefault("min_len", 2)
        super().__init__(generator, **common)
        if self.min_len < 2 or self.max_len > VARIABLES:
            raise ConfigError(
                "dataset.min_len" if self.min_len < 2 else "dataset.max_len",
                f"a chain has 2..{VARIABLES} variables (one question from its second half); "
                f"got {self.min_len}..{self.max_len}",
            )

    def input_length(self, n):
        return 3 * n

    def too_long(self, length):
        return None if length <= VARIABLES else f"a chain has at most {VARIABLES} variables"

    def inputs(self, generator, batch, n):
        names = torch.rand(batch, VARIABLES, generator=generator).argsort(1)[:, :n]
        values = torch.randint(2, (batch, n), generator=generator)
        asked = torch.randint(math.ceil(n / 2), n, (batch, 1), generator=generator)
        signs = torch.where(values[:, 1:] == values[:, :-1], SAME, NEGATED)
        later = torch.stack([names[:, 1:], signs, names[:, :-1]], dim=2).flatten(1)
        first = torch.stack([names[:, 0], MINUS_ONE + values[:, 0]], dim=1)
        return torch.cat([first, later, names.gather(1, asked)], dim=1)

    def targets(self, x):
        n = x.shape[1] // 3
        names = torch.cat([x[:, :1], x[:, 2:-1:3]], dim=1)  # [batch, n]
        value = x[:, 1] - MINUS_ONE  # 1: +1
        values = [value]
        for sign in x[:, 3:-1:3].T:  # each next variable: the same value or the other
            value = torch.where(sign == SAME, value, 1 - value)
            values.append(value)
        asked = (names == x[:, -1:]).int().argmax(1, keepdim=True)
        return torch.stack(values[:n], dim=1).gather(1, asked)
