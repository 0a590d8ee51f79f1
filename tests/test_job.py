"""Jobs run in-process: the run folder contract, determinism, faults."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from posenc.errors import ConfigError
from posenc.jobs.kinds import declared

from .conftest import read_metrics, run_inprocess

METRIC_KEYS = {
    "status",
    "dataset",
    "encoding",
    "model",
    "optimizer",
    "seed",
    "final_train_loss",
    "final_val_loss",
    "test_loss",
    "best_val_loss",
    "n_params",
    "train_seconds",
    "device",
}


@pytest.mark.parametrize("encoding", ["none", "sinusoidal", "learnable", "linear"])
def test_run_folder_contract(tmp_path, tiny, encoding):
    metrics = run_inprocess(tmp_path, [*tiny, f"encoding={encoding}", "model=lstm"])
    on_disk = read_metrics(tmp_path)
    assert on_disk == json.loads(json.dumps(metrics))
    assert METRIC_KEYS <= on_disk.keys() and "error" not in on_disk
    assert on_disk["status"] == "completed" and on_disk["encoding"] == encoding
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history.columns[:4]) == ["epoch", "train_loss", "val_loss", "seconds"]
    assert history["epoch"].tolist() == [1, 2]
    assert on_disk["final_val_loss"] == history["val_loss"].iloc[-1]
    assert on_disk["best_val_loss"] == history["val_loss"].min()
    tables = [tmp_path / "encoding_initial.npy", tmp_path / "encoding_final.npy"]
    if encoding == "none":
        assert not any(p.exists() for p in tables)
    else:
        initial, final = (np.load(p) for p in tables)
        assert initial.dtype == final.dtype == np.float32
        assert initial.shape == final.shape == (6, 3)  # [positions, dim]
        changed = not np.array_equal(initial, final)
        assert changed == (encoding in ("learnable", "linear"))
    assert not (tmp_path / "metrics.json.tmp").exists()
    record = yaml.safe_load((tmp_path / "run.yaml").read_text())
    assert record["choices"]["encoding"] == encoding and record["config"]["seed"] == 0
    assert f"encoding={encoding}" in record["overrides"]


def test_d_model_sets_the_table_width(tmp_path, tiny):
    run_inprocess(tmp_path, [*tiny, "encoding=learnable", "model.d_model=8"])
    assert np.load(tmp_path / "encoding_final.npy").shape == (6, 8)


def loss_bytes(run_dir):
    """history.csv's bytes without the wall-clock `seconds` column."""
    lines = (run_dir / "history.csv").read_bytes().splitlines()
    return b"\n".join(line.rsplit(b",", 1)[0] for line in lines)


def test_same_seed_same_history_bytes_other_seed_differs(tmp_path, tiny):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        run_inprocess(tmp_path / name, [*tiny, "encoding=learnable", f"seed={seed}"])
    a, b, c = (loss_bytes(tmp_path / name) for name in "abc")
    assert a == b and a != c
    assert a.startswith(b"epoch,train_loss,val_loss\n1,")


def test_divergence_is_a_result(tmp_path, tiny):
    metrics = run_inprocess(
        tmp_path, [*tiny, "model=linear", "optimizer=sgd", "optimizer.lr=1e6", "trainer.epochs=5"]
    )
    assert metrics["status"] == "diverged"
    history = pd.read_csv(tmp_path / "history.csv")
    last = history.iloc[-1]
    assert 1 <= len(history) < 5
    assert not (np.isfinite(last["train_loss"]) and np.isfinite(last["val_loss"]))
    on_disk = read_metrics(tmp_path)  # valid JSON: non-finite losses become null
    assert on_disk["status"] == "diverged" and on_disk["test_loss"] is None
    assert "non-finite" in on_disk["error"]


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["optimizer.lr=0"], "optimizer.lr"),
        (["trainer.epochs=0"], "trainer.epochs"),
        (["trainer.batch_size=0"], "trainer.batch_size"),
        (["dataset.seq_len=0"], "dataset.seq_len"),
        (["dataset.val_fraction=0.001"], "dataset.val_fraction"),
        (["dataset.test_fraction=0.001"], "dataset.test_fraction"),
        (["model.d_model=0"], "model.d_model"),
        (["encoding=learnable", "encoding.max_len=3"], "encoding.max_len"),
        (["encoding=linear", "encoding.max_len=3"], "encoding.max_len"),
        (["encoding.combine=multiply"], "encoding.combine"),
        (["encoding=learnable", "encoding.init=uniform"], "encoding.init"),
        (["model=linear", "model.readout=max"], "model.readout"),
        (["model=tanh_ffn", "model.activation=gelu"], "model.activation"),
        (["dataset.target=bogus"], "dataset.target"),
    ],
)
def test_bad_values_stop_before_training(tmp_path, tiny, overrides, key):
    with pytest.raises(ConfigError) as err:
        run_inprocess(tmp_path, [*tiny, *overrides])
    assert err.value.key == key
    assert not (tmp_path / "history.csv").exists()  # nothing trained
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "failed" and key in metrics["error"]


def test_all_frozen_is_refused(tmp_path, tiny):
    with pytest.raises(ConfigError, match="nothing left to train"):
        run_inprocess(tmp_path, [*tiny, "encoding=none", "model=linear", "model.freeze_head=true"])


def explode(**kwargs):
    raise RuntimeError("the dataset broke")


def test_an_unexpected_error_fails_the_job_with_its_reason(tmp_path, tiny):
    with pytest.raises(RuntimeError, match="broke"):
        run_inprocess(tmp_path, [*tiny, f"dataset._target_={__name__}.explode"])
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "failed"
    assert metrics["error"] == "RuntimeError: the dataset broke"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the run is valid")
def test_cuda_without_cuda_is_refused(tmp_path, tiny):
    with pytest.raises(ConfigError, match="no CUDA device") as err:
        run_inprocess(tmp_path, [*tiny, "trainer.device=cuda"])
    assert err.value.key == "trainer.device"


def test_a_full_disk_fails_the_run_with_whole_history_rows(tmp_path, tiny, monkeypatch):
    """The disk fills up while epoch 2's row is written: the row is cut back, the run ends
    failed saying so, and no temporary file is left."""
    import errno

    from posenc.store import run_folder

    class FillingDisk:
        """The real file, until the disk fills up halfway through the third write."""

        def __init__(self, file):
            self.file, self.calls = file, 0

        def write(self, data):
            self.calls += 1
            if self.calls == 3:  # header, epoch 1, then epoch 2 half-written
                self.file.write(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.file.write(data)

        def __getattr__(self, name):
            return getattr(self.file, name)

    def init(self, path, columns=declared.REGRESSION.history, after=None):
        self._file = FillingDisk(open(path, "wb", buffering=0))
        self.path, self.columns = path, declared.REGRESSION.history
        self._write(",".join(declared.REGRESSION.history) + "\n")

    monkeypatch.setattr(run_folder.HistoryWriter, "__init__", init)
    from posenc.jobs.record import DiskFull

    with pytest.raises(DiskFull, match="disk is full"):
        run_inprocess(tmp_path, [*tiny, "trainer.epochs=3"])
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("1,") and lines[1].count(",") == 3
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "failed" and "disk is full" in metrics["error"]
    assert not (tmp_path / "metrics.json.tmp").exists()


def test_run_yaml_records_the_environment(tmp_path):
    import sys

    import torch

    from posenc.store import run_folder as rf

    run_inprocess(tmp_path, ["trainer.epochs=1", "dataset.n_samples=40"])
    env = rf.read_record(tmp_path)["environment"]
    assert env["torch"] == str(torch.__version__) and env["python"] == sys.version.split()[0]
    assert env["posenc"] and env["device"] == "auto" and env["cpu_count"] >= 1
    assert env["git_commit"] is None or len(env["git_commit"].split("+")[0]) == 40


def test_a_crash_before_the_record_is_logged(tmp_path, monkeypatch, caplog):
    import posenc.jobs.job

    def broken(*args, **kwargs):
        raise RuntimeError("cannot write the record")

    monkeypatch.setattr(posenc.jobs.job, "start_record", broken)
    with pytest.raises(RuntimeError):
        run_inprocess(tmp_path, ["trainer.epochs=1"])
    assert "job failed before it started" in caplog.text
    assert "cannot write the record" in caplog.text
