"""The model contract's base class (documented in posenc.models)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from posenc.data import Spec
from posenc.encodings.base import BIAS, IDS, INPUT, ROTARY, SLOTS, InputEncoding, PositionalEncoding
from posenc.errors import ConfigError, check_at_least, check_finite
from posenc.signatures import names

SLOT_USERS = {INPUT: "every model", ROTARY: "model=transformer", BIAS: "model=transformer"}
RECEIVES = ("spec", "encoding", "beside", "attention")  # supplied at build time, never config


@dataclass(frozen=True)
class Attention:
    """What an attention body tells the base: it has the rotary and bias slots, with these
    heads and this causality (what those slots' encodings receive)."""

    n_heads: int
    causal: bool


class OneHot(nn.Module):
    """Token ids -> one-hot float vectors: a token model's input without d_model."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(x, self.vocab_size).float()


def check_vocabulary(spec: Spec, d_model: int | None) -> None:
    """The layers as wide as the vocabulary (embedding or one-hot, head; with their
    gradients and two optimizer moments) fit in memory: refused naming the key that set it."""
    from posenc.memory import check_floats

    if spec.vocab_size is None:
        return
    width = d_model or spec.vocab_size
    symbols = spec.vocab_size + (spec.n_classes or 0)
    what = f"layers for {spec.vocab_size} symbols and {spec.n_classes} classes, {width} wide"
    check_floats(spec.symbols_key, what, 4, symbols, width)


class Model(nn.Module):
    """projection or token embedding? -> input slot -> body -> head. Subclasses build their
    layers after `super().__init__(spec, encoding, **common)` (input width `self.in_dim`),
    make their last layer with `self.make_head(...)` (one output per target, or one logit per
    class) and implement `body(x, positions)`. An attention body passes
    `attention=Attention(n_heads, causal)`: the model then has all three slots.

    Token inputs (spec.vocab_size) are embedded to d_model, or one-hot without d_model."""

    stepwise = False  # True: steps through time in Python (evaluation passes as wide as it can)

    def __init__(
        self,
        spec: Spec,
        encoding: Callable[..., PositionalEncoding],
        d_model: int | None = None,
        head_bias: bool = True,
        head_init: float | None = None,
        freeze_head: bool = False,
        *,
        attention: Attention | None = None,
        beside: Callable[..., PositionalEncoding] | None = None,
    ):
        super().__init__()
        check_at_least("model.d_model", d_model, 1)
        check_finite("model.head_init", head_init)
        self.spec, self.attention = spec, attention
        check_vocabulary(spec, d_model)
        self.slots = frozenset(SLOTS if attention else (INPUT,))
        self.project = self._make_projection(spec, d_model)
        self.width = spec.feature_dim if d_model is None else d_model
        self.out_features = spec.n_classes or 1
        self.encoding = self._build_encoding(encoding)
        self.beside = None if beside is None else self._build_encoding(beside, "beside")
        if self.beside is not None and self.beside.slot == self.encoding.slot:
            raise ConfigError(
                "beside",
                f"{type(self.beside).__name__} acts in the {self.encoding.slot} slot, like "
                f"encoding={type(self.encoding).__name__}; an encoding beside another acts "
                f"in another slot ({', '.join(s for s in SLOTS if s != self.encoding.slot)})",
            )
        first = self.in_slot(INPUT)
        self.in_dim = first.out_dim if isinstance(first, InputEncoding) else self.width
        self._head_options = (head_bias, head_init, freeze_head)

    @staticmethod
    def _make_projection(spec: Spec, d_model: int | None) -> nn.Module | None:
        if spec.vocab_size is not None:
            return (
                OneHot(spec.vocab_size)
                if d_model is None
                else nn.Embedding(spec.vocab_size, d_model)
            )
        return None if d_model is None else nn.Linear(spec.feature_dim, d_model)

    def head_width(self, width: int) -> int:
        """One attention head's width: `width` split over the heads, which must divide it."""
        n_heads = self.attention.n_heads
        if width % n_heads:
            raise ConfigError(
                "model.n_heads",
                f"{n_heads} heads do not divide the attention width {width}; change "
                "model.n_heads or model.d_model",
            )
        return width // n_heads

    def _slot_args(self, slot: str) -> dict[str, Any]:
        """Everything the slot's base class says its encodings receive."""
        if slot == INPUT:
            return {"dim": self.width, "seq_len": self.spec.seq_len}
        if slot == ROTARY:
            return {"dim": self.head_width(self.width), "seq_len": self.spec.seq_len}
        a = self.attention
        return {"n_heads": a.n_heads, "seq_len": self.spec.seq_len, "causal": a.causal}

    @property
    def encodings(self) -> tuple[PositionalEncoding, ...]:
        """The encoding, then the one beside it (+encoding@beside=...), if any."""
        return (self.encoding,) if self.beside is None else (self.encoding, self.beside)

    def in_slot(self, slot: str) -> PositionalEncoding | None:
        """The encoding acting in `slot`, or None."""
        return next((e for e in self.encodings if e.slot == slot), None)

    def _build_encoding(
        self, factory: Callable[..., PositionalEncoding], key: str = "encoding"
    ) -> PositionalEncoding:
        cls = getattr(factory, "func", factory)  # a partial from Hydra, or the class itself
        slot = getattr(cls, "slot", None)
        if slot not in SLOTS:
            raise ConfigError(f"{key}._target_", "must name a posenc PositionalEncoding subclass")
        if slot not in self.slots:
            raise ConfigError(
                key,
                f"{cls.__name__} acts in the {slot} slot (inside attention), which "
                f"{type(self).__name__} does not have; it needs {SLOT_USERS[slot]}",
            )
        declared = names(cls)  # an encoding gets only the arguments it declares
        args = {k: v for k, v in self._slot_args(slot).items() if k in declared}
        encoding = factory(**args)
        if not isinstance(encoding, PositionalEncoding):
            raise ConfigError(f"{key}._target_", "must name a posenc PositionalEncoding subclass")
        return encoding

    def make_head(self, in_features: int, out_features: int | None = None) -> nn.Linear:
        """The last layer, with the model's head_bias / head_init / freeze_head applied; by
        default one output per target (a logit per class for class targets)."""
        bias, init, freeze = self._head_options
        head = nn.Linear(in_features, out_features or self.out_features, bias=bias)
        if init is not None:
            with torch.no_grad():
                head.weight.fill_(init)
                if head.bias is not None:
                    head.bias.zero_()
        head.requires_grad_(not freeze)
        return head

    def unsupported(self, length: int) -> str | None:
        """Why this model cannot run at sequence length `length`, or None when it can."""
        return next(filter(None, (e.unsupported(length) for e in self.encodings)), None)

    def check_streams(self, supplied: tuple[str, ...]) -> None:
        """An encoding that reads a position stream only a task can supply (Abacus's digit
        places) is refused, naming its key, on a dataset that supplies none."""
        for key, enc in zip(("encoding", "beside"), self.encodings, strict=False):
            if enc.reads != IDS and enc.reads not in supplied:
                raise ConfigError(
                    key,
                    f"{type(enc).__name__} reads the {enc.reads!r} a task supplies with each "
                    f"batch; this dataset supplies {', '.join(supplied) or 'none'} "
                    "(dataset=addition does)",
                )

    def unsupported_positions(self, positions: dict[str, torch.Tensor] | None) -> str | None:
        """Why this model cannot run on a batch's supplied position streams, or None."""
        for e in self.encodings:
            ids = (positions or {}).get(e.reads)
            if ids is not None and ids.numel() and (why := e.unsupported_ids(int(ids.max()))):
                return why
        return None

    def sees_future(self) -> tuple[str, str] | None:
        """(key, why) when an output can read a later position's input, which a next-symbol
        target (text) forbids; None for a causal model."""
        return None

    def body(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, positions: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """`positions`: the position streams a task supplies with the batch (posenc.encodings:
        IDS, PLACES; [batch, L] each), in place of 0..L−1 for the encodings that read them."""
        if self.project is not None:
            x = self.project(x)
        streams, ids = positions or {}, {}
        for e in self.encodings:
            ids[e.slot] = e.position_ids(x.shape[0], x.shape[1], x.device, streams.get(e.reads))
        if INPUT in ids:
            x = self.in_slot(INPUT)(x, ids[INPUT])
        inner = ids.get(ROTARY, ids.get(BIAS))  # what the attention slots read
        return self.body(x, ids[self.encoding.slot] if inner is None else inner)
