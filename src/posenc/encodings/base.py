"""The encoding contract: a root class, one base class per slot (documented in __init__)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from posenc.errors import ConfigError, check_at_least, check_choice, check_finite
from posenc.memory import check_floats

INPUT = "input"  # on the sequence: added to it or concatenated as extra features
ROTARY = "rotary"  # rotates queries and keys in every attention layer
BIAS = "bias"  # adds a [heads, q, k] bias to the attention scores
SLOTS = (INPUT, ROTARY, BIAS)

# The position streams a task may supply with a batch ([batch, length] integers each): `ids`
# replace 0..L−1 for every encoding (position coupling); `places` number each digit inside
# its number from 1, 0 elsewhere (what Abacus reads).
IDS, PLACES = "ids", "places"

COMBINES = ("add", "concat")
BASE = 10000.0  # the wavelength base of sinusoidal tables and RoPE (Vaswani et al.; Su et al.)


class RandomPositions:
    """Randomized positions (Ruoss et al. 2023): each sequence of length L gets a sorted
    random subset of [0, max_position) as its position ids, in training and, with
    `random_eval` (the default), in evaluation too; else 0..L−1 there."""

    def __init__(self, max_position: int, random_eval: bool):
        self.max_position, self.random_eval = max_position, random_eval

    @staticmethod
    def make(
        randomize: bool, max_position: int | None, random_eval: bool, seq_len: int
    ) -> RandomPositions | None:
        if not randomize:
            return None
        if max_position is None or max_position < seq_len:
            raise ConfigError(
                "encoding.max_position",
                f"{max_position} must be at least the sequence length {seq_len} with "
                "encoding.randomize=true (e.g. 4 × the longest evaluation length)",
            )
        return RandomPositions(max_position, random_eval)

    def ids(self, batch: int, length: int, device: torch.device, training: bool) -> torch.Tensor:
        if not (training or self.random_eval):
            return torch.arange(length, device=device)
        scores = torch.rand(batch, self.max_position, device=device)
        return scores.topk(length, dim=-1).indices.sort(dim=-1).values  # [batch, length]

    def unsupported(self, length: int) -> str | None:
        if self.random_eval and length > self.max_position:
            return f"length {length} exceeds encoding.max_position {self.max_position}"
        return None

    def within(self, ids: torch.Tensor, training: bool) -> torch.Tensor:
        """A task's ids [batch, L] with randomized positions: the sorted random subset is drawn
        for the ids 0..max(ids) and each id maps to its draw, so tokens that share an id share
        a position and the task's order is kept."""
        if not (training or self.random_eval):
            return ids
        drawn = self.ids(ids.shape[0], int(ids.max()) + 1, ids.device, training)
        return drawn.gather(1, ids)


class Randomizable:
    """Mixin of the encodings that offer randomized positions: its keys (`randomize`,
    `max_position`, `random_eval`) are written once, here, and reach the schema through the
    subclass's `**common`. Sets `self.random`; an input encoding's table then covers every
    position that can be drawn (max_len ≥ max_position)."""

    def __init__(
        self,
        *,
        seq_len: int,
        randomize: bool = False,
        max_position: int | None = None,
        random_eval: bool = True,
        **common,
    ):
        random = RandomPositions.make(randomize, max_position, random_eval, seq_len)
        if random is not None:  # a score per position that can be drawn, a batch at once
            what = f"drawing positions from {max_position}"
            check_floats("encoding.max_position", what, 256, max_position)
        if random is not None and isinstance(self, InputEncoding):
            self.size_key = "encoding.max_position"
            common["max_len"] = max(common.get("max_len") or seq_len, max_position)
        super().__init__(seq_len=seq_len, **common)
        self.random = random


class PositionalEncoding(nn.Module):
    """Root of every encoding: the slot it plugs into, the position ids it wants, and what
    describes it."""

    slot: ClassVar[str] = INPUT
    reads: ClassVar[str] = IDS  # the position stream it uses where a task supplies one
    random: RandomPositions | None = None  # set by encodings that offer randomize=true

    def position_ids(
        self, batch: int, length: int, device: torch.device, supplied: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Position ids for a batch: 0..length−1 ([length]), or random ones ([batch, length]);
        `supplied`: the task's ids for the stream this encoding reads ([batch, length]), used
        as they are or, with randomized positions, mapped through a random draw."""
        if supplied is not None:
            return supplied if self.random is None else self.random.within(supplied, self.training)
        if self.random is None:
            return torch.arange(length, device=device)
        return self.random.ids(batch, length, device, self.training)

    def unsupported(self, length: int) -> str | None:
        """Why this encoding cannot run at `length`, or None when it can."""
        return None if self.random is None else self.random.unsupported(length)

    def unsupported_ids(self, largest: int) -> str | None:
        """Why this encoding cannot run on supplied ids up to `largest`, or None."""
        random = self.random
        if random is not None and random.random_eval and largest >= random.max_position:
            return f"position id {largest} is past encoding.max_position {random.max_position}"
        return None

    def table(self) -> torch.Tensor | None:
        """What describes the encoding, saved as encoding_initial.npy / encoding_final.npy;
        None for an encoding with nothing to save."""
        return None

    @property
    def device(self) -> torch.device:
        """Where the encoding's parameters or buffers live (the CPU when it has none)."""
        for t in (*self.parameters(), *self.buffers()):
            return t.device
        return torch.device("cpu")


class InputEncoding(PositionalEncoding):
    """Input slot: built with the sequence width `dim` and the dataset's `seq_len`.

    Subclasses implement `encode(positions)`: position ids [L] (or [batch, L]) to vectors
    [L, dim] (or [batch, L, dim]). `forward(x, positions)` adds `scale` times them to x
    [batch, L, dim] or concatenates them as `dim` extra features (`out_dim` says which).
    """

    slot = INPUT
    receives: ClassVar[tuple[str, ...]] = ("dim", "seq_len")
    learned_table: ClassVar[bool] = False  # True: positions past max_len are refused
    size_key = "encoding.max_len"  # the key a table too big to fit is named by

    def __init__(
        self,
        dim: int,
        seq_len: int,
        max_len: int | None = None,
        combine: str = "add",
        scale: float = 1.0,
    ):
        super().__init__()
        check_choice("encoding.combine", combine, COMBINES)
        check_finite("encoding.scale", scale)
        self.dim = dim
        self.seq_len = seq_len
        self.max_len = seq_len if max_len is None else max_len
        check_at_least("encoding.max_len", self.max_len, 1)
        # a table, its gradient and Adam's two moments
        what = f"a table of {self.max_len} positions × {dim}"
        check_floats(self.size_key, what, 4, self.max_len, dim)
        self.combine = combine
        self.scale = scale

    @property
    def out_dim(self) -> int:
        """Width of the sequence after this encoding."""
        return 2 * self.dim if self.combine == "concat" else self.dim

    def encode(self, positions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def table(self) -> torch.Tensor | None:
        """The vectors of positions 0..max_len-1, [max_len, dim]."""
        return self.encode(torch.arange(self.max_len, device=self.device))

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        pe = self.encode(positions).to(x.dtype)
        if self.scale != 1.0:
            pe = self.scale * pe
        if self.combine == "add":
            return x + pe
        return torch.cat([x, pe.expand(x.shape[0], -1, -1)], dim=-1)

    def unsupported(self, length: int) -> str | None:
        if self.learned_table and length > self.max_len:
            return f"a learned table of {self.max_len} positions cannot run at length {length}"
        return super().unsupported(length)

    def unsupported_ids(self, largest: int) -> str | None:
        if self.learned_table and largest >= self.max_len:
            rows = f"{self.max_len} rows ({self.size_key})"
            return f"position id {largest} is past a learned table of {rows}"
        return super().unsupported_ids(largest)

    def require_ids(self, positions: torch.Tensor) -> None:
        """Supplied ids past the table's rows: refused, never wrapped or clamped. 0..L−1 is
        require_length's; random ids are drawn below max_position <= max_len."""
        if positions.dim() == 1 or self.random is not None:
            return  # no max() to read (a device sync on a GPU) on every forward
        if positions.numel() and (largest := int(positions.max())) >= self.max_len:
            raise ConfigError(
                self.size_key,
                f"{self.max_len} rows, but the task supplies position id {largest}; set "
                f"{self.size_key}>={largest + 1}",
            )

    def require_length(self, length: int) -> None:
        """A learned table cannot run past its rows: refuse, never truncate."""
        if length > self.max_len:
            raise ConfigError(
                "encoding.max_len",
                f"{self.max_len} is below the sequence length {length}; set "
                f"encoding.max_len>={length} (a learned table cannot run past its length)",
            )


class RotaryEncoding(PositionalEncoding):
    """Rotary slot: built with a head's width `dim` and `seq_len`.

    Subclasses implement `rotation(positions)`, what rotates every layer's queries and keys
    (computed once per forward of the model), and `rotate(q, k, rotation)`, applied in each
    attention layer to queries and keys [batch, heads, L, dim], so that q_m·k_n depends on
    m − n. `enc(q, k, positions)` does both.
    """

    slot = ROTARY
    receives: ClassVar[tuple[str, ...]] = ("dim", "seq_len")

    def __init__(self, dim: int, seq_len: int):
        super().__init__()
        self.dim, self.seq_len = dim, seq_len

    def rotation(self, positions: torch.Tensor) -> Any:
        raise NotImplementedError

    def rotate(self, q: torch.Tensor, k: torch.Tensor, rotation: Any):
        raise NotImplementedError

    def forward(self, q: torch.Tensor, k: torch.Tensor, positions: torch.Tensor):
        return self.rotate(q, k, self.rotation(positions))


class AttentionBias(PositionalEncoding):
    """Bias slot: built with the attention's `n_heads` and `seq_len` (and `causal`, for the
    encodings that declare it).

    `forward(q_positions, k_positions)` returns a float bias [heads, Lq, Lk] that is added
    to the attention scores. `table()` is the bias by relative distance, [heads, 2·L − 1],
    column L − 1 + (j − i) for key j and query i, L = seq_len.
    """

    slot = BIAS
    receives: ClassVar[tuple[str, ...]] = ("n_heads", "seq_len", "causal")
    static: ClassVar[bool] = False  # True: no parameters, the model caches the bias per length

    def __init__(self, n_heads: int, seq_len: int):
        super().__init__()
        self.n_heads, self.seq_len = n_heads, seq_len

    def table(self) -> torch.Tensor:
        last = self.seq_len - 1  # the query at L − 1 sees every offset −(L − 1)..L − 1
        query = torch.tensor([last], device=self.device)
        keys = torch.arange(2 * self.seq_len - 1, device=self.device)
        return self(query, keys)[:, 0, :]


# What the job supplies to an encoding at build time (never a config key): each slot's base
# declares what it receives, and an encoding gets those its own signature names.
RECEIVES = frozenset(InputEncoding.receives + RotaryEncoding.receives + AttentionBias.receives)
