"""Sweeps through Hydra's launchers (submitit local and a real one-node Slurm, Ray) and
posenc's Optuna sweeper give the same run folders and tables as the basic launcher."""

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra.errors import MissingConfigException

from posenc.config.compose import composition_error

from .conftest import read_metrics, run_cli, run_dirs, wait_for_history

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SWEEP = [
    "dataset.n_samples=64",
    "dataset.seq_len=6",
    "dataset.feature_dim=3",
    "trainer.epochs=2",
    "trainer.num_threads=1",
    "encoding=learnable",
    "encoding.max_len=6",
    "seed=0,1",
    "dataset.seq_len=6,8",  # the seq_len=8 jobs fail (the table is shorter): remote failures
]


def losses(sweep_dir):
    """Each job's overrides and its history without the wall-clock column."""
    out = {}
    for run in run_dirs(sweep_dir):
        key = (run / ".hydra" / "overrides.yaml").read_text()
        history = run / "history.csv"
        lines = history.read_bytes().splitlines() if history.exists() else []
        out[key] = (read_metrics(run)["status"], [line.rsplit(b",", 1)[0] for line in lines])
    return out


@pytest.fixture(scope="module")
def basic(tmp_path_factory):
    root = tmp_path_factory.mktemp("basic")
    result = run_cli(["-m", *SWEEP, "hydra.sweep.dir=S"], cwd=root)
    assert result.returncode == 1  # two jobs failed
    return root / "S"


def same_as_basic(basic, sweep_dir):
    assert losses(sweep_dir) == losses(basic)
    ours, theirs = (
        pd.read_csv(d / "results.csv").drop(  # when and how long: not results
            columns=["train_seconds", "started_at", "ended_at", "run"]
        )
        for d in (sweep_dir, basic)
    )
    pd.testing.assert_frame_equal(ours, theirs)


def test_submitit_local(basic, tmp_path):
    pytest.importorskip(
        "hydra_plugins.hydra_submitit_launcher", reason="posenc[slurm] not installed"
    )
    result = run_cli(
        ["-m", "hydra/launcher=submitit_local", *SWEEP, "hydra.sweep.dir=S"], cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr[-2000:]
    same_as_basic(basic, tmp_path / "S")


def slurm_up() -> str | None:
    """None when a Slurm node answers (started by scripts/slurm.sh if need be), else why not."""
    if shutil.which("sinfo") is None and shutil.which("apt-get") is None:
        return "no Slurm and no apt-get to install it"
    up = (
        subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
        if shutil.which("sinfo")
        else None
    )
    if up is None or up.returncode != 0 or not up.stdout.strip():
        start = subprocess.run(
            ["bash", str(REPO / "scripts" / "slurm.sh"), "start"], capture_output=True, text=True
        )
        if start.returncode != 0:
            return f"Slurm could not be started: {(start.stdout + start.stderr).strip()[-300:]}"
    return None


def test_submitit_slurm_on_a_real_cluster(basic, tmp_path):
    pytest.importorskip(
        "hydra_plugins.hydra_submitit_launcher", reason="posenc[slurm] not installed"
    )
    reason = slurm_up()
    if reason:
        pytest.skip(reason)
    args = [
        "-m",
        "hydra/launcher=slurm_cluster",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
    ]
    result = run_cli([*args, *SWEEP, "hydra.sweep.dir=S"], cwd=tmp_path, timeout=600)
    assert result.returncode == 1, result.stderr[-2000:]
    same_as_basic(basic, tmp_path / "S")
    assert list((tmp_path / "S" / ".submitit").iterdir())  # it went through Slurm


def test_ray_local(basic, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="posenc[ray] not installed")
    args = ["-m", "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2"]
    result = run_cli([*args, *SWEEP, "hydra.sweep.dir=S"], cwd=tmp_path, timeout=600)
    assert result.returncode == 1, result.stderr[-2000:]
    same_as_basic(basic, tmp_path / "S")


def test_a_launcher_that_is_not_installed_names_its_extra():
    error = composition_error(MissingConfigException("x", "hydra/launcher/ray", ["basic"]))
    assert error.key == "hydra/launcher" and "posenc[ray]" in str(error)
    assert "\n" not in str(error)


# ---------------------------------------------------------------- Optuna

STUDY = [
    "hydra/sweeper=optuna",
    "hydra.sweeper.n_jobs=2",
    "hydra.sweeper.sampler.seed=0",
    "optimizer=sgd",
    "optimizer.lr=choice(0.01,0.05,1e6)",  # 1e6 diverges: a failed trial, not a failed study
    "encoding=choice(none,learnable)",
    "dataset.n_samples=64",
    "dataset.seq_len=6",
    "dataset.feature_dim=3",
    "hydra.sweep.dir=S",
]


def study(folder):
    import optuna

    return optuna.load_study(study_name="posenc", storage=f"sqlite:///{folder}/optuna.db")


def test_an_optuna_study_runs_resumes_after_ctrl_c_and_compares(tmp_path):
    pytest.importorskip("optuna", reason="posenc[optuna] not installed")
    from optuna.trial import TrialState

    # cut short: Ctrl-C during the first batch
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "posenc.train",
            "-m",
            *STUDY,
            "trainer.epochs=100000",
            "hydra.sweeper.n_trials=20",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for_history(tmp_path / "S", rows=1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-2000:]
    assert [t.state for t in study(tmp_path / "S").trials] == [TrialState.RUNNING] * 2
    # the same command again resumes the study from its SQLite storage
    result = run_cli(["-m", *STUDY, "trainer.epochs=2", "hydra.sweeper.n_trials=20"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = study(tmp_path / "S").trials
    assert len(trials) == 20
    assert [t.state for t in trials[:2]] == [TrialState.FAIL] * 2  # cut short by Ctrl-C
    diverged = [t for t in trials[2:] if t.params["optimizer.lr"] == 1e6]
    assert diverged and all(t.state == TrialState.FAIL for t in diverged)
    assert all(t.state == TrialState.COMPLETE for t in trials[2:] if t not in diverged)
    best = study(tmp_path / "S").best_trial
    assert (tmp_path / "S" / "optimization_results.yaml").read_text().count(str(best.value)) == 1
    results = pd.read_csv(tmp_path / "S" / "results.csv")
    assert {"optimizer.lr", "encoding", "status"} <= set(results.columns)
    # a job folder per distinct configuration (6 here): a trial that repeats one reuses its
    # run, as a resumed sweep does
    tried = {(t.params["encoding"], float(t.params["optimizer.lr"])) for t in trials[2:]}
    cut_short = results["status"] == "interrupted"  # the first command's (trainer.epochs=1e5)
    assert 1 <= cut_short.sum() <= 2 and (~cut_short).sum() == len(tried) <= 6
    completed = results[results["status"] == "completed"]
    value = {
        (r["encoding"], r["optimizer.lr"]): r["final_val_loss"] for _, r in completed.iterrows()
    }
    for trial in trials[2:]:
        if trial.state == TrialState.COMPLETE:
            key = (trial.params["encoding"], float(trial.params["optimizer.lr"]))
            assert trial.value == pytest.approx(value[key])


def test_the_ready_search_runs_and_the_command_line_wins_over_its_params(tmp_path):
    pytest.importorskip("optuna", reason="posenc[optuna] not installed")
    args = ["-m", "hydra/sweeper=search_lr_encoding", "hydra.sweeper.n_trials=2"]
    result = run_cli(
        [*args, "trainer.epochs=1", "dataset.n_samples=64", "hydra.sweep.dir=S"], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = run_dirs(tmp_path / "S")
    assert len(runs) == 2 and all(read_metrics(r)["epochs_completed"] == 1 for r in runs)
    assert {t.params["encoding"] for t in study(tmp_path / "S").trials} <= {
        "none",
        "sinusoidal",
        "learnable",
        "linear",
    }


def test_a_sweep_knows_its_jobs_by_its_manifest_not_by_clocks(tmp_path):
    """Job folders older than the sweep (NFS clocks, other nodes) are still this sweep's:
    compared, resumed (reused, not retrained); a second grid into the same folder does not
    collide with the first, and the tables cover both."""
    pytest.importorskip(
        "hydra_plugins.hydra_submitit_launcher", reason="posenc[slurm] not installed"
    )
    import json
    import os
    import time

    tiny = [
        "dataset.n_samples=64",
        "dataset.seq_len=6",
        "dataset.feature_dim=3",
        "trainer.epochs=2",
        "trainer.num_threads=1",
    ]
    grid = ["-m", "hydra/launcher=submitit_local", *tiny, "hydra.sweep.dir=S"]
    first = run_cli([*grid, "encoding=none,sinusoidal"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    sweep = tmp_path / "S"
    day_ago = time.time() - 86_400
    for path in sweep.rglob("*"):
        os.utime(path, (day_ago, day_ago))
    histories = {p: p.stat().st_mtime_ns for p in sweep.rglob("history.csv")}
    assert len(histories) == 2

    again = run_cli([*grid, "encoding=none,sinusoidal"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {p: p.stat().st_mtime_ns for p in histories} == histories  # reused, not retrained
    results = pd.read_csv(sweep / "results.csv")
    assert sorted(results["encoding"]) == ["none", "sinusoidal"]
    assert set(results["status"]) == {"completed"}

    second_grid = run_cli([*grid, "encoding=learnable", "seed=0,1"], cwd=tmp_path)
    assert second_grid.returncode == 0, second_grid.stderr[-2000:]
    results = pd.read_csv(sweep / "results.csv")
    assert len(results) == 4 and len(set(results["run"])) == 4  # no folder written twice
    assert sorted(results["encoding"]) == ["learnable", "learnable", "none", "sinusoidal"]
    manifest = [json.loads(line) for line in (sweep / "manifest.jsonl").read_text().splitlines()]
    assert [e["claim"] for e in manifest] == ["new", "new", "reuse", "reuse", "new", "new"]


def test_zero_parallel_jobs_is_one_line_before_any_job(tmp_path):
    out = run_cli(
        [
            "-m",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=0",
            "trainer.epochs=1",
            "seed=0,1",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        cwd=tmp_path,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert (
        lines[-1].startswith("hydra.launcher.n_jobs: 0 runs no job")
        and "Traceback" not in out.stderr
    )
    assert not list(tmp_path.rglob("run.yaml"))
