"""init_from=<run folder>: a run that starts from another run's weights, and the
context-extension protocol built on it (+experiment=extend_context)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from posenc.config.compose import check_resolves, compose_job
from posenc.errors import ConfigError
from posenc.jobs.folder import run_in_folder
from posenc.jobs.job import build_job
from posenc.jobs.kinds.tokens import evaluate
from posenc.jobs.source import read_source
from posenc.store import checkpoint, run_lock
from posenc.store import claim as claiming
from posenc.store import run_folder as rf
from tests.conftest import run_cli, run_inprocess
from tests.test_text import english

SHORT, LONG = 16, 64  # the source's training length, and 4× it
SCALINGS = ("none", "linear", "ntk", "yarn")


def text_job(corpus: Path, seq_len: int, *more: str) -> list[str]:
    """A tiny causal RoPE transformer on `corpus`, evaluated (with every scaling) at 16..64."""
    return [
        "dataset=text",
        f"dataset.path={corpus}",
        f"dataset.seq_len={seq_len}",
        "dataset.val_fraction=0.1",
        "dataset.test_fraction=0.1",
        "model=transformer",
        "model.causal=true",
        "model.d_model=16",
        "model.n_heads=2",
        "model.n_layers=1",
        "encoding=rope",
        "trainer.batch_size=8",
        "trainer.eval_every=10",
        "trainer.checkpoint_every=10",
        f"eval.lengths=[{SHORT},{LONG}]",
        "eval.rope_scalings=[linear,ntk,yarn]",
        *more,
    ]


def fine_tune(corpus: Path, source: Path, scaling: str, *more: str) -> list[str]:
    """The source fine-tuned at LONG under `scaling`, factor 4 from its SHORT."""
    return text_job(
        corpus,
        LONG,
        f"init_from={source}",
        f"encoding.scaling={scaling}",
        "encoding.scaling_factor=4",
        f"encoding.original_length={SHORT}",
        "eval.rope_scalings=[]",
        *more,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "corpus.txt"
    path.write_text(english(1500), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def source(tmp_path_factory, corpus) -> Path:
    """A completed RoPE run at SHORT, with its checkpoint and every scaled length row."""
    folder = tmp_path_factory.mktemp("source")
    metrics = run_inprocess(folder, text_job(corpus, SHORT, "trainer.steps=30"))
    assert metrics["status"] == "completed"
    return folder


def source_model(source: Path):
    """The source's model, rebuilt from its own config and loaded from its checkpoint."""
    record = rf.read_record(source)
    cfg, _ = compose_job(record["overrides"])
    model = build_job(cfg).model
    checkpoint.load_weights(checkpoint.load(source / rf.CHECKPOINT), model, source)
    return model.eval()


def test_the_weights_load_exactly(corpus, source):
    """At the source's own length the fine-tune's model is the source's: same weights, same
    outputs."""
    cfg, _ = compose_job(text_job(corpus, SHORT, f"init_from={source}", "optimizer.lr=0.5"))
    job = build_job(cfg)
    theirs = source_model(source)
    for name, tensor in theirs.state_dict().items():
        assert torch.equal(job.model.state_dict()[name], tensor), name
    x = torch.randint(0, job.spec.vocab_size, (3, SHORT))
    with torch.no_grad():
        assert torch.equal(job.model.eval()(x), theirs(x))
    assert job.source is not None and job.source.step == 30
    assert job.optimizer.param_groups[0]["lr"] == 0.5  # the new config's: nothing else came


@pytest.mark.parametrize(
    ("change", "key", "values"),
    [
        (["model.d_model=32"], "model.d_model", ("32 here", "16 in")),
        (["model.n_layers=2"], "model.n_layers", ("2 here", "1 in")),
        (["model.n_heads=4"], "model.n_heads", ("4 here", "2 in")),
        (["encoding=alibi"], "encoding._target_", ("ALiBi here", "RoPE in")),
    ],
)
def test_a_change_of_architecture_is_refused_naming_the_key_and_both_values(
    corpus, source, change, key, values
):
    cfg, _ = compose_job(text_job(corpus, LONG, f"init_from={source}", *change))
    with pytest.raises(ConfigError) as error:
        build_job(cfg)
    message = str(error.value)
    assert message.startswith(f"{key}: ") and "\n" not in message
    assert all(v in message for v in values), message
    assert str(source) in message


def test_a_learned_table_too_short_for_the_new_length_is_refused(tmp_path, corpus):
    learned = text_job(corpus, SHORT, "encoding=learnable", "eval.rope_scalings=[]")
    run_inprocess(tmp_path / "src", [*learned, "trainer.steps=10"])
    longer = text_job(
        corpus, LONG, "encoding=learnable", "eval.rope_scalings=[]", f"init_from={tmp_path / 'src'}"
    )
    cfg, _ = compose_job(longer)
    with pytest.raises(
        ConfigError,
        match=rf"^dataset.seq_len: {LONG} here, {SHORT} in .*\[{SHORT}, 16\] there, "
        rf"\[{LONG}, 16\] here",
    ):
        build_job(cfg)


def break_source(folder: Path, how: str) -> None:
    if how == "not completed":
        metrics = json.loads((folder / rf.METRICS).read_text())
        (folder / rf.METRICS).write_text(json.dumps({**metrics, "status": "interrupted"}))
    elif how == "no checkpoint":
        (folder / rf.CHECKPOINT).unlink()


@pytest.mark.slow  # four commands
@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("missing", "no such run folder"),
        ("not completed", "its run is interrupted, not completed"),
        ("no checkpoint", f"has no {rf.CHECKPOINT}"),
        ("another kind", "is a regression run; this run is text"),
    ],
)
def test_a_source_that_cannot_be_started_from_is_one_line_exit_2(tmp_path, corpus, how, says):
    folder = tmp_path / "src"
    if how == "another kind":
        run_inprocess(folder, ["trainer.epochs=1"])
    elif how != "missing":
        run_inprocess(folder, text_job(corpus, SHORT, "trainer.steps=10"))
        break_source(folder, how)
    args = fine_tune(corpus, folder, "linear", "trainer.steps=10", "hydra.run.dir=run")
    done = run_cli(args, cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("init_from: ") and says in lines[0], lines
    assert not (tmp_path / "run").exists()  # nothing written


def test_the_preset_asks_for_its_source_in_one_line():
    with pytest.raises(ConfigError, match=r"^init_from: a RoPE run of \+experiment=train_short"):
        cfg, _ = compose_job(["+experiment=extend_context"])
        check_resolves(cfg)


@pytest.mark.parametrize("scaling", SCALINGS)
def test_the_first_point_is_the_source_under_the_scaling_on_the_same_windows(
    tmp_path, corpus, source, scaling
):
    run_inprocess(tmp_path, fine_tune(corpus, source, scaling, "trainer.steps=10"))
    history = pd.read_csv(tmp_path / rf.HISTORY)
    assert history["step"].tolist() == [0, 10]
    assert math.isnan(history["train_loss"][0])  # no step taken yet
    cfg, _ = compose_job(fine_tune(corpus, source, scaling, "trainer.steps=10"))
    windows = build_job(cfg).kind.val  # the fine-tune's validation windows at LONG
    theirs = source_model(source)
    with theirs.encoding.rescaled(scaling, LONG / SHORT):
        loss, accuracy, _ = evaluate(theirs, windows)
    assert history["val_loss"][0] == pytest.approx(loss, abs=1e-6)
    assert history["val_accuracy"][0] == pytest.approx(accuracy, abs=1e-9)
    if scaling != "none":  # the scaling acts: the first point is not the unscaled source's
        plain, *_ = evaluate(theirs, windows)
        assert abs(plain - loss) > 1e-4


@pytest.mark.parametrize("scaling", SCALINGS)
def test_a_fine_tune_that_learns_nothing_reports_what_the_source_did_at_the_new_length(
    tmp_path, corpus, source, scaling
):
    metrics = run_inprocess(
        tmp_path,
        fine_tune(
            corpus,
            source,
            scaling,
            "trainer.steps=10",
            "optimizer.lr=1e-30",
            "scheduler.warmup_steps=0",
        ),
    )
    before = json.loads((source / rf.METRICS).read_text())
    suffix = "" if scaling == "none" else f"_{scaling}"
    assert metrics[f"bpc@{LONG}"] == pytest.approx(before[f"bpc{suffix}@{LONG}"], abs=1e-5)
    assert metrics[f"bpc@{SHORT}"] == pytest.approx(before[f"bpc@{SHORT}"], abs=1e-5)


def test_the_source_is_recorded_and_a_changed_source_is_another_run(tmp_path, corpus):
    source = tmp_path / "src"
    run_inprocess(source, text_job(corpus, SHORT, "trainer.steps=10"))
    cfg, choices = compose_job(fine_tune(corpus, source, "yarn", "trainer.steps=10"))
    run = tmp_path / "run"
    run.mkdir()
    claim, metrics = run_in_folder(cfg, run, choices, source=read_source(cfg))
    assert claim == claiming.Claim.NEW
    recorded = rf.read_record(run)["init_from"]
    expected_hash = claiming.config_hash(rf.read_record(source)["config"])
    assert recorded == {"folder": str(source.resolve()), "config_hash": expected_hash, "step": 10}
    assert metrics["init_from"] == str(source.resolve())
    assert (metrics["init_from_config_hash"], metrics["init_from_step"]) == (expected_hash, 10)
    assert claim_again(corpus, source, run) == claiming.Claim.REUSE  # same source: the run stands
    run_inprocess(source, text_job(corpus, SHORT, "trainer.steps=20"))  # the source retrained
    with pytest.raises(run_lock.RunFolderTaken, match="another config"):
        claim_again(corpus, source, run)
    assert json.loads((run / rf.METRICS).read_text())["init_from_step"] == 10  # kept


def claim_again(corpus: Path, source: Path, run: Path) -> claiming.Claim:
    cfg, choices = compose_job(fine_tune(corpus, source, "yarn", "trainer.steps=10"))
    return run_in_folder(cfg, run, choices, source=read_source(cfg))[0]


def test_an_interrupted_fine_tune_continues_with_its_first_point(tmp_path, corpus, source):
    """A continued fine-tune keeps its history from step 0 and its source."""
    args = fine_tune(corpus, source, "linear", "trainer.steps=20")
    cfg, choices = compose_job(args)
    run = tmp_path / "run"
    run.mkdir()
    run_in_folder(cfg, run, choices, source=read_source(cfg))
    whole = pd.read_csv(run / rf.HISTORY)
    metrics = json.loads((run / rf.METRICS).read_text())
    (run / rf.METRICS).write_text(json.dumps({**metrics, "status": "interrupted"}))
    cfg, choices = compose_job(args)
    claim, again = run_in_folder(cfg, run, choices, source=read_source(cfg))
    assert claim == claiming.Claim.CONTINUE
    assert pd.read_csv(run / rf.HISTORY)["step"].tolist() == whole["step"].tolist() == [0, 10, 20]
    assert again["init_from"] == str(source.resolve())
