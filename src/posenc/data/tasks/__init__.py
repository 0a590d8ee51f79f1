"""Token tasks: the Chomsky-hierarchy suite (Delétang et al. 2023), as samplers.

Contract: a task is a `Task` subclass, named by `_target_` in conf/dataset/<task>.yaml, one
module per task. It declares `level` (one of LEVELS), `vocab_size` (input symbols),
`n_classes` (output classes) and `output_length(n)`, and implements
`inputs(generator, batch, n)` -> token ids [batch, n] (every random number drawn from
`generator`) and `targets(x)` -> the classes the definition
gives [batch, output_length(n)], int64; `accuracy_mask(targets)` says which target positions
are scored (all, unless the task pads after an end token). The shared keys (`min_len`,
`max_len`, `val_per_length`) are `Task`'s.

Layouts (`dataset.layout`, each written in its class alone; "length" is the task's input
length n):
- `blanks` (the default; the reference's `make_model_with_empty_targets`): the model reads
  the n input tokens followed by output_length(n) blank tokens (id `vocab_size`) and predicts
  a class at each blank; nothing is decoded autoregressively. n + output_length(n) tokens.
- `prompt` (Kazemnejad et al. 2023's decoder-only protocol): `[BOS] input [SEP] answer
  [EOS]`, read by a causal model that predicts each next token; the loss and the scores fall
  on the answer and EOS only. n + output_length(n) + 2 tokens (EOS is a target, never read).

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
BLANKS, PROMPT = "blanks", "prompt"
# A task's position streams for one batch: {stream: (ids of the inputs, ids of the answer)}
Streams = dict[str, tuple[torch.Tensor, torch.Tensor]] | None
LAYOUTS = (BLANKS, PROMPT)  # dataset.layout


class Blanks:
    """The layout of DeepMind's encoder protocol (`make_model_with_empty_targets`), written
    here alone: the n input tokens, then one blank token (id `blank`) per target; the model's
    outputs at the blanks are its answer. Everything that arranges a batch, reads a model's
    outputs or counts a sequence's inputs asks the layout."""

    name = "blanks"
    causal = False  # the answer is never among the tokens read

    def __init__(self, blank: int):
        self.blank = blank

    def batch(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, positions: Streams = None
    ) -> TokenBatch:
        """Inputs [batch, n] and targets [batch, T] laid out for the model; `positions`: the
        task's streams, each (ids of the inputs, ids of the answer), the blanks taking the
        answer's."""
        blanks = torch.full((x.shape[0], y.shape[1]), self.blank, dtype=torch.long)
        laid = {k: torch.cat([a, b], dim=1) for k, (a, b) in (positions or {}).items()}
        return TokenBatch(torch.cat([x.long(), blanks], dim=1), y.long(), mask, self, laid or None)

    def outputs(self, logits: torch.Tensor, batch: TokenBatch) -> torch.Tensor:
        """The model's outputs at the target positions: [batch, T, classes]."""
        return logits[:, -batch.y.shape[1] :]

    def input_lengths(self, x: torch.Tensor) -> torch.Tensor:
        """Each sequence's input length [batch]: its tokens before the blanks."""
        return (x != self.blank).sum(1)


class Prompt:
    """Kazemnejad et al.'s decoder-only layout, written here alone: `[BOS] input [SEP]
    answer`, read by a causal model; the outputs at SEP and at each answer token predict the
    next answer token, then EOS. Token ids: the task's inputs [0, vocab_size), answer class c
    as vocab_size + c, then BOS and SEP; the model's classes are the task's and EOS last."""

    name = "prompt"
    causal = True  # an output that read a later token would read the answer

    def __init__(self, vocab_size: int, n_classes: int):
        self.answer_from = vocab_size  # token id of answer class 0
        self.bos, self.sep = vocab_size + n_classes, vocab_size + n_classes + 1
        self.ids = vocab_size + n_classes + 2
        self.eos = n_classes  # a class, never a token the model reads
        self.classes = n_classes + 1

    def batch(
        self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, positions: Streams = None
    ) -> TokenBatch:
        """Inputs [batch, n] and answers [batch, T]: tokens [batch, n + T + 2], targets the
        answer then EOS [batch, T + 1] (EOS always scored); `positions`: the task's streams,
        each (ids of the inputs, ids of the answer), BOS and SEP taking id 0."""
        b = x.shape[0]
        bos, sep = (torch.full((b, 1), t, dtype=torch.long) for t in (self.bos, self.sep))
        tokens = torch.cat([bos, x.long(), sep, y.long() + self.answer_from], dim=1)
        targets = torch.cat([y.long(), torch.full((b, 1), self.eos, dtype=torch.long)], dim=1)
        scored = torch.cat([mask, torch.ones((b, 1), dtype=torch.bool)], dim=1)
        zero = torch.zeros((b, 1), dtype=torch.long)
        laid = {k: torch.cat([zero, a, zero, c], dim=1) for k, (a, c) in (positions or {}).items()}
        return TokenBatch(tokens, targets, scored, self, laid or None)

    def outputs(self, logits: torch.Tensor, batch: TokenBatch) -> torch.Tensor:
        """The outputs at SEP and at every answer token: [batch, T + 1, classes]."""
        return logits[:, -batch.y.shape[1] :]

    def input_lengths(self, x: torch.Tensor) -> torch.Tensor:
        """Each sequence's input length [batch]: its tokens between BOS and SEP (never the
        answer's, which a memory model must not be told)."""
        return (x == self.sep).int().argmax(1) - 1

    def prompt(self, batch: TokenBatch) -> torch.Tensor:
        """The tokens up to and with SEP: what a decoder is given [batch, n + 2]."""
        return batch.x[:, : batch.x.shape[1] - batch.y.shape[1] + 1]

    def token(self, classes: torch.Tensor) -> torch.Tensor:
        """The token ids that feed predicted answer classes back in."""
        return classes + self.answer_from


class EveryPosition:
    """A target at every position (text's windows: each the next character's class)."""

    name = "every position"
    causal = True  # the target is the next character: an output must not read it

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
    layout: Blanks | Prompt | EveryPosition = field(default_factory=EveryPosition)
    # the position streams the task chose ({stream: [batch, model length] int64}), None: 0..L−1
    positions: dict[str, torch.Tensor] | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def take(self, rows: slice) -> TokenBatch:
        """The sequences at `rows`, with their streams."""
        streams = {k: v[rows] for k, v in (self.positions or {}).items()} or None
        return TokenBatch(self.x[rows], self.y[rows], self.mask[rows], self.layout, streams)

    def to(self, device: torch.device) -> TokenBatch:
        streams = {k: v.to(device) for k, v in (self.positions or {}).items()} or None
        return TokenBatch(
            self.x.to(device), self.y.to(device), self.mask.to(device), self.layout, streams
        )

    def streams(self, length: int) -> dict[str, torch.Tensor] | None:
        """The streams of the first `length` tokens (what a decoder has read so far)."""
        return (
            None
            if self.positions is None
            else {k: v[:, :length] for k, v in self.positions.items()}
        )

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
        layout: str = "blanks",
    ):
        if layout not in LAYOUTS:
            raise ConfigError("dataset.layout", f"{layout!r} is not one of {', '.join(LAYOUTS)}")
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
        self.layout_name = layout

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
        """Tokens the model reads for input length n: the inputs, then the blanks (or BOS,
        the inputs, SEP and the answer)."""
        m = self.input_length(n)
        return m + self.output_length(m) + (2 if self.layout_name == PROMPT else 0)

    @property
    def spec(self) -> Spec:
        """What the model is built for: the layout's token ids (blanks: `vocab_size` + 1,
        the blank last) and classes, the longest training sequence as `seq_len`."""
        longest = max(self.model_length(n) for n in range(self.min_len, self.max_len + 1))
        layout = self.layout
        ids = layout.ids if isinstance(layout, Prompt) else self.vocab_size + 1
        classes = layout.classes if isinstance(layout, Prompt) else self.n_classes
        return Spec(
            seq_len=longest,
            feature_dim=ids,
            per_step=True,
            vocab_size=ids,
            n_classes=classes,
            symbols_key=self.symbols_key,
            layout=layout,
        )

    @property
    def layout(self) -> Blanks | Prompt:
        """How a batch is arranged for the model (dataset.layout)."""
        if self.layout_name == PROMPT:
            return Prompt(self.vocab_size, self.n_classes)
        return Blanks(self.vocab_size)

    def batch(self, generator: torch.Generator, batch: int, n: int) -> TokenBatch:
        """`batch` sequences of input length n, laid out for the model."""
        x = self.inputs(generator, batch, n)
        y = self.targets(x)
        return self.layout.batch(x, y, self.accuracy_mask(y), self.positions(x, y))

    def positions(self, x: torch.Tensor, y: torch.Tensor) -> Streams:
        """The position streams this task chooses for inputs x and answers y
        (posenc.encodings: IDS, PLACES), laid out by the layout; None: 0..L−1."""
        return None

    supplies: tuple[str, ...] = ()  # the streams `positions` gives

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
    def train_lengths(self) -> list[int]:
        return [n for n in range(self.min_len, self.max_len + 1) if self.has_length(n)]

    def has_length(self, n: int) -> bool:
        """Whether the task has sequences of length n (every length, but SCAN's holes)."""
        return True

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
    "LAYOUTS",
    "PROMPT",
    "Prompt",
    "CONTEXT_SENSITIVE",
    "LEVELS",
    "MAX_LENGTHS",
    "REGULAR",
    "Task",
    "TokenBatch",
    "bits",
]
