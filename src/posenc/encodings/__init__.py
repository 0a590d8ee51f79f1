"""Positional encodings: the `encoding` config group.

Where an encoding acts decides what it is, as in x-transformers. Each encoding plugs into one
slot, and a model says which slots it has (`Model.slots`); a mismatch is refused when the
model is built, with one line.

- `input` (`InputEncoding`): built with `dim` (the sequence width) and `seq_len`; called as
  `enc(x, positions)` and returns x with the positions added or concatenated. Members: `none`,
  `sinusoidal` (and `sinusoidal_random`: randomized positions), `learnable`, `linear`,
  `abacus` (reads the digit places a task supplies). Every model has this slot.
- `rotary` (`RotaryEncoding`): built with `dim` (one head's width) and `seq_len`; called as
  `enc(q, k, positions)` and returns q and k rotated. Members: `rope` (and `rope_random`).
  Attention models only.
- `bias` (`AttentionBias`): built with `n_heads` and `seq_len`; called as
  `enc(q_positions, k_positions)` and returns a float bias [heads, Lq, Lk] added to the
  attention scores. Members: `alibi`, `relative` (T5), `fire`. Attention models only.

- A task may supply position streams with a batch (`IDS`: every encoding reads them in place
  of 0..L−1; `PLACES`: what `abacus` reads); an encoding names the one it reads (`reads`).
  A second encoding in another slot sits beside the first: `+encoding@beside=fire`.
- `positions` are integer position ids (a tensor), not a length: evaluation at other lengths,
  offsets and randomized positions need no special case.
- Every option's keys and defaults are its constructor's keyword arguments (posenc.config.schemas
  derives the schema); conf/encoding/<option>.yaml names the class and what differs.
- `table()` returns what describes the encoding, saved in the run folder as
  `encoding_initial.npy` / `encoding_final.npy` (float32): input tables `[positions, dim]`;
  None where there is nothing to save.

A new encoding is one module here (or anywhere importable) and one YAML.
"""

from posenc.encodings.base import (
    BIAS,
    INPUT,
    ROTARY,
    SLOTS,
    AttentionBias,
    InputEncoding,
    PositionalEncoding,
    RotaryEncoding,
)
from posenc.encodings.learnable import Learnable
from posenc.encodings.linear import LinearPosition
from posenc.encodings.none import NoEncoding
from posenc.encodings.sinusoidal import Sinusoidal, sinusoidal_table, sinusoidal_vectors

__all__ = [
    "BIAS",
    "INPUT",
    "ROTARY",
    "SLOTS",
    "AttentionBias",
    "InputEncoding",
    "Learnable",
    "LinearPosition",
    "NoEncoding",
    "PositionalEncoding",
    "RotaryEncoding",
    "Sinusoidal",
    "sinusoidal_vectors",
    "sinusoidal_table",
]
