"""dataset=polynomial (regular): a polynomial of n terms evaluated mod 10, as in Kazemnejad
et al. 2023 (make_poly_dataset.py: coefficients in [-3, 3], degrees in [0, 3], x in
[-2, 2]; the answer mod 10, Python's, so in 0..9), in symbolic form: x first, then each
term's coefficient and degree, every value a token of its own range."""

from __future__ import annotations

import torch

from posenc.data.tasks import REGULAR, Task

COEFFICIENTS, DEGREES, XS = range(-3, 4), range(4), range(-2, 3)
DEGREE_ID = len(COEFFICIENTS)  # token ids: coefficients, then degrees, then x
X_ID = DEGREE_ID + len(DEGREES)


class Polynomial(Task):
    """x = 2 in 1·x^2 + (-3)·x^0 -> 1 (4 - 3): tokens 15, 4 9, 0 7, answer 1. Vocabulary the
    16 values' tokens; classes the digits; one output. Length n: the terms (2n + 1 tokens)."""

    level = REGULAR

    vocab_size, n_classes = X_ID + len(XS), 10

    def input_length(self, n):
        return 2 * n + 1

    def inputs(self, generator, batch, n):
        x = X_ID + torch.randint(len(XS), (batch, 1), generator=generator)
        coefficients = torch.randint(len(COEFFICIENTS), (batch, n), generator=generator)
        degrees = DEGREE_ID + torch.randint(len(DEGREES), (batch, n), generator=generator)
        terms = torch.stack([coefficients, degrees], dim=2).flatten(1)
        return torch.cat([x, terms], dim=1)

    def targets(self, x):
        value = x[:, :1] - X_ID + XS.start
        coefficients = x[:, 1::2] + COEFFICIENTS.start
        degrees = x[:, 2::2] - DEGREE_ID
        total = (coefficients * value**degrees).sum(1, keepdim=True)
        return total % 10  # torch's remainder takes the divisor's sign, as Python's does
