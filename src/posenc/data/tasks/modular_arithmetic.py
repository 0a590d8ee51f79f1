"""dataset=modular_arithmetic (regular): an expression of +, −, × reduced modulo 5."""

from __future__ import annotations

import torch

from posenc.data.tasks import REGULAR, Task
from posenc.errors import ConfigError, check_at_least

OPERATORS = ("+", "-", "*")  # tokens modulus + 0, 1, 2; modulus + 3 is the reference's unused "_"


class ModularArithmetic(Task):
    """Numbers in [0, modulus) alternating with operators, evaluated with × before + and −,
    the result taken modulo `modulus` (5, the paper's): 1 + 2 × 3 -> 2; 1 − 1 − 1 -> 4;
    0 × 1 + 4 × 3 − 2 -> 0. Inputs have odd length: an even n is cut to n − 1, as in the
    reference. Vocabulary: the numbers, then + − × _ ; classes: the numbers."""

    level = REGULAR

    symbols_key = "dataset.modulus"

    def __init__(
        self, generator, modulus: int = 5, operators: tuple[str, ...] = OPERATORS, **common
    ):
        super().__init__(generator, **common)
        check_at_least("dataset.modulus", modulus, 2)
        if modulus > 2**62:  # the operators' token ids follow the numbers': int64
            raise ConfigError(
                "dataset.modulus", f"{modulus} is too large for token ids; at most 2**62"
            )
        unknown = [op for op in operators if op not in OPERATORS]
        if unknown or not operators:
            raise ConfigError(
                "dataset.operators", f"{list(operators)}: choose among {', '.join(OPERATORS)}"
            )
        self.modulus = modulus
        self.operators = torch.tensor([modulus + OPERATORS.index(op) for op in operators])
        self.vocab_size, self.n_classes = modulus + len(OPERATORS) + 1, modulus

    def input_length(self, n):
        return n if n % 2 else n - 1 if n > 1 else 1

    def inputs(self, generator, batch, n):
        n = self.input_length(n)
        numbers = torch.randint(self.modulus, (batch, n // 2 + 1), generator=generator)
        pick = torch.randint(len(self.operators), (batch, n // 2), generator=generator)
        x = torch.empty(batch, n, dtype=torch.long)
        x[:, ::2], x[:, 1::2] = numbers, self.operators[pick]
        return x

    def targets(self, x):
        m, batch, n = self.modulus, x.shape[0], x.shape[1]
        numbers, ops = x[:, ::2], x[:, 1::2]
        # left to right: `term` is the running product, added to `total` at each + or −
        total, term = torch.zeros(batch, dtype=torch.long), numbers[:, 0] % m
        for i in range(n // 2):
            op, v = ops[:, i] - m, numbers[:, i + 1]
            times = op == OPERATORS.index("*")
            minus = op == OPERATORS.index("-")
            total = torch.where(times, total, (total + term) % m)
            term = torch.where(times, (term * v) % m, torch.where(minus, -v, v) % m)
        return ((total + term) % m).unsqueeze(1)
