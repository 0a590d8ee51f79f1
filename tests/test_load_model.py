"""posenc.load_model: every kind's trained model back from its folder, reproducing the
run's own recorded test metrics; and the refusals, one line naming the file."""

from __future__ import annotations

import pytest
import torch

import posenc
from posenc.store import run_folder as rf

CASES = {
    "regression": ["dataset.n_samples=64", "dataset.seq_len=6", "trainer.epochs=2"],
    "tokens": ["dataset=parity_check", "dataset.max_len=5", "trainer.steps=6",
               "trainer.eval_every=3", "model=transformer"],
    "memory model": ["+experiment=chomsky_stack_rnn", "dataset=reverse_string",
                     "dataset.max_len=5", "trainer.steps=6", "trainer.eval_every=3",
                     "eval.max_length=7", "eval.per_length=8"],
    "text": ["dataset=text", "dataset.seq_len=16", "model=lstm", "model.hidden_dim=16",
             "encoding=none", "trainer.steps=6", "trainer.eval_every=3", "trainer.batch_size=8",
             "dataset.test_fraction=0.05"],
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_loaded_model_reproduces_its_runs_test_metrics(tmp_path, case):
    result = posenc.run(CASES[case], output_dir=tmp_path / "run", plots=False)
    assert result.status == "completed"
    loaded = posenc.load_model(tmp_path / "run")
    assert not loaded.model.training
    assert loaded.config.seed == result.config["seed"]
    again = loaded.test_metrics()
    recorded = {k: result.metrics[k] for k in again}
    assert recorded and "test_loss" in recorded
    for key, value in again.items():
        assert value == pytest.approx(recorded[key], rel=1e-6, abs=1e-6), key


def test_a_loaded_model_is_the_trained_one_not_a_fresh_build(tmp_path):
    posenc.run(CASES["regression"], output_dir=tmp_path / "run", plots=False)
    loaded = posenc.load_model(tmp_path / "run")
    weights = torch.load(tmp_path / "run" / rf.CHECKPOINT, weights_only=True)["model"]
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name
    assert loaded.spec.seq_len == 6


def test_a_folder_without_its_checkpoint_says_why_in_one_line(tmp_path):
    posenc.run(CASES["regression"], output_dir=tmp_path / "run", plots=False)
    (tmp_path / "run" / rf.CHECKPOINT).unlink()
    with pytest.raises(rf.RunFolderError, match=r"checkpoint.pt: no such file; the run completed"):
        posenc.load_model(tmp_path / "run")
    with pytest.raises(rf.RunFolderError, match="is not a posenc run folder"):
        posenc.load_model(tmp_path)
