"""dataset=addition (context-sensitive): the sum of two decimal numbers in symbolic form,
digits and `+` as tokens. By default as in Kazemnejad et al. 2023 (make_addition_dataset.py):
two n-digit operands, first digit non-zero, most significant digit first. The answer has a
fixed width, max(digits) + 1 with a leading 0 where nothing carries, so that every answer of
a batch has one shape and its positions are known before it is decoded (the reference writes
the sum as it is).

The arithmetic protocols of the length-generalization papers are keys of the same task:
- `format`: `plain` (most significant first), `reversed` (least significant first, operands
  and answer: McLeish et al. 2024, Zhou et al. 2024), `hints` (Zhou et al. 2023's index
  hints: before every digit, operands and answer, a hint token naming its place, 1 = ones,
  so digits of one significance share a hint; the model writes the answer's hints too).
- `operands`: `equal` (both n digits) or `independent` (one n digits, the other's length
  drawn uniformly in 1..n, which one at random). Drawn once per batch, not per example: a
  batch has one shape, and posenc pads nothing.
- positions the task chooses (posenc.encodings: PLACES, IDS): every batch carries `places`
  (each digit's index inside its number in the written order, from 1; 0 for `+` and hints:
  what encoding=abacus reads, as the reference's abacus.py counts a run of digits);
  `coupled: true` adds `ids` (Cho et al. 2024's position coupling: a digit's id is its
  significance, 1 = ones, shared by both operands and the answer, a hint taking its digit's;
  `+`, BOS and SEP 0), which every encoding then reads in place of 0..L−1.
"""

from __future__ import annotations

import torch

from posenc.data.tasks import CONTEXT_SENSITIVE, Task
from posenc.encodings.base import IDS, PLACES
from posenc.errors import ConfigError, check_at_least, check_choice

PLUS = 10
HINT = PLUS  # hint token of place p: HINT + p (class 9 + p)
FORMATS = ("plain", "reversed", "hints")
OPERANDS = ("equal", "independent")


class Addition(Task):
    """37 + 85 -> 122: tokens 3 7 + 8 5, answer 1 2 2; 12 + 34 -> 0 4 6. Vocabulary the
    digits, + (id 10) and, with hints, one token per place up to `max_places`; classes the
    digits (and the hints)."""

    level = CONTEXT_SENSITIVE

    def __init__(
        self,
        generator,
        format: str = "plain",
        operands: str = "equal",
        coupled: bool = False,
        max_places: int = 64,
        **common,
    ):
        super().__init__(generator, **common)
        check_choice("dataset.format", format, FORMATS)
        check_choice("dataset.operands", operands, OPERANDS)
        check_at_least("dataset.max_places", max_places, 2)
        self.format, self.operands, self.coupled = format, operands, coupled
        self.max_places = max_places
        hints = max_places if format == "hints" else 0
        self.vocab_size, self.n_classes = 11 + hints, 10 + hints
        self.supplies = (PLACES, IDS) if coupled else (PLACES,)
        if format == "hints" and self.max_len + 1 > max_places:
            raise ConfigError(
                "dataset.max_places",
                f"{max_places} hints cannot name the {self.max_len + 1} places of a sum of "
                f"{self.max_len}-digit numbers (dataset.max_len)",
            )

    @property
    def per_digit(self) -> int:
        return 2 if self.format == "hints" else 1  # tokens per digit

    def input_length(self, n):  # the longest: both operands n digits
        return self.per_digit * 2 * n + 1

    def output_length(self, n):  # n: the longest input's tokens
        return ((n - 1) // (2 * self.per_digit) + 1) * self.per_digit

    def too_long(self, length: int) -> str | None:
        if self.format == "hints" and length + 1 > self.max_places:
            return f"the sum has {length + 1} places, past dataset.max_places {self.max_places}"
        return None

    # --- the numbers ---------------------------------------------------------------------
    def inputs(self, generator, batch, n):
        if self.operands == "equal":  # the draws of Kazemnejad et al.'s split, as ever
            digits = torch.randint(10, (batch, 2, n), generator=generator)
            digits[:, :, 0] = 1 + torch.randint(9, (batch, 2), generator=generator)
            numbers = [digits[:, 0], digits[:, 1]]
        else:
            other = 1 + int(torch.randint(n, (), generator=generator))
            lengths = (n, other) if torch.rand((), generator=generator) < 0.5 else (other, n)
            numbers = [self.number(generator, batch, d) for d in lengths]
        plus = torch.full((batch, 1), PLUS)
        return torch.cat([self.written(numbers[0]), plus, self.written(numbers[1])], dim=1)

    @staticmethod
    def number(generator, batch: int, digits: int) -> torch.Tensor:
        """`digits`-digit numbers, first digit non-zero: [batch, digits]."""
        number = torch.randint(10, (batch, digits), generator=generator)
        number[:, 0] = 1 + torch.randint(9, (batch,), generator=generator)
        return number

    def written(self, digits: torch.Tensor) -> torch.Tensor:
        """A number's digits [batch, d] (most significant first) as tokens in the format."""
        if self.format == "reversed":
            return digits.flip(1)
        if self.format == "hints":
            places = torch.arange(digits.shape[1], 0, -1).expand_as(digits)
            return torch.stack([HINT + places, digits], dim=2).flatten(1)
        return digits

    def read(self, tokens: torch.Tensor) -> torch.Tensor:
        """`written`'s inverse: the digits, most significant first."""
        if self.format == "reversed":
            return tokens.flip(1)
        if self.format == "hints":
            return tokens[:, 1::2]
        return tokens

    def targets(self, x):
        plus = int((x[0] == PLUS).nonzero()[0])
        a, b = self.read(x[:, :plus]), self.read(x[:, plus + 1 :])
        width = max(a.shape[1], b.shape[1]) + 1
        a, b = (torch.nn.functional.pad(v, (width - v.shape[1], 0)) for v in (a, b))
        column = torch.zeros((x.shape[0], width), dtype=torch.long)
        carry = torch.zeros(x.shape[0], dtype=torch.long)
        for i in range(width - 1, -1, -1):  # least significant first: the carry goes left
            total = a[:, i] + b[:, i] + carry
            column[:, i], carry = total % 10, total // 10
        answer = self.written(column)
        return answer if self.format != "hints" else torch.where(answer > 9, answer - 1, answer)

    # --- the positions it chooses -----------------------------------------------------------
    def positions(self, x, y):
        plus = int((x[0] == PLUS).nonzero()[0])
        parts = (x[:, :plus], x[:, plus + 1 :], y)
        places = [self.places(p) for p in parts]
        streams = {PLACES: (cat_plus(places[0], places[1]), places[2])}
        if self.coupled:
            ids = [self.significance(p) for p in parts]
            streams[IDS] = (cat_plus(ids[0], ids[1]), ids[2])
        return streams

    def places(self, tokens: torch.Tensor) -> torch.Tensor:
        """Each digit's index inside its number in the written order, from 1; 0 for hints."""
        index = torch.arange(1, tokens.shape[1] // self.per_digit + 1)
        if self.format == "hints":
            index = torch.stack([torch.zeros_like(index), index], dim=1).flatten()
        return index.expand(tokens.shape[0], -1).clone()

    def significance(self, tokens: torch.Tensor) -> torch.Tensor:
        """Each digit's place, 1 = ones (a hint: its digit's); the coupled id."""
        d = tokens.shape[1] // self.per_digit
        place = torch.arange(d, 0, -1) if self.format != "reversed" else torch.arange(1, d + 1)
        return place.repeat_interleave(self.per_digit).expand(tokens.shape[0], -1).clone()


def cat_plus(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Two operands' ids with `+` (id 0) between them."""
    return torch.cat([a, torch.zeros((a.shape[0], 1), dtype=torch.long), b], dim=1)
