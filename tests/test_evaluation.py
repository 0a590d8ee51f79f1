"""The length evaluation's numbers against a plain reference loop over the same trained
weights: every sequence or window in one forward pass under no_grad, every RoPE scaling
applied explicitly at every length. Passes sized for speed, inference mode, sequences drawn
once per length and scaled rows reused at the training length must change no printed digit:
bpc to 1e-5, accuracies and the score exactly. And evaluation passes respect the memory check."""

from __future__ import annotations

import contextlib
import json
import math

import pytest
import torch
from torch import nn

from posenc.config.compose import compose_job
from posenc.errors import ConfigError
from posenc.jobs.job import build_job
from posenc.jobs.kinds.base import length_seed, pass_size
from posenc.store import run_folder as rf
from tests.conftest import run_inprocess
from tests.test_text import corpus, tiny  # noqa: F401  (corpus is a fixture)

ROPE_TEXT = [
    "model=transformer",
    "model.d_model=16",
    "model.n_heads=2",
    "model.n_layers=1",
    "model.causal=true",
    "encoding=rope",
    "eval.lengths=[16,32,64]",
    "eval.rope_scalings=[none,linear,ntk,yarn]",
]
TOKENS = [
    "dataset=reverse_string",
    "dataset.max_len=6",
    "model=transformer",
    "model.d_model=16",
    "model.n_heads=2",
    "model.n_layers=1",
    "encoding=rope",
    "trainer.steps=60",
    "trainer.eval_every=20",
    "eval.max_length=10",
    "eval.per_length=300",
    "eval.lengths=[3,12]",
    "eval.rope_scalings=[linear,yarn]",
]


def trained(tmp_path, overrides):
    """(metrics.json, the job rebuilt from the run's config with its final weights)."""
    metrics = run_inprocess(tmp_path, overrides)
    cfg, _ = compose_job(["plots=false", *overrides])
    job = build_job(cfg)
    saved = torch.load(tmp_path / rf.CHECKPOINT, weights_only=True)
    job.model.load_state_dict(saved["model"])
    job.model.eval()
    return metrics, job, cfg


def reference(job, batch, scaling: str | None) -> tuple[float, float]:
    """(mean cross-entropy over the targets, accuracy over the scored positions), one pass."""
    model, factor = job.model, batch.x.shape[1] / job.kind.spec.seq_len
    rescale = model.encoding.rescaled(scaling, factor) if scaling else contextlib.nullcontext()
    with torch.no_grad(), rescale:
        logits = model(batch.x)[:, -batch.y.shape[1] :]
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch.y.flatten()).item()
        right = ((logits.argmax(-1) == batch.y) & batch.mask).sum().item()
    return loss, right / batch.mask.sum().item()


@pytest.mark.slow
def test_text_bpc_matches_one_plain_pass_per_length_and_scaling(tmp_path, corpus):  # noqa: F811
    metrics, job, cfg = trained(tmp_path, tiny(corpus, *ROPE_TEXT))
    assert json.loads((tmp_path / rf.METRICS).read_text())["kind"] == "text"
    checked = 0
    for length in cfg.eval.lengths:
        batch = job.kind.data.evaluation(None, length, 0)
        for scaling in (None, "none", "linear", "ntk", "yarn"):
            loss, _ = reference(job, batch, scaling)
            key = f"bpc_{scaling}@{length}" if scaling else f"bpc@{length}"
            assert metrics[key] == pytest.approx(loss / math.log(2), abs=1e-5), key
            checked += 1
    assert checked == 15
    # the scalings differ past the training length: the reference is not trivially one value
    assert len({round(metrics[f"bpc_{s}@64"], 5) for s in ("linear", "ntk", "yarn")}) == 3


@pytest.mark.slow
def test_token_accuracies_and_score_match_one_plain_pass_per_length(tmp_path):
    metrics, job, cfg = trained(tmp_path, TOKENS)
    task, accuracies = job.kind.data, {}
    for length in [*range(task.max_len + 1, cfg.eval.max_length + 1), *cfg.eval.lengths]:
        generator = torch.Generator().manual_seed(length_seed(cfg.seed, length))
        batch = task.evaluation(generator, length, cfg.eval.per_length)
        _, accuracies[length] = reference(job, batch, None)
        assert metrics[f"accuracy@{length}"] == accuracies[length], length
        for scaling in ("linear", "yarn"):
            if length in cfg.eval.lengths:
                _, scaled = reference(job, batch, scaling)
                assert metrics[f"accuracy_{scaling}@{length}"] == scaled, (scaling, length)
    unseen = range(task.max_len + 1, cfg.eval.max_length + 1)
    assert metrics["score"] == sum(accuracies[n] for n in unseen) / len(unseen)


def test_a_pass_holds_about_2048_positions_on_a_cpu_unless_batch_size_says():
    cpu = torch.device("cpu")
    assert [pass_size(None, n, cpu) for n in (1, 64, 512, 4096)] == [2048, 32, 4, 1]
    assert pass_size(7, 512, cpu) == 7
    assert pass_size(None, 64, torch.device("meta")) == 256


def test_the_memory_check_sizes_the_pass_evaluation_will_make(monkeypatch):
    """At eval.batch_size null the check reckons with the pass actually made (4 windows of 512
    on a CPU), so a machine with room for that is not refused; eval.batch_size=512 is."""
    overrides = [
        "+experiment=train_short_test_long",
        "encoding=alibi",
        "trainer.device=cpu",
        "eval.lengths=[512]",
    ]
    scores_of = 2 * 4 * 4 * 512 * 512 * 4  # 2 copies × pass × heads × L × L × float32
    monkeypatch.setattr("posenc.memory.machine_memory", lambda: scores_of + 1)
    build_job(compose_job(overrides)[0])  # fits
    with pytest.raises(ConfigError, match="eval.lengths"):
        build_job(compose_job([*overrides, "eval.batch_size=512"])[0])
