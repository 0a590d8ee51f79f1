"""The notebook API: posenc.run, posenc.load_run, posenc.load_sweep."""

import numpy as np
import pandas as pd
import pytest

import posenc
from posenc.errors import ConfigError
from posenc.store.run_folder import RunFolderError

from .conftest import run_cli, run_dirs

TINY = [
    "dataset.n_samples=64",
    "dataset.seq_len=6",
    "dataset.feature_dim=3",
    "trainer.epochs=2",
    "trainer.batch_size=16",
]


@pytest.mark.slow
def test_run_returns_everything_and_matches_the_cli(tmp_path):
    overrides = ["encoding=learnable", "model=lstm", *TINY]
    result = posenc.run(overrides, output_dir=tmp_path / "api", plots=True)
    assert result.path == tmp_path / "api" and result.status == "completed"
    assert isinstance(result.history, pd.DataFrame) and len(result.history) == 2
    assert result.metrics["encoding"] == "learnable" and result.metrics["model"] == "lstm"
    assert result.encoding_initial.shape == result.encoding_final.shape == (6, 3)
    assert (result.path / "run.yaml").is_file() and not (result.path / ".hydra").exists()
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


@pytest.mark.slow
def test_run_reuses_the_same_run_and_refuses_another_in_its_folder(tmp_path):
    first = posenc.run(TINY, output_dir=tmp_path / "r", plots=False)
    files = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}
    again = posenc.run(TINY, output_dir=tmp_path / "r")  # same config: reused, not redone
    assert again.metrics == first.metrics
    with pytest.raises(FileExistsError, match="overwrite=true"):
        posenc.run([*TINY, "trainer.epochs=3"], output_dir=tmp_path / "r")
    for name, content in files.items():
        if name != "train.log":
            assert (tmp_path / "r" / name).read_bytes() == content, name
    replaced = posenc.run([*TINY, "trainer.epochs=3", "overwrite=true"], output_dir=tmp_path / "r")
    assert len(replaced.history) == 3


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
    with pytest.raises(RunFolderError, match="not a posenc run folder"):
        posenc.load_run(tmp_path)


@pytest.mark.parametrize("name", ["history.csv", "run.yaml"])
def test_load_run_names_the_broken_file(tmp_path, name):
    posenc.run(TINY, output_dir=tmp_path / "r", plots=False)
    (tmp_path / "r" / name).write_bytes(b"\x00\xff garbage: [\n")
    with pytest.raises(RunFolderError, match=name) as err:
        posenc.load_run(tmp_path / "r")
    assert "\n" not in str(err.value)


def test_a_broken_metrics_json_reads_as_corrupt_everywhere(tmp_path):
    posenc.run(TINY, output_dir=tmp_path / "r", plots=False)
    (tmp_path / "r" / "metrics.json").write_text("{not json")
    assert posenc.load_run(tmp_path / "r").status == "corrupt"
    table = posenc.load_sweep(tmp_path)
    assert table["status"].tolist() == ["corrupt"] and "metrics.json" in table["error"][0]


def test_load_sweep_of_a_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        posenc.load_sweep(tmp_path / "nowhere")


def test_run_with_one_string_says_what_it_expected(tmp_path):
    with pytest.raises(TypeError, match="a list of strings"):
        posenc.run("trainer.epochs=1", output_dir=tmp_path / "r")
