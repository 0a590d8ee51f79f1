"""Token tasks: the Chomsky-hierarchy suite (Delétang et al. 2023), as samplers.

Contract: a task is a `Task` subclass, named by `_target_` in conf/dataset/<task>.yaml, one
module per task. It declares `level` (one of LEVELS), `vocab_size` (input symbols),
`n_classes` (output classes) and `output_length(n)`, and implements
`inputs(generator, batch, n)` -> token ids [batch, n] (every random number drawn from
`generator`) and `targets(x)` -> the classes the definition
gives [batch, output_length(n)], int64; `accuracy_mask(targets)` says which target positions
are scored (all, unless the task pads after an end token). The shared keys (`min_len`,
`max_len`, `val_per_length`) are `Task`'s.

Layout (`Blanks`, the reference's `make_model_with_empty_targets`, written in that class
alone): the model reads the n input tokens followed by output_length(n) blank tokens (id
`vocab_size`) and predicts a class at each blank; nothing is decoded autoregressively.
"Length" is the task's input length n; the model sees n + output_length(n) tokens
(`model_length`).

Members: regular `parity_check`, `even_pairs`, `cycle_navigation`, `modular_arithmetic`;
context-free `reverse_string`, `stack_manipulation`; context-sensitive `duplicate_string`,
`missing_duplicate_string`, `odds_first`, `bucket_sort`, `binary_addition`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from posenc.data import Spec
from posenc.errors import ConfigError, check_at_least

# Lengths one run may evaluate, training lengths (each validated every round) or unseen ones
# (each scored once): every one costs a forward pass at least, and the papers' widest range
# is 500 (Delétang et al.: trained to 40, tested to 500). 10,000 is twenty times that.
MAX_LENGTHS = 10_000
# A token id, a target and a mask per position: what a batch of sequences holds per token.
BYTES_PER_TOKEN = 8 + 8 + 1


# The levels of the Chomsky hierarchy a task sits at (Delétang et al. 2023, Table 1; the
# reference's tasks/regular, tasks/dcf and tasks/cs): metrics.json's `level`, a column
# compare can group by (`--by level`).
REGULAR, CONTEXT_FREE, CONTEXT_SENSITIVE = "regular", "context-free", "context-sensitive"
LEVELS = (REGULAR, CONTEXT_FREE, CONTEXT_SENSITIVE)


class Blanks:
    """The layout of DeepMind's encoder protocol (`make_model_with_empty_targets`), written
    here alone: the n input tokens, then one blank token (id `blank`) per target; the model's
    outputs at the blanks are its answer. Everything that arranges a batch, reads a model's
    outputs or counts a sequence's inputs asks the layout."""

    name = "blanks"

    def __init__(self, blank: int):
        self.blank = blank

    def batch(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> TokenBatch:
        """Inputs [batch, n] and targets [batch, T] laid out for the model."""
        blanks = torch.full((x.shape[0], y.shape[1]), self.blank, dtype=torch.long)
        return TokenBatch(torch.cat([x.long(), blanks], dim=1), y.long(), mask, self)

    def outputs(self, logits: torch.Tensor, batch: TokenBatch) -> torch.Tensor:
        """The model's outputs at the target positions: [batch, T, classes]."""
        return logits[:, -batch.y.shape[1] :]

    def input_lengths(self, x: torch.Tensor) -> torch.Tensor:
        """Each sequence's input length [batch]: its tokens before the blanks."""
        return (x != self.blank).sum(1)


class EveryPosition:
    """A target at every position (text's windows: each the next character's class)."""

    name = "every position"

    def outputs(self, logits: torch.Tensor, batch: TokenBatch) -> torch.Tensor:
        return logits

    def input_lengths(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0],), x.shape[1], dtype=torch.long, device=x.device)


@dataclass
class TokenBatch:
    """What the model reads and what it is scored on, for one input length n, and the
    layout that arranged it (which outputs answer which target)."""

    x: torch.Tensor  # [batch, model length] int64: as the layout arranges it
    y: torch.Tensor  # [batch, T] int64: the class of each target
    mask: torch.Tensor  # [batch, T] bool: the positions accuracy counts
    layout: Blanks | EveryPosition = field(default_factory=EveryPosition)

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device) -> TokenBatch:
        return TokenBatch(self.x.to(device), self.y.to(device), self.mask.to(device), self.layout)

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        return self.layout.outputs(logits, self)


class Task:
    """A sampled token task trained on input lengths in [min_len, max_len] (drawn by the
    curriculum group: uniform, the paper's, by default), validated on `val_per_length`
    fixed sequences at each of them."""

    vocab_size: int
    n_classes: int
    level: str  # one of LEVELS: where the task sits in the Chomsky hierarchy
    kind = "tokens"  # posenc.metrics' kind of run: which metrics it records
    symbols_key = "dataset.vocab_size"  # the key that sets vocab_size (Spec.symbols_key)

    def __init__(
        self,
        generator: torch.Generator,
        min_len: int = 1,
        max_len: int = 20,
        val_per_length: int = 32,
    ):
        check_at_least("dataset.min_len", min_len, 1)
        check_at_least("dataset.max_len", max_len, 1)
        check_at_least("dataset.val_per_length", val_per_length, 1)
        if max_len < min_len:
            raise ConfigError("dataset.max_len", f"{max_len} is below dataset.min_len {min_len}")
        if max_len - min_len + 1 > MAX_LENGTHS:
            raise ConfigError(
                "dataset.max_len",
                f"{max_len} gives {max_len - min_len + 1} training lengths ({min_len}.."
                f"{max_len}), each validated every round; at most {MAX_LENGTHS} (the papers "
                "train on 40)",
            )
        self.generator = generator  # the training stream: lengths and batches
        self.min_len, self.max_len, self.val_per_length = min_len, max_len, val_per_length

    # --- what each task defines -------------------------------------------------------
    def output_length(self, n: int) -> int:
        return 1

    def inputs(self, generator: torch.Generator, batch: int, n: int) -> torch.Tensor:
        raise NotImplementedError

    def targets(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def accuracy_mask(self, y: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(y, dtype=torch.bool)

    # --- shared -------------------------------------------------------------------------
    def input_length(self, n: int) -> int:
        """The input length a batch asked for at n really has (modular_arithmetic: odd)."""
        return n

    def model_length(self, n: int) -> int:
        """Tokens the model reads for input length n: the inputs, then the blanks."""
        m = self.input_length(n)
        return m + self.output_length(m)

    @property
    def spec(self) -> Spec:
        """What the model is built for: tokens of `vocab_size` + 1 ids (the blank last), one
        class per position, the longest training sequence as `seq_len`."""
        longest = max(self.model_length(n) for n in range(self.min_len, self.max_len + 1))
        return Spec(
            seq_len=longest,
            feature_dim=self.vocab_size + 1,
            per_step=True,
            vocab_size=self.vocab_size + 1,
            n_classes=self.n_classes,
            symbols_key=self.symbols_key,
            layout=self.layout,
        )

    @property
    def layout(self) -> Blanks:
        """How a batch is arranged for the model: the inputs, then a blank (id vocab_size)
        per target."""
        return Blanks(self.vocab_size)

    def batch(self, generator: torch.Generator, batch: int, n: int) -> TokenBatch:
        """`batch` sequences of input length n, laid out for the model."""
        x = self.inputs(generator, batch, n)
        y = self.targets(x)
        return self.layout.batch(x, y, self.accuracy_mask(y))

    def next_length(self) -> int:
        """A training length drawn uniformly from the task's stream, as curriculum=uniform
        draws it (the job's batches follow the curriculum group)."""
        from posenc.data.curricula.uniform import Uniform

        return Uniform(self.min_len, self.max_len).length(0, self.generator)

    def fixed(self, generator: torch.Generator, lengths, per_length: int) -> list[TokenBatch]:
        """One seeded batch of `per_length` sequences at each length (validation, test)."""
        return [self.batch(generator, per_length, n) for n in lengths]

    def check_fixed_sizes(self) -> None:
        """The fixed validation and test batches fit in memory: refused before they are
        drawn, naming dataset.val_per_length."""
        from posenc.memory import check_fits

        tokens = sum(self.model_length(n) for n in self.train_lengths)
        what = (
            f"validation and test batches of {self.val_per_length} sequences at each of "
            f"{len(self.train_lengths)} training lengths"
        )
        check_fits(
            "dataset.val_per_length", what, 2 * self.val_per_length * tokens * BYTES_PER_TOKEN
        )

    @property
    def train_lengths(self) -> range:
        return range(self.min_len, self.max_len + 1)

    # --- what a job evaluates (posenc.data.text cuts held-out text instead) --------------
    def validation(self, generator: torch.Generator) -> list[TokenBatch]:
        """The fixed validation batches: `val_per_length` sequences at each training length."""
        return self.fixed(generator, self.train_lengths, self.val_per_length)

    def testing(self, generator: torch.Generator) -> list[TokenBatch]:
        """The fixed test batches, drawn after validation's from the same generator."""
        return self.fixed(generator, self.train_lengths, self.val_per_length)

    def evaluation(self, generator: torch.Generator, length: int, count: int) -> TokenBatch:
        """The test batch at one evaluation length: `count` fresh sequences."""
        return self.batch(generator, count, length)

    def too_long(self, length: int) -> str | None:
        """Why the data cannot be evaluated at `length`, or None."""
        return None


def bits(generator: torch.Generator, batch: int, n: int, high: int = 2) -> torch.Tensor:
    """Uniform symbols in [0, high), [batch, n] int64."""
    return torch.randint(high, (batch, n), generator=generator)


__all__ = [
    "BYTES_PER_TOKEN",
    "CONTEXT_FREE",
    "Blanks",
    "EveryPosition",
    "CONTEXT_SENSITIVE",
    "LEVELS",
    "MAX_LENGTHS",
    "REGULAR",
    "Task",
    "TokenBatch",
    "bits",
]
