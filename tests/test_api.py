"""The notebook API: posenc.run, posenc.load_run, posenc.load_sweep."""

import numpy as np
import pandas as pd
import pytest

import posenc
from posenc.config import ConfigError

from .conftest import run_cli, run_dirs

TINY = [
    "dataset.n_samples=64",
    "dataset.seq_len=6",
    "dataset.feature_dim=3",
    "trainer.epochs=2",
    "trainer.batch_size=16",
]


def test_run_returns_everything_and_matches_the_cli(tmp_path):
    overrides = ["encoding=learnable", "model=lstm", *TINY]
    result = posenc.run(overrides, output_dir=tmp_path / "api", plots=True)
    assert result.path == tmp_path / "api" and result.status == "completed"
    assert isinstance(result.history, pd.DataFrame) and len(result.history) == 2
    assert result.metrics["encoding"] == "learnable" and result.metrics["model"] == "lstm"
    assert result.encoding_initial.shape == result.encoding_final.shape == (6, 3)
    assert (result.path / ".hydra" / "overrides.yaml").is_file()
    assert (result.path / "loss.png").stat().st_size > 5_000
    assert (result.path / "encoding.png").stat().st_size > 5_000
    assert "epoch 2/2" in (result.path / "train.log").read_text()

    cli = run_cli(overrides, cwd=tmp_path)
    assert cli.returncode == 0
    (cli_run,) = run_dirs(tmp_path / "outputs")
    from_cli = posenc.load_run(cli_run)
    cols = ["train_loss", "val_loss"]
    pd.testing.assert_frame_equal(result.history[cols], from_cli.history[cols])
    np.testing.assert_array_equal(result.encoding_final, from_cli.encoding_final)


def test_run_refuses_a_folder_that_holds_a_run(tmp_path):
    posenc.run(TINY, output_dir=tmp_path / "r", plots=False)
    before = (tmp_path / "r" / "history.csv").read_bytes()
    with pytest.raises(FileExistsError):
        posenc.run(TINY, output_dir=tmp_path / "r")
    assert (tmp_path / "r" / "history.csv").read_bytes() == before


def test_run_bad_value_raises_config_error(tmp_path):
    with pytest.raises(ConfigError, match="optimizer.lr"):
        posenc.run(["optimizer.lr=-1", *TINY], output_dir=tmp_path / "bad")


def test_load_sweep_reads_results(tmp_path):
    for seed in (0, 1):
        posenc.run([f"seed={seed}", *TINY], output_dir=tmp_path / f"s{seed}", plots=False)
    table = posenc.load_sweep(tmp_path)
    assert sorted(table["run"]) == ["s0", "s1"] and table["seed"].tolist() == [0, 1]
    assert (table["status"] == "completed").all()


def test_load_run_rejects_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a posenc run folder"):
        posenc.load_run(tmp_path)
