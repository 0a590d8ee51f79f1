"""Issue 21, sections 3 to 6: no hang on a tracker that is down, exports whole or absent,
nothing leaks, and one line (exit 2) for every mistake on the newer surfaces: Optuna,
sizes that cannot fit, files, compare and plot on broken folders, the sweep lock, the
Python API. Table-driven where the cases share a shape."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

import posenc
from posenc.errors import ConfigError
from posenc.store import run_folder as rf
from posenc.store import run_lock
from posenc.store.history import read_history
from tests.conftest import run_cli, run_inprocess


def one_line(result: subprocess.CompletedProcess) -> str:
    """The last thing said, checked to be said without a traceback."""
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[-1]


# ------------------------------------------------------------------ Optuna (§6)


def distribution_of(line: str):
    from hydra_plugins.posenc_sweepers.optuna_sweeper import distribution

    (override,) = OverridesParser.create().parse_overrides([line])
    return distribution(override)


@pytest.mark.parametrize(
    "line, says",
    [
        ("optimizer.lr=tag(log,interval(0,0.1))", "a log interval must start above 0"),
        ("optimizer.lr=interval(0.1,0.01)", "is reversed"),
        ("optimizer.lr=glob(*)", "is not a search space"),
    ],
)
def test_a_search_space_optuna_cannot_sample_is_one_line_naming_the_key(line, says):
    with pytest.raises(ConfigError, match=f"^optimizer.lr: .*{says}"):
        distribution_of(line)


def test_good_search_spaces_still_map_as_the_official_plugin():
    assert distribution_of("optimizer.lr=tag(log,interval(0.001,0.1))").log
    ints = distribution_of("model.hidden_dim=range(8,32,step=8)")  # ordered, its step kept
    assert (ints.low, ints.high, ints.step) == (8, 24, 8)
    floats = distribution_of("optimizer.lr=range(0.001,0.01,step=0.001)")
    assert (floats.low, floats.high, floats.step) == (0.001, 0.009, 0.001)
    assert distribution_of("encoding=choice(none,rope)").choices == ("none", "rope")


@pytest.mark.parametrize(
    "keys, key",
    [
        ({"n_trials": 0}, "hydra.sweeper.n_trials"),
        ({"direction": "bogus"}, "hydra.sweeper.direction"),
        ({"direction": ["minimize", "upwards"]}, "hydra.sweeper.direction"),
        ({"max_failure_rate": 2.0}, "hydra.sweeper.max_failure_rate"),
    ],
)
def test_the_sweepers_own_keys_are_checked(keys, key):
    from hydra_plugins.posenc_sweepers.optuna_sweeper import OptunaSweeper

    with pytest.raises(ConfigError, match=f"^{key}: "):
        OptunaSweeper(**keys).check()


@pytest.mark.parametrize(
    "storage, says",
    [
        ("redis://localhost", "not a storage Optuna can use"),
        ("sqlite:///{tmp}/corrupt.db", "is not a SQLite database"),
        ("sqlite:///{tmp}/afile/optuna.db", "is not a folder this process can write"),
        ("sqlite:///{tmp}", "is not a regular file"),
    ],
)
def test_a_storage_that_cannot_hold_a_study_is_one_line(tmp_path, storage, says):
    from hydra_plugins.posenc_sweepers.optuna_sweeper import check_storage

    (tmp_path / "corrupt.db").write_text("not a database")
    (tmp_path / "afile").write_text("a file, not a folder")
    with pytest.raises(ConfigError, match=f"^hydra.sweeper.storage: .*{says}"):
        check_storage(storage.format(tmp=tmp_path))
    check_storage(f"sqlite:///{tmp_path}/new.db")  # a new file in a folder: fine


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides, key",
    [
        (["optimizer.lr=tag(log,interval(0,0.1))"], "optimizer.lr"),
        (["optimizer.lr=interval(0.1,0.01)"], "optimizer.lr"),
        (["optimizer.lr=glob(*)"], "optimizer.lr"),
        (["hydra.sweeper.direction=bogus"], "hydra.sweeper.direction"),
        (["hydra.sweeper.storage=sqlite:////proc/no/optuna.db"], "hydra.sweeper.storage"),
        (["hydra.sweeper.storage=redis://x"], "hydra.sweeper.storage"),
        (["hydra.sweeper.sampler._target_=bogus.Sampler"], "hydra.sweeper.sampler"),
        (["hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials"),
        (["hydra.sweeper.storage=sqlite:///{tmp}/corrupt.db"], "hydra.sweeper.storage"),
    ],
)
def test_optuna_mistakes_on_the_command_line(tmp_path, tiny, overrides, key):
    (tmp_path / "corrupt.db").write_text("not a database")
    sweep = tmp_path / "sweep"
    args = [o.format(tmp=tmp_path) for o in overrides]
    if not any(a.startswith("optimizer.lr=") for a in args):
        args.append("optimizer.lr=interval(0.001,0.01)")
    result = run_cli(
        [
            "-m",
            *tiny,
            "hydra/sweeper=optuna",
            "hydra.sweeper.n_trials=1",
            *args,
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert one_line(result).startswith(f"{key}: ")
    from posenc.store.sweep_folder import LOCK

    assert not (sweep / LOCK).exists()  # the folder is free again
    assert not list(sweep.glob("*/run.yaml"))  # no trial ran


# ------------------------------------------------------------------ sizes (§6)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["dataset.n_samples=10000000000"], "dataset.n_samples"),
        (["dataset.seq_len=10000000"], "dataset.seq_len"),
        (["encoding.max_len=1000000000"], "encoding.max_len"),
        (
            ["model=transformer", "encoding=fire", "encoding.hidden_dim=100000000"],
            "encoding.hidden_dim",
        ),
        (["encoding.randomize=true", "encoding.max_position=1000000000"], "encoding.max_position"),
        (["eval.lengths=[1000000000]"], "eval.lengths"),
        (["model=transformer", "eval.lengths=[200000]"], "eval.lengths"),
        (
            ["model=transformer", "encoding=relative", "encoding.num_buckets=1000000000"],
            "encoding.max_distance",
        ),
        (["model=transformer", "encoding=relative", "encoding.std=-1"], "encoding.std"),
        (["model=transformer", "encoding=relative", "encoding.std=nan"], "encoding.std"),
        (["optimizer.lr=1e999999999999999999999999999999"], "optimizer.lr"),
    ],
)
@pytest.mark.slow
def test_sizes_that_cannot_fit_are_refused_with_the_key_and_the_estimate(tmp_path, overrides, key):
    with pytest.raises(ConfigError, match=f"^{key}: ") as e:
        run_inprocess(tmp_path, ["trainer.epochs=1", *overrides])
    if "needs about" in str(e.value):
        assert "of memory this machine has free" in str(e.value)
    assert not (tmp_path / rf.HISTORY).exists()  # refused before training


@pytest.mark.parametrize(
    "overrides, says",
    [
        (["dataset=window", "dataset.window=1000000000"], "^dataset.window: 1000000000 is longer"),
        (["dataset=lag", "dataset.lag=20"], "^dataset.lag: 20 is not below dataset.seq_len 20"),
    ],
)
def test_a_rule_whose_targets_carry_nothing_is_refused_before_training(tmp_path, overrides, says):
    # round four: a window of 1e9 ran "without a word", every target near 0
    with pytest.raises(ConfigError, match=says):
        run_inprocess(tmp_path, [*overrides, "trainer.epochs=1"])
    assert not (tmp_path / rf.HISTORY).exists()


@pytest.mark.slow
def test_an_allocation_that_still_fails_is_one_line_and_failed(tmp_path, monkeypatch):
    from posenc.jobs.kinds import Kind

    def out_of_memory(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't "
            "allocate memory: you tried to allocate 8000000000000 bytes."
        )

    monkeypatch.setattr(Kind, "evaluate_lengths", out_of_memory)
    with pytest.raises(RuntimeError):
        run_inprocess(tmp_path, ["trainer.epochs=1", "eval.lengths=[30]"])
    metrics = rf.read_metrics(tmp_path)
    assert metrics["status"] == "failed" and metrics["failed_step"] == "length_eval"
    assert metrics["error"].startswith("out of memory at step length_eval: ")
    log = (tmp_path / "train.log").read_text() if (tmp_path / "train.log").exists() else ""
    assert "Traceback" not in log


# ------------------------------------------------------------------ files (§6)


def test_a_vectors_file_that_is_not_a_regular_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="^dataset.vectors: /dev/zero is not a regular file"):
        run_inprocess(tmp_path, ["dataset=glove_words", "dataset.vectors=/dev/zero"])


def test_a_file_name_too_long_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="^output_dir: cannot (use|create) .*File name too long"):
        posenc.run(["trainer.epochs=1"], output_dir=tmp_path / ("x" * 300))


@pytest.mark.slow
def test_a_run_folder_that_cannot_be_written_is_refused_untouched(tmp_path, monkeypatch):
    run_inprocess(tmp_path, ["trainer.epochs=1"])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    monkeypatch.setattr(rf.os, "access", lambda path, mode: False)  # as a read-only mount
    with pytest.raises(FileExistsError, match="cannot be written .*nothing was changed"):
        posenc.run(["trainer.epochs=2", "overwrite=true"], output_dir=tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


# ------------------------------------------------------------------ compare and plot (§6)


def make_runs(root: Path, n: int = 4) -> list[Path]:
    runs = []
    for seed in range(n):
        run = root / f"r{seed}"
        run_inprocess(run, ["trainer.epochs=2", "dataset.n_samples=64", f"seed={seed}"])
        runs.append(run)
    return runs


def edit_metrics(folder: Path, values: dict) -> None:
    metrics = json.loads((folder / rf.METRICS).read_text())
    metrics.update(values)
    (folder / rf.METRICS).write_text(json.dumps(metrics))


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"test_loss@abc": 1.0}, "'test_loss@abc' is not family@length"),
        ({"seq_len": "twenty"}, "seq_len is 'twenty', not a number"),
        ({"run": "evil"}, "'run' is reserved"),
        ({"final_val_loss": "low"}, "final_val_loss is 'low', not a number"),
    ],
)
@pytest.mark.slow
def test_a_malformed_run_is_corrupt_with_the_reason_and_the_rest_stands(tmp_path, change, reason):
    from posenc.analysis.comparison import format_summary, load_results, summarize

    runs = make_runs(tmp_path, 3)
    edit_metrics(runs[0], change)
    results = load_results([tmp_path]).set_index("run")
    assert results.loc["r0", "status"] == "corrupt"
    assert reason in results.loc["r0", "error"]
    assert (results.loc[["r1", "r2"], "status"] == "completed").all()
    assert "evil" not in results.index
    summary = summarize(results.reset_index())
    assert int(summary["n_completed"].iloc[0]) == 2
    text = format_summary(tmp_path, results.reset_index(), summary)
    assert "not in the means:" in text and reason in text


@pytest.mark.parametrize(
    "rows, says",
    [(["1,0.5,0.5,0.1", "1,0.4,0.4,0.1"], "epoch 1 twice"), (["x,0.5,0.5,0.1"], "not a number")],
)
@pytest.mark.slow
def test_a_history_with_bad_epochs_is_broken_and_draws_no_curve(tmp_path, rows, says, caplog):
    from posenc.analysis.plots import _val_curve

    (run,) = make_runs(tmp_path, 1)
    (run / rf.HISTORY).write_text("epoch,train_loss,val_loss,seconds\n" + "\n".join(rows) + "\n")
    with pytest.raises(rf.RunFolderError, match=says):
        read_history(run)
    assert _val_curve(run) is None
    assert says in caplog.text


@pytest.mark.slow
def test_compare_on_a_folder_it_cannot_write_prints_the_tables_and_says_so(tmp_path, capsys):
    from posenc.cli.compare import main

    make_runs(tmp_path, 2)
    (tmp_path / "summary.csv").mkdir()  # as a folder that refuses the write
    code = main([str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "2 runs in" in out and "final_val_loss" in out  # the table was printed
    assert "could not write to" in err and "the tables above were not saved" in err


# ------------------------------------------------------------------ the sweep lock (§6)


@pytest.mark.parametrize("content", ["", "garbage{", '{"pid": "x"}', "[]"])
def test_an_empty_or_garbled_lock_names_the_file_and_how_to_clear_it(tmp_path, content):
    from posenc.store.sweep_folder import LOCK, Sweep

    (tmp_path / LOCK).write_text(content)
    with pytest.raises(ConfigError, match=f"^hydra.sweep.dir: the lock file .*{LOCK} is empty"):
        Sweep.begin(tmp_path)
    with pytest.raises(ConfigError, match="rm '"):
        Sweep.begin(tmp_path)


def test_a_lock_naming_a_live_process_that_is_not_a_sweep_says_so(tmp_path):
    import socket

    from posenc.store.sweep_folder import LOCK, Sweep

    other = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / LOCK).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname()}))
        with pytest.raises(ConfigError, match="a live process that is not a posenc sweep"):
            Sweep.begin(tmp_path)
    finally:
        other.kill()
        other.wait()
    Sweep.begin(tmp_path).end()  # now dead: the lock is taken over


@pytest.mark.slow
def test_a_subdir_that_leaves_the_sweep_folder_is_refused(tmp_path, tiny):
    sweep = tmp_path / "inner" / "sweep"
    result = run_cli(
        [
            "-m",
            *tiny,
            "seed=0,1",
            f"hydra.sweep.dir={sweep}",
            "hydra.sweep.subdir=../../escape${hydra.job.num}",
        ],
        tmp_path,
    )
    assert result.returncode == 2
    assert one_line(result).startswith("hydra.sweep.subdir: ")
    assert not list(tmp_path.glob("escape*")) and not list(tmp_path.rglob("run.yaml"))


# ------------------------------------------------------------------ the Python API (§6)


@pytest.mark.parametrize(
    "overrides, says",
    [
        ({"seed": "["}, "^seed: cannot read the override 'seed=\\[': no viable alternative"),
        ([1, 2], "^overrides: 1 is not a 'key=value' string"),
        (["trainer.epochs=${oc.env:HOME}"], "^trainer.epochs: .*could not be converted"),
        (["trainer.epochs=${oc.env:POSENC_NO_SUCH_VARIABLE}"], "^trainer.epochs: .*not found"),
        (["seed=" + "1" * 5000], "^seed: a number too long to read"),
    ],
)
def test_python_api_mistakes_are_config_errors(tmp_path, overrides, says):
    with pytest.raises(ConfigError, match=says):
        posenc.run(overrides, output_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_load_run_never_unpickles_a_table(tmp_path):
    run_inprocess(tmp_path, ["trainer.epochs=1", "encoding=learnable"])
    np.save(tmp_path / rf.ENCODING_FINAL, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(rf.RunFolderError, match="encoding_final.npy is broken"):
        posenc.load_run(tmp_path)


# ------------------------------------------------------------------ credentials (§5)


SECRET = "http://alice:s3cret@127.0.0.1:9"


def test_credentials_in_the_tracking_uri_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="^tracking_uri: holds credentials .*MLFLOW_TRACKING"):
        posenc.run(["tracking=mlflow", f"tracking_uri={SECRET}"], output_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_credentials_never_reach_a_run_or_sweep_folder(tmp_path, tiny):
    for mode in ([], ["-m", "seed=0,1"]):
        where = tmp_path / ("sweep" if mode else "run")
        key = "hydra.sweep.dir" if mode else "hydra.run.dir"
        result = run_cli(
            [*mode, *tiny, "tracking=mlflow", f"tracking_uri={SECRET}", f"{key}={where}"],
            tmp_path,
        )
        assert result.returncode == 2
        assert one_line(result).startswith("tracking_uri: holds credentials")
        assert "s3cret" not in result.stderr + result.stdout
        for path in tmp_path.rglob("*"):
            assert not path.is_file() or b"s3cret" not in path.read_bytes()


# ------------------------------------------------------------------ a tracker that is down (§3)


@pytest.mark.slow
def test_a_dead_tracker_costs_seconds_and_one_line_before_training(tmp_path, tiny):
    # the generous subprocess timeout guards against a hang; nothing asserts a speed
    run = tmp_path / "run"
    result = run_cli(
        [
            *tiny,
            "tracking=mlflow",
            "tracking_uri=http://127.0.0.1:9",
            "tracking_timeout=2",
            f"hydra.run.dir={run}",
        ],
        tmp_path,
        timeout=240,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    said = result.stderr.strip().splitlines()[-1]  # refused before the folder is claimed
    assert said.endswith("tracking_uri: http://127.0.0.1:9 did not answer within 2s "
                         "(connection refused); start the server, or raise tracking_timeout "
                         "(--timeout)")  # fmt: skip
    assert "Retrying" not in result.stdout  # urllib3's retries are not the user's business
    assert not (run / rf.HISTORY).exists()  # said before training
    export = subprocess.run(
        [
            sys.executable,
            "-m",
            "posenc.export",
            "mlflow",
            str(tmp_path),
            "--tracking-uri",
            "http://127.0.0.1:9",
            "--timeout",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert export.returncode == 2
    assert one_line(export).startswith("tracking_uri: http://127.0.0.1:9 did not answer")
    unknown = subprocess.run(
        [sys.executable, "-m", "posenc.export", "mlflow", str(tmp_path),
         "--tracking-uri", "bogus://x"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert unknown.returncode == 2
    assert one_line(unknown).startswith("tracking_uri: 'bogus://x': posenc exports to")


@pytest.mark.parametrize(
    "uri, says",
    [
        ("bogus://somewhere", "posenc exports to sqlite:///"),
        ("sqlite:///{tmp}/afile/mlflow.db", "cannot be created or written"),
        ("sqlite:///{tmp}/notadb.db", "is not a SQLite database"),
        (SECRET, "holds credentials"),
    ],
)
def test_a_store_that_cannot_be_written_is_one_line(tmp_path, uri, says):
    from posenc.store.tracking import check_store

    (tmp_path / "afile").write_text("a file")
    (tmp_path / "notadb.db").write_text("text")
    with pytest.raises(ConfigError, match=f"^tracking_uri: .*{says}"):
        check_store(uri.format(tmp=tmp_path), timeout=1)


# ------------------------------------------------------------------ exports whole or absent (§4)


@pytest.mark.slow
def test_an_export_cut_short_is_repaired_by_the_next(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from posenc.store import tracking

    runs = make_runs(tmp_path / "sweep", 2)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    calls = {"n": 0}
    original = MlflowClient.log_artifact

    def ctrl_c_on_the_third_file(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_artifact", ctrl_c_on_the_third_file)
    with pytest.raises(KeyboardInterrupt):
        tracking.export_mlflow([tmp_path / "sweep"], uri)
    monkeypatch.setattr(MlflowClient, "log_artifact", original)
    client = MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    (partial,) = client.search_runs(experiments)  # cut short in the first run's files
    assert tracking.FINGERPRINT_TAG not in partial.data.tags  # never marked exported
    counts = tracking.export_mlflow([tmp_path / "sweep"], uri)
    assert counts["updated"] + counts["created"] == len(runs) and counts["unchanged"] == 0
    assert tracking.export_mlflow([tmp_path / "sweep"], uri)["unchanged"] == len(runs)
    exported = client.search_runs(experiments)
    assert len(exported) == len(runs)
    assert all(r.data.tags.get(tracking.FINGERPRINT_TAG) for r in exported)


@pytest.mark.slow
def test_two_exports_into_a_new_store_at_once_both_succeed(tmp_path):
    for name in ("a", "b"):
        make_runs(tmp_path / name, 1)
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    command = [sys.executable, "-m", "posenc.export", "mlflow", "--tracking-uri", uri]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    both = [
        subprocess.Popen(
            [*command, str(tmp_path / name)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("a", "b")
    ]
    outcomes = [p.communicate(timeout=300) for p in both]
    for process, (out, err) in zip(both, outcomes, strict=True):
        assert process.returncode == 0, err
        assert "1 created" in out


# ================================================================== round four (issue 34)
# ------------------------------------------------------------------ one run per folder (§1)


def test_a_run_folder_held_by_one_process_is_refused_to_another_naming_it(tmp_path):
    import multiprocessing

    with run_lock.held(tmp_path):
        # another process (flock is per open file, so a child sees the lock as a stranger)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            said = pool.apply(_try_to_hold, (str(tmp_path),))
        assert said.startswith(f"{tmp_path} is in use by another run (pid {os.getpid()} on ")
        assert said.endswith("nothing was changed")
    assert not (tmp_path / run_lock.RUN_LOCK).exists()  # released, and the folder as it was
    with run_lock.held(tmp_path):  # free again
        pass


def _try_to_hold(folder: str) -> str:
    try:
        with run_lock.held(Path(folder)):
            return "held"
    except run_lock.RunFolderTaken as e:
        return str(e)


@pytest.mark.slow
def test_single_runs_started_together_into_one_folder_never_mix(tmp_path, tiny):
    """Pairs of single runs of two seeds started at the same moment into one folder: the
    folder ends holding one run whole (run.yaml and metrics.json of the same seed), and a
    process that lost says so in one line."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    for pair in range(4):
        folder = tmp_path / f"run{pair}"
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "posenc.train",
                    *tiny,
                    f"seed={seed}",
                    f"hydra.run.dir={folder}",
                ],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for seed in (0, 1)
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        codes = [p.returncode for p in procs]
        assert 0 in codes, outs
        for code, (_, err) in zip(codes, outs, strict=True):
            if code != 0:
                assert code == 2 and "Traceback" not in err
                assert ("is in use by another run" in err) or ("another config" in err), err
        metrics = json.loads((folder / rf.METRICS).read_text())
        assert metrics["status"] == "completed"
        assert rf.read_record(folder)["config"]["seed"] == metrics["seed"]
        assert not (folder / run_lock.RUN_LOCK).exists()


# ------------------------------------------------------------------ nothing cleared first (§2)


@pytest.mark.parametrize(
    "name", [rf.CHECKPOINT, rf.HISTORY, "loss.png", f".{rf.CHECKPOINT}.partial"]
)
def test_a_folder_where_a_file_goes_is_refused_before_anything_is_cleared(tmp_path, name):
    run_inprocess(tmp_path, ["trainer.epochs=1"])
    (tmp_path / name).unlink(missing_ok=True)
    (tmp_path / name).mkdir()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(FileExistsError, match=f"{name} is a folder .*nothing was changed"):
        posenc.run(["trainer.epochs=2", "overwrite=true"], output_dir=tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


# ------------------------------------------------------------------ broken checkpoints (§3)

TEXT = [
    "dataset=text",
    "dataset.seq_len=16",
    "dataset.val_fraction=0.1",
    "dataset.test_fraction=0.1",
    "model=lstm",
    "model.hidden_dim=16",
    "encoding=none",
    "trainer.steps=20",
    "trainer.eval_every=10",
    "trainer.checkpoint_every=10",
    "trainer.batch_size=8",
    "plots=false",
]


@pytest.fixture(scope="module")
def interrupted_text_run(tmp_path_factory) -> tuple[Path, list[str]]:
    """A text run stopped after its checkpoint at step 10: what continuing starts from."""
    root = tmp_path_factory.mktemp("interrupted")
    corpus = root / "corpus.txt"
    corpus.write_text("to be or not to be that is the question\n" * 60, encoding="utf-8")
    overrides = [*TEXT, f"dataset.path={corpus}"]
    run = root / "run"
    run_inprocess(run, overrides)
    metrics = json.loads((run / rf.METRICS).read_text())
    metrics.update(status="interrupted", error="terminated (SIGTERM)")
    (run / rf.METRICS).write_text(json.dumps(metrics))
    return run, overrides


class Payload:
    """A pickle that would run a command on load: the marker proves it never ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _wrong_shapes(path: Path) -> None:
    import torch

    payload = torch.load(path, weights_only=True)
    name = next(k for k in payload["model"] if k.endswith("bias"))
    payload["model"][name] = torch.zeros(3)
    torch.save(payload, path)


def _break(path: Path, how: str, marker: Path) -> None:
    import pickle

    import torch

    if how == "random bytes":
        path.write_bytes(os.urandom(600))
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "a foreign dict":
        torch.save({"weights": torch.zeros(2)}, path)
    elif how == "wrong shapes":
        _wrong_shapes(path)
    elif how == "a pickle payload":
        path.write_bytes(pickle.dumps(Payload(marker)))
    elif how == "a payload through torch.save":
        torch.save({"model": Payload(marker)}, path)


BROKEN = {
    "random bytes": "is not a checkpoint .* nothing in it ran",
    "truncated": "is truncated or damaged",
    "empty": "is truncated or damaged",
    "a foreign dict": "is not a posenc checkpoint: it lacks",
    "wrong shapes": "does not fit this model",
    "a pickle payload": "is not a checkpoint .* nothing in it ran",  # protocol 5: unread
    "a payload through torch.save": "holds a Python object .* nothing in it ran",
}


@pytest.mark.slow
@pytest.mark.parametrize("how", list(BROKEN))
def test_a_checkpoint_that_cannot_be_read_is_one_line_and_the_run_is_kept(
    tmp_path, interrupted_text_run, how
):
    import shutil

    source, overrides = interrupted_text_run
    run = tmp_path / "run"
    shutil.copytree(source, run)
    marker = tmp_path / "PAYLOAD_RAN"
    _break(run / rf.CHECKPOINT, how, marker)
    kept = {n: (run / n).read_bytes() for n in (rf.METRICS, rf.HISTORY, rf.CHECKPOINT)}
    with pytest.raises(ConfigError) as e:
        posenc.run(overrides, output_dir=run)
    said = str(e.value)
    assert "\n" not in said and "weights_only" not in said
    assert re.match(f"^{re.escape(str(run / rf.CHECKPOINT))}: {BROKEN[how]}", said), said
    assert said.endswith("resume=false starts it over, overwrite=true replaces it")
    assert {n: (run / n).read_bytes() for n in kept} == kept  # the interrupted run, as it was
    assert not marker.exists()
    # posenc.sample on the same file: the same line, no traceback
    from posenc.jobs.sampling import load_text_model

    with pytest.raises(ConfigError, match=f"^{re.escape(str(run / rf.CHECKPOINT))}: {BROKEN[how]}"):
        load_text_model(run)
    assert not marker.exists()


@pytest.mark.slow
def test_a_garbage_history_row_is_one_line_and_the_run_is_kept(tmp_path, interrupted_text_run):
    import shutil

    source, overrides = interrupted_text_run
    run = tmp_path / "run"
    shutil.copytree(source, run)
    with open(run / rf.HISTORY, "a") as f:
        f.write("garbage,1,2,3,4,5,6,7\n")
    kept = (run / rf.HISTORY).read_bytes()
    with pytest.raises(
        ConfigError,
        match=f"^{re.escape(str(run / rf.HISTORY))}: line 4 holds a step that is not a "
        "number \\('garbage'\\); the interrupted run is kept",
    ):
        posenc.run(overrides, output_dir=run)
    assert (run / rf.HISTORY).read_bytes() == kept
    assert json.loads((run / rf.METRICS).read_text())["status"] == "interrupted"


@pytest.mark.slow
def test_a_broken_checkpoint_on_the_command_line_is_one_line_exit_2(tmp_path, interrupted_text_run):
    import shutil

    source, overrides = interrupted_text_run
    run = tmp_path / "run"
    shutil.copytree(source, run)
    marker = tmp_path / "PAYLOAD_RAN"
    _break(run / rf.CHECKPOINT, "a payload through torch.save", marker)
    result = run_cli([*overrides, f"hydra.run.dir={run}"], tmp_path)
    assert result.returncode == 2
    out = result.stdout + result.stderr
    assert "Traceback" not in out and "weights_only" not in out and not marker.exists()
    sampled = subprocess.run(
        [sys.executable, "-m", "posenc.sample", str(run), "--prompt", "to"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sampled.returncode == 2
    assert sampled.stderr.strip().splitlines()[-1].endswith("nothing in it ran")
    assert "Traceback" not in sampled.stderr and "weights_only" not in sampled.stderr


# ------------------------------------------------------------------ posenc.sample's edges (§7)


@pytest.mark.slow
def test_sample_edges_are_one_line(tmp_path, interrupted_text_run):
    import shutil

    from posenc.jobs.sampling import generate, load_text_model

    source, _ = interrupted_text_run
    run = tmp_path / "run"
    shutil.copytree(source, run)
    model = load_text_model(run)
    # a temperature so small that logits / temperature overflows: the most likely, no nan
    assert generate(model, "to", 8, temperature=1e-320) == generate(model, "to", 8, temperature=0)
    with pytest.raises(ValueError, match="^--length: 1000000000000 must be between 0 and 1000000"):
        generate(model, "to", 10**12)  # a day of forward passes, then printed at once
    with pytest.raises(ValueError, match="^--context: 0 must be at least 1"):
        generate(model, "to", 5, context=0)
    with pytest.raises(ValueError, match="^--seed: 1180591620717411303424 must be between 0"):
        generate(model, "to", 5, seed=1180591620717411303424)
    (run / rf.VOCABULARY).write_text(json.dumps({"source": "x"}))
    with pytest.raises(rf.RunFolderError, match="vocabulary.json is broken: it has no list"):
        load_text_model(run)
    shutil.copy(source / rf.VOCABULARY, run / rf.VOCABULARY)
    metrics = json.loads((run / rf.METRICS).read_text())
    (run / rf.METRICS).write_text(json.dumps({**metrics, "status": "completed"}))
    (run / rf.CHECKPOINT).unlink()
    with pytest.raises(rf.RunFolderError, match="the run completed but its checkpoint was removed"):
        load_text_model(run)


# ------------------------------------------------------------------ sizes before they hang (§4)

CHOMSKY = ["+experiment=chomsky", "trainer.steps=2", "trainer.eval_every=1"]


@pytest.mark.parametrize(
    "overrides, says",
    [
        # hung in a billion-length loop before training
        (
            ["dataset.max_len=1000000000", "eval.max_length=null"],
            "^dataset.max_len: .* at most 10000",
        ),
        # trained, then sat in a million lengths
        (
            ["+experiment=chomsky_lstm", "eval.max_length=1000000", "eval.per_length=1"],
            "^eval.max_length: .*at most 10000",
        ),
        # out of memory at step build, no key named
        (
            ["dataset=modular_arithmetic", "dataset.modulus=1000000000"],
            "^dataset.modulus: .*needs about",
        ),
        (["dataset.val_per_length=1000000000"], "^dataset.val_per_length: .*needs about"),
        # failed only after training
        (["eval.per_length=1000000000"], "^eval.per_length: .*token positions"),
        # an overflow traceback
        (
            ["dataset=modular_arithmetic", "dataset.modulus=9223372036854775807"],
            "^dataset.modulus: .*too large",
        ),
    ],
)
def test_token_task_sizes_are_estimated_before_anything_trains(tmp_path, overrides, says):
    with pytest.raises(ConfigError, match=says):
        preset = [] if any(o.startswith("+experiment") for o in overrides) else CHOMSKY[:1]
        run_inprocess(tmp_path, [*preset, *CHOMSKY[1:], *overrides])
    assert not (tmp_path / rf.HISTORY).exists()


def test_the_bound_on_lengths_admits_the_papers_protocol(tmp_path):
    from posenc.jobs.job import build_job
    from tests.conftest import compose_cfg

    # Delétang et al.: trained on 1..40, scored to 500
    cfg = compose_cfg([*CHOMSKY, "dataset.max_len=40", "eval.max_length=500", "eval.per_length=8"])
    build_job(cfg)


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda p: os.truncate(p, 16 * 2**30), "^dataset.path: big.txt, a text of .* needs about"),
        (lambda p: p.write_text("a" * 6000), "^dataset.path: the text has 1 distinct character"),
    ],
)
def test_a_text_that_cannot_fit_or_teach_is_one_line(tmp_path, make, says):
    path = tmp_path / "big.txt"
    path.touch()
    make(path)  # a sparse file: no disk used
    with pytest.raises(ConfigError, match=says):
        run_inprocess(tmp_path / "run", ["dataset=text", f"dataset.path={path}", "model=lstm"])


def test_an_allocation_failure_without_words_still_says_what(tmp_path, monkeypatch):
    from posenc.jobs.kinds import Kind

    def out_of_memory(*args, **kwargs):
        raise MemoryError()  # Python's own: no message at all

    monkeypatch.setattr(Kind, "evaluate_lengths", out_of_memory)
    with pytest.raises(MemoryError):
        run_inprocess(tmp_path, ["trainer.epochs=1", "eval.lengths=[30]"])
    error = rf.read_metrics(tmp_path)["error"]
    assert error == "out of memory at step length_eval: MemoryError, no details given"


# ------------------------------------------------------------------ text and paths (§5)

LONG = "x" * 300


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["dataset=text", f"dataset.path=/tmp/{LONG}", "model=lstm"], "dataset.path"),
        (["dataset=glove_words", f"dataset.vectors=/tmp/{LONG}"], "dataset.vectors"),
    ],
)
def test_a_file_name_the_file_system_refuses_is_one_line(tmp_path, overrides, key):
    with pytest.raises(ConfigError, match=f"^{key}: cannot use .*: File name too long$"):
        run_inprocess(tmp_path, overrides)


def test_a_store_under_proc_is_refused_before_training():
    from posenc.store.tracking import check_store

    with pytest.raises(ConfigError, match="^tracking_uri: /proc/nope cannot be created"):
        check_store("sqlite:////proc/nope/mlflow.db")


@pytest.mark.slow
def test_a_run_folder_whose_log_cannot_be_opened_is_one_line(tmp_path, tiny):
    folder = tmp_path / "run"
    (folder / "train.log").mkdir(parents=True)  # as an immutable folder: the log cannot open
    result = run_cli([*tiny, f"hydra.run.dir={folder}"], tmp_path)
    assert result.returncode == 2
    assert one_line(result).startswith(f"hydra.run.dir: cannot write {folder}/train.log: ")


def test_job_folder_names_are_limited_in_bytes_never_cut_inside_a_character():
    from posenc.store.sweep_folder import MAX_NAME, job_dir_name

    for value in ("🙂" * 70, "é" * 200, "a" * 300):
        name = job_dir_name(3, f"dataset.path={value}")
        assert len(name.encode()) <= MAX_NAME
        assert name.encode().decode() == name  # whole characters only
    assert job_dir_name(3, "dataset.path=" + "🙂" * 70) != job_dir_name(
        3, "dataset.path=" + "🙂" * 71
    )


@pytest.mark.slow
def test_a_sweep_with_a_long_non_ascii_value_runs_every_job_and_writes_its_tables(tmp_path, tiny):
    sweep = tmp_path / "sweep"
    tag = "🙂" * 70  # 280 bytes: a folder name over the file system's 255
    result = run_cli(
        ["-m", *tiny, f"+note='{tag}'", "seed=0,1", f"hydra.sweep.dir={sweep}"], tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert len(list(sweep.glob("*/metrics.json"))) == 2
    assert (sweep / "summary.csv").is_file()


# ------------------------------------------------------------------ the manifest (§6)


def test_a_manifest_removed_during_a_sweep_still_counts_its_failed_jobs(tmp_path):
    from posenc.store.sweep_folder import MANIFEST, Sweep, record_job

    sweep = Sweep.begin(tmp_path)
    ok, bad = tmp_path / "a", tmp_path / "b"
    for folder, status in ((ok, "completed"), (bad, "failed")):
        folder.mkdir()
        rf.write_record(folder, [], {}, {"seed": 0})
        rf.write_metrics(folder, {"status": status})
        record_job(tmp_path, folder, [], "new")
    (tmp_path / MANIFEST).unlink()  # deleted while the sweep runs; a later job makes a new one
    record_job(tmp_path, ok, [], "reuse")
    jobs, refused = sweep.jobs()
    sweep.end()
    assert set(jobs) == {ok.resolve(), bad.resolve()}  # the failed job is not lost


@pytest.mark.slow
def test_a_sweep_whose_manifest_was_removed_exits_1_for_its_failed_job(tmp_path, tiny):
    sweep = tmp_path / "sweep"
    script = (
        "import os, sys\n"
        "from posenc.cli import app\n"
        "from posenc.store import sweep_folder\n"
        "original = sweep_folder.record_job\n"
        "def record(sweep_dir, run_dir, overrides, claim, error=None):\n"
        "    (sweep_dir / sweep_folder.MANIFEST).unlink(missing_ok=True)\n"
        "    original(sweep_dir, run_dir, overrides, claim, error)\n"
        "app.sweep_folder.record_job = record\n"
        "sys.argv = ['posenc.train', *sys.argv[1:]]\n"
        "from posenc.cli.train import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "-m",
            *tiny,
            "trainer.epochs=1,-1",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HYDRA_FULL_ERROR": "0"},
    )
    assert result.returncode == 1, result.stderr
    assert "was removed or replaced while the sweep ran" in result.stdout + result.stderr
    assert "trainer.epochs=-1 (failed)" in result.stdout + result.stderr


# ------------------------------------------------------------------ the new commands' edges (§7)


def test_report_links_are_relative_paths_that_cannot_be_a_scheme(tmp_path):
    import pandas as pd

    from posenc.analysis.reporting import write_report

    name = "javascript:alert(document.domain)<!--"
    results = pd.DataFrame(
        {
            "run": [name, "encoding=rope,seed=0"],
            "status": ["failed", "completed"],
            "encoding": ["none", "rope"],
            "test_loss": [None, 0.5],
            "error": ["boom", None],
        }
    )
    summary = pd.DataFrame(
        {
            "encoding": ["rope"],
            "n": [1],
            "n_completed": [1],
            "test_loss_mean": [0.5],
            "test_loss_ci_low": [None],
            "test_loss_ci_high": [None],
        }
    )
    page = write_report(tmp_path, results, summary, "test_loss").read_text()
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith("./") for h in hrefs)
    assert "javascript:" not in "".join(hrefs) and "<!--" not in page
    assert "./javascript%3Aalert%28document.domain%29%3C%21--/" in hrefs


@pytest.mark.slow
def test_report_on_a_folder_it_cannot_write_is_one_line(tmp_path, monkeypatch, capsys):
    from posenc.cli import report

    make_runs(tmp_path, 2)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("posenc.analysis.reporting.Path.write_text", refuse)
    with pytest.raises(SystemExit) as e:
        report.main([str(tmp_path)])
    assert e.value.code == 2
    assert (
        capsys.readouterr().err.strip().splitlines()[-1].endswith("report.html: Permission denied")
    )


def test_compare_when_nothing_but_the_baseline_completed_says_so():
    import pandas as pd

    from posenc.analysis.paired import compare_to_baseline
    from posenc.analysis.ranks import rank_across

    results = pd.DataFrame(
        {
            "encoding": ["none", "none", "rope", "rope"],
            "seed": [0, 1, 0, 1],
            "dataset": ["a"] * 4,
            "status": ["completed"] * 2 + ["failed"] * 2,
            "score": [0.5, 0.6, None, None],
        }
    )
    with pytest.raises(KeyError, match="no completed run other than the baseline"):
        compare_to_baseline(results, {"encoding": "none"}, "score", ["encoding"])
    results["score"] = None
    with pytest.raises(KeyError, match="no completed run has a value of score to rank"):
        rank_across(results, "dataset", "score", ["encoding", "dataset"])


@pytest.mark.parametrize(
    "error_of, says",
    [
        ("nsgaii", "ValueError: `population_size` must be greater than or equal to 2."),
        ("tpe", "TypeError: TPESampler.__init__() got an unexpected keyword argument 'bogus'"),
    ],
)
def test_a_sampler_optuna_refuses_gives_optunas_reason(error_of, says):
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    from posenc.config.compose import composition_error

    node = (
        {"_target_": "optuna.samplers.NSGAIISampler", "population_size": 1}
        if error_of == "nsgaii"
        else {"_target_": "optuna.samplers.TPESampler", "bogus": 3}
    )
    with pytest.raises(InstantiationException) as e:
        instantiate(node)
    assert str(composition_error(e.value)).endswith(says)


def test_a_mapping_passed_to_run_is_its_overrides(tmp_path):
    a = posenc.run({"trainer.epochs": 1, "seed": 3}, output_dir=tmp_path / "a", plots=False)
    b = posenc.run(["trainer.epochs=1", "seed=3"], output_dir=tmp_path / "b", plots=False)
    assert a.metrics["test_loss"] == b.metrics["test_loss"] and a.config == b.config


# ================================================================== round five (issue 46)
# ------------------------------------------------------------------ no write through a link (§1)

QUICK = ["dataset.n_samples=32", "dataset.seq_len=4", "dataset.feature_dim=2", "trainer.epochs=1"]


@pytest.fixture(scope="module")
def completed_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("completed") / "run"
    posenc.run(QUICK, output_dir=folder, plots=False)
    return folder


def copy_of(run: Path, where: Path) -> Path:
    import shutil

    shutil.copytree(run, where)
    return where


def plant(path: Path, how: str, outside: Path) -> None:
    """`how`: what stands at `path` (a link to `outside`, a dangling link, a FIFO, a folder)."""
    path.unlink(missing_ok=True)
    if how == "link":
        path.symlink_to(outside)
    elif how == "dangling":
        path.symlink_to(outside.with_name("never-made"))
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "folder":
        path.mkdir()


LOCK_CASES = [  # (what stands at the lock, rerun as, what the line says)
    ("link", [], "is a symbolic link, not the lock file"),
    ("link", ["overwrite=true"], "is a symbolic link, not the lock file"),
    ("dangling", [], "is a symbolic link, not the lock file"),
    ("fifo", [], "is a FIFO, not the lock file"),
    ("folder", [], "is a folder, not the lock file"),
]


@pytest.mark.parametrize("how, extra, says", LOCK_CASES)
def test_a_lock_that_is_not_a_plain_file_is_refused_naming_it_and_nothing_is_written(
    tmp_path, completed_run, how, extra, says
):
    folder = copy_of(completed_run, tmp_path / "copy")
    outside = tmp_path / "precious.txt"
    outside.write_text("the user's own file\n")
    plant(folder / run_lock.RUN_LOCK, how, outside)
    before = {
        p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.is_symlink()
    }
    with pytest.raises(FileExistsError) as caught:
        posenc.run([*QUICK, *extra], output_dir=folder, plots=False)
    line = str(caught.value)
    assert line.startswith(f"{folder / run_lock.RUN_LOCK} {says}") and "\n" not in line
    assert "rm " in line and line.endswith("nothing was changed")
    assert outside.read_text() == "the user's own file\n"
    assert not outside.with_name("never-made").exists()  # a dangling link creates nothing
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}
    assert after == before


def test_an_immutable_lock_is_blamed_on_the_lock_not_the_folder(tmp_path, completed_run):
    folder = copy_of(completed_run, tmp_path / "copy")
    lock = folder / run_lock.RUN_LOCK
    lock.write_text("")
    if subprocess.run(["chattr", "+i", str(lock)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported on this file system")
    try:
        with pytest.raises(FileExistsError, match=rf"^{re.escape(str(lock))} cannot be opened"):
            posenc.run(QUICK, output_dir=folder, plots=False)
    finally:
        subprocess.run(["chattr", "-i", str(lock)])


SIBLINGS = [
    rf.HISTORY,
    rf.METRICS,
    rf.CHECKPOINT,
    rf.RUN,
    rf.LOG,
    rf.ENCODING_FINAL,
    "loss.png",
    rf.HYDRA,
]


@pytest.mark.parametrize("name", SIBLINGS)
def test_a_link_where_the_run_writes_a_file_is_refused_and_never_followed(
    tmp_path, completed_run, name
):
    folder = copy_of(completed_run, tmp_path / "copy")
    outside = tmp_path / "precious.txt"
    outside.write_text("the user's own file\n")
    plant(folder / name, "link", outside)
    with pytest.raises(FileExistsError, match=f"{name} is a symbolic link where the run writes"):
        posenc.run([*QUICK, "trainer.epochs=2", "overwrite=true"], output_dir=folder, plots=False)
    assert outside.read_text() == "the user's own file\n"


def test_a_link_planted_as_train_log_of_a_cli_run_is_never_appended_to(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("the user's own file\n")
    (folder / rf.LOG).symlink_to(outside)
    result = run_cli([*QUICK, "plots=false", f"hydra.run.dir={folder}"], tmp_path)
    assert result.returncode == 2
    assert one_line(result).startswith(f"hydra.run.dir: {folder / rf.LOG} is a symbolic link")
    assert outside.read_text() == "the user's own file\n"


@pytest.mark.parametrize("how", ["link", "fifo"])
@pytest.mark.parametrize("name", ["manifest.jsonl", ".posenc.lock", "multirun.yaml"])
def test_a_sweep_file_that_is_a_link_or_fifo_is_one_line_and_never_hangs(tmp_path, name, how):
    from posenc.store.sweep_folder import Sweep

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text('{"pid": 1, "host": "elsewhere"}')
    plant(sweep / name, how, outside)
    with pytest.raises(ConfigError, match=f"^hydra.sweep.dir: .*{name} is a (symbolic link|FIFO)"):
        Sweep.begin(sweep)
    assert outside.read_text() == '{"pid": 1, "host": "elsewhere"}'


@pytest.mark.parametrize("name", ["results.csv", "summary.csv", "report.html", "loss_curves.png"])
def test_a_link_among_a_sweeps_derived_files_is_replaced_never_followed(tmp_path, name):
    from posenc.analysis import tables

    runs = make_runs(tmp_path / "sweep", n=3)
    outside = tmp_path / "precious.txt"
    outside.write_text("the user's own file\n")
    (tmp_path / "sweep" / name).symlink_to(outside)
    written = tables.write(tables.make([tmp_path / "sweep"]), figures=True, report=True)
    assert tmp_path / "sweep" / name in written
    assert runs
    assert outside.read_text() == "the user's own file\n"
    assert not (tmp_path / "sweep" / name).is_symlink()


def test_the_tracking_stores_lock_is_never_followed(tmp_path):
    from posenc.store.tracking import store_lock

    outside = tmp_path / "precious.txt"
    outside.write_text("the user's own file\n")
    (tmp_path / "mlflow.db.lock").symlink_to(outside)
    with pytest.raises(OSError, match="is a symbolic link"):
        with store_lock(f"sqlite:///{tmp_path}/mlflow.db", timeout=1):
            pass
    assert outside.read_text() == "the user's own file\n"


# ------------------------------------------------------------------ comparison folder names (§2)

HOSTILE = ["./../../../escaped", "./../../small.txt", "..", "a/b", "a\0b", "é" * 150, "x" * 300]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("option", ["baseline", "by", "metric", "across"])
def test_a_comparison_folder_is_one_component_inside_comparisons_whatever_the_value(
    tmp_path, option, value
):
    from posenc.analysis.tables import COMPARISONS, comparison_name
    from posenc.store.sweep_folder import MAX_NAME

    given = {
        "baseline": {"baseline": {"dataset.path": value}},
        "by": {"by": [value]},
        "metric": {"metric": value},
        "across": {"across": value},
    }[option]
    name = comparison_name(**given)
    assert "/" not in name and "\0" not in name and name not in (".", "..")
    assert len(name.encode()) <= MAX_NAME
    folder = tmp_path / "sweep" / COMPARISONS / name
    assert os.path.normpath(folder).startswith(str(tmp_path / "sweep" / COMPARISONS) + os.sep)
    other = comparison_name(**{k: v for k, v in given.items()} | {"confidence": 0.9})
    assert other != name  # the options still tell comparisons apart


def test_compare_with_a_baseline_holding_dot_dot_writes_inside_the_sweep(tmp_path):
    from posenc.cli.compare import main as compare

    runs = make_runs(tmp_path / "sweep", n=2)
    for run, path in zip(runs, ["./../../../escaped", "./../../small.txt"], strict=True):
        record = rf.read_record(run)
        record["config"]["dataset"]["path"] = path  # as a sweep over dataset.path would
        overrides = [*record["overrides"], f"dataset.path={path}"]
        rf.write_record(run, overrides, record["choices"], record["config"])
    before = set(tmp_path.iterdir())
    args = [str(tmp_path / "sweep"), "--baseline", "dataset.path=./../../../escaped"]
    assert compare(args) == 0
    assert set(tmp_path.iterdir()) == before  # nothing beside the sweep
    made = [p for p in (tmp_path / "sweep" / "comparisons").iterdir()]
    assert len(made) == 1 and (made[0] / "comparison.csv").is_file()
    assert not (tmp_path / "sweep" / "small.txt").exists()


# ------------------------------------------------------------ tracking never waits forever (§5, §6)


@pytest.mark.slow
def test_a_store_lock_held_elsewhere_costs_the_timeout_then_the_run_trains_untracked(tmp_path):
    import fcntl

    store = tmp_path / "store"
    store.mkdir()
    holder = open(store / "mlflow.db.lock", "w")  # another process's export, say
    fcntl.flock(holder, fcntl.LOCK_EX)
    run = tmp_path / "run"
    try:  # the subprocess timeout guards against the old hang; nothing asserts a speed
        result = run_cli(
            [*QUICK, "plots=false", "tracking=mlflow", f"tracking_uri=sqlite:///{store}/mlflow.db",
             "tracking_timeout=2", f"hydra.run.dir={run}"],
            tmp_path,
            timeout=240,
        )  # fmt: skip
    finally:
        holder.close()
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr
    assert "Traceback" not in said
    assert said.count("not logged live") == 1 and "held by another process for over 2s" in said
    assert "could not export to MLflow" in said  # the lock was still held at the end
    metrics = json.loads((run / rf.METRICS).read_text())
    assert metrics["status"] == "completed"
    assert metrics["train_seconds"] < 2  # the 2 s wait was not training


def live_runs(uri: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    return [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]


@pytest.mark.slow
def test_an_interrupted_live_run_is_ended_and_never_left_beside_the_finished_one(tmp_path):
    from posenc.store.tracking import LiveRun, export_mlflow

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    run = tmp_path / "sweep" / "run"
    posenc.run(QUICK, output_dir=run, plots=False)
    LiveRun(run, uri)  # a process killed before it could end its live run
    second = LiveRun(run, uri)  # the same command again, continuing
    (only,) = live_runs(uri)
    assert only.info.run_id == second.run_id
    second.end("interrupted")  # Ctrl-C: ended KILLED, not RUNNING forever
    (ended,) = live_runs(uri)
    assert ended.info.status == "KILLED"
    assert export_mlflow([run], uri) == {"created": 0, "updated": 1, "unchanged": 0}
    (exported,) = live_runs(uri)
    assert exported.info.status == "FINISHED" and exported.info.run_id != second.run_id


@pytest.mark.slow
def test_a_store_deleted_mid_run_is_one_warning_and_the_export_makes_it_anew(tmp_path, caplog):
    import shutil
    from types import SimpleNamespace

    from posenc.store.tracking import LiveRun, export_quietly

    store = tmp_path / "store"
    store.mkdir()
    uri = f"sqlite:///{store}/mlflow.db"
    run = tmp_path / "sweep" / "run"
    posenc.run(QUICK, output_dir=run, plots=False)
    columns = ("epoch", "train_loss", "val_loss", "seconds")
    record = SimpleNamespace(epoch=1, train_loss=1.0, val_loss=2.0, seconds=0.1)
    live = LiveRun(run, uri)
    live.log(record, columns)
    shutil.rmtree(store)
    caplog.clear()
    live.log(record, columns)
    live.log(record, columns)  # no further tries after the first failure
    live.end("completed")
    export_quietly([run], uri)
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().count("\n") for r in said] == [0]  # one line, no traceback
    assert str(store / "mlflow.db") in said[0].getMessage()
    assert "readonly database" in said[0].getMessage()
    (exported,) = live_runs(uri)  # the store made anew, the run whole in it
    assert exported.info.status == "FINISHED"


# ------------------------------------------------------------------ fine-tunes (§3, §4, §7)


def test_a_preset_that_needs_a_source_refuses_an_empty_or_null_one():
    from posenc.config.compose import compose_job

    for given in ([], ["init_from="], ["init_from=null"], ["init_from=' '"]):
        with pytest.raises(ConfigError, match=r"^init_from: a RoPE run of .*empty and null"):
            compose_job(["+experiment=extend_context", *given])


def test_a_text_source_without_its_vocabulary_is_refused(tmp_path):
    corpus = tmp_path / "a.txt"
    corpus.write_text("abcdefgh" * 400)
    other = tmp_path / "b.txt"
    other.write_text("ijklmnop" * 400)  # as many symbols, every one different
    text = ["dataset=text", "dataset.seq_len=8", "model=lstm", "model.hidden_dim=8",
            "encoding=none", "trainer.steps=4", "trainer.eval_every=2",
            "trainer.batch_size=4"]  # fmt: skip
    source = tmp_path / "src"
    posenc.run([*text, f"dataset.path={corpus}"], output_dir=source, plots=False)
    (source / rf.VOCABULARY).unlink()
    with pytest.raises(ConfigError, match=rf"^init_from: .* has no {rf.VOCABULARY}: which"):
        posenc.run(
            [*text, f"dataset.path={other}", f"init_from={source}"], output_dir=tmp_path / "ft"
        )
    assert not (tmp_path / "ft").exists()


def _step(folder: Path, value) -> None:
    import torch

    payload = torch.load(folder / rf.CHECKPOINT, weights_only=True)
    torch.save({**payload, "step": value}, folder / rf.CHECKPOINT)


def _no_encoding(folder: Path) -> None:
    record = rf.read_record(folder)
    del record["config"]["encoding"]
    rf.write_record(folder, record["overrides"], record["choices"], record["config"])


def _other_model(folder: Path) -> None:
    import torch

    other = folder.parent / "other"
    posenc.run([*QUICK, "model.hidden_dim=8"], output_dir=other, plots=False)
    payload = torch.load(other / rf.CHECKPOINT, weights_only=True)
    torch.save(payload, folder / rf.CHECKPOINT)


def _loop(folder: Path) -> str:
    loop = folder.parent / "loop"
    loop.symlink_to(loop)
    return str(loop)


SOURCE_EDGES = [  # (how the source is broken, what init_from says)
    ("step 'forty'", lambda f: _step(f, "forty"), None, "its step is 'forty', not a whole number"),
    ("no config.encoding", _no_encoding, None, "run.yaml has no config.encoding"),
    ("a symlink loop", None, _loop, "cannot be used: a symbolic link loop"),
    ("300 characters", None, lambda f: str(f.parent / ("x" * 300)), "File name too long"),
    ("other shapes", _other_model, None, "lstm.weight_ih_l0 is [32, 2] there, [128, 2] here"),
    ("the checkpoint file", None, lambda f: str(f / rf.CHECKPOINT), "is a file: give the run"),
]


@pytest.mark.parametrize(
    "case, breaks, names, says", SOURCE_EDGES, ids=[c[0] for c in SOURCE_EDGES]
)
def test_a_source_that_cannot_be_started_from_is_one_line_and_leaves_nothing(
    tmp_path, completed_run, case, breaks, names, says
):
    source = copy_of(completed_run, tmp_path / "src")
    if breaks is not None:
        breaks(source)
    given = names(source) if names is not None else str(source)
    with pytest.raises(ConfigError) as caught:
        posenc.run([*QUICK, f"init_from={given}"], output_dir=tmp_path / "ft", plots=False)
    line = str(caught.value)
    assert line.startswith(("init_from: ", f"{source / rf.CHECKPOINT}: ")) and "\n" not in line
    assert says in line, line
    assert not (tmp_path / "ft").exists()


def test_init_from_the_root_is_a_bounded_search_with_the_right_words(tmp_path):
    from posenc.jobs.source import _sweep_hint

    with pytest.raises(ConfigError, match=r"^init_from: / holds no run \(no metrics.json\)"):
        posenc.run([*QUICK, "init_from=/"], output_dir=tmp_path / "ft", plots=False)
    sweep = tmp_path / "sweep"
    (sweep / "a" / "job").mkdir(parents=True)
    (sweep / "a" / "job" / rf.RUN).write_text("{}")
    assert (
        _sweep_hint(sweep)
        == f" (runs lie below it, such as {sweep / 'a' / 'job'}: name one of their folders)"
    )


@pytest.mark.slow
def test_one_bad_source_fails_its_job_alone_and_the_sweep_writes_its_tables(
    tmp_path, completed_run
):
    sweep = tmp_path / "sweep"
    missing = tmp_path / "typo"
    result = run_cli(
        ["-m", *QUICK, "plots=false", f"init_from={missing},{completed_run}",
         f"hydra.sweep.dir={sweep}"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert f"init_from: {missing}: no such run folder" in result.stderr
    done = [json.loads(p.read_text())["status"] for p in sweep.rglob(rf.METRICS)]
    assert done == ["completed"]  # the good job ran, after the bad one
    assert (sweep / "results.csv").is_file() and (sweep / "report.html").is_file()


# ------------------------------------------------------------------ memory models' sizes (§8)


@pytest.mark.parametrize(
    "model, overrides, key, says",
    [
        ("stack_rnn", ["model.memory_size=1000000000"], "model.memory_size", "128.0 GB"),
        ("stack_rnn", ["model.cell_size=1000000000"], "model.cell_size", "reading cells of"),
        ("tape_rnn", ["model.hidden_dim=1000000"], "model.hidden_dim", "a controller of 1000000"),
        ("tape_rnn", ["model.mlp_width=10000000"], "model.mlp_width", "MLP 10000000 wide"),
        ("tape_rnn", ["eval.lengths=[1000000]"], "eval.lengths", "would take 4,006,480 steps"),
        (
            "stack_rnn",
            ["eval.max_length=2000", "eval.per_length=16"],
            "eval.max_length",
            "StackRNN steps through time in Python",
        ),
    ],
)
def test_the_memory_models_sizes_are_estimated_before_anything_is_built(
    tmp_path, model, overrides, key, says
):
    with pytest.raises(ConfigError) as caught:
        run_inprocess(
            tmp_path,
            [f"+experiment=chomsky_{model}", "dataset=reverse_string", "trainer.steps=2",
             *overrides],
        )  # fmt: skip
    line = str(caught.value)
    assert line.startswith(f"{key}: ") and says in line and "\n" not in line, line
    assert not (tmp_path / rf.HISTORY).exists()  # refused before training


# ------------------------------------------------------------------ signals at the edges (§9)


@pytest.mark.parametrize(
    "number, raised", [("SIGINT", KeyboardInterrupt), ("SIGTERM", "Terminated")]
)
def test_a_signal_during_a_deferred_block_is_delivered_after_it(number, raised):
    import signal

    from posenc.jobs.signals import Terminated, deferred, handle_sigterm

    raised = Terminated if raised == "Terminated" else raised
    previous = signal.getsignal(signal.SIGTERM)
    handle_sigterm()
    finished = []
    try:
        with pytest.raises(raised):
            with deferred():
                os.kill(os.getpid(), getattr(signal, number))
                finished.append("the block ran to its end")
        assert finished == ["the block ran to its end"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_ignored_signal_stays_ignored_through_a_deferred_block():
    import signal

    from posenc.jobs.signals import deferred

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with deferred():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_sigterm_while_metrics_json_is_written_still_leaves_it_written(tmp_path, monkeypatch):
    import signal

    from posenc.jobs.record import JobRecord
    from posenc.jobs.signals import Terminated, handle_sigterm

    write = rf.write_metrics

    def killed_midway(run_dir, metrics):
        os.kill(os.getpid(), signal.SIGTERM)  # as Slurm's, the moment the run ends
        write(run_dir, metrics)

    monkeypatch.setattr(rf, "write_metrics", killed_midway)
    previous = signal.getsignal(signal.SIGTERM)
    handle_sigterm()
    try:
        with pytest.raises(Terminated):
            with JobRecord(tmp_path, {"status": "failed"}) as record:
                record.finish(posenc.store.status.Status.COMPLETED)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert json.loads((tmp_path / rf.METRICS).read_text())["status"] == "completed"


@pytest.mark.slow
def test_ctrl_c_while_torch_loads_exits_130_and_trains_nothing(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import builtins, os, signal\n"
        "real = builtins.__import__\n"
        "def interrupting(name, *a, **k):\n"
        "    if name == 'torch' and not getattr(interrupting, 'done', False):\n"
        "        interrupting.done = True\n"
        "        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C as torch starts to load\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = interrupting\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{hook}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(
        [sys.executable, "-m", "posenc.train", *QUICK, "plots=false", "hydra.run.dir=run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env,
    )  # fmt: skip
    assert result.returncode == 130, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / rf.HISTORY).exists()


# ------------------------------------------------------------------ smaller (§10)


@pytest.mark.slow
def test_a_score_says_how_many_lengths_it_averaged_and_compare_flags_cut_runs(tmp_path, capsys):
    from posenc.cli.compare import main as compare

    task = ["dataset=parity_check", "dataset.max_len=4", "trainer.steps=4", "trainer.eval_every=2",
            "eval.max_length=8"]  # fmt: skip
    full = run_inprocess(tmp_path / "sweep" / "full", task)
    cut = run_inprocess(tmp_path / "sweep" / "cut", [*task, "eval.limit_lengths=1"])
    assert (full["score_lengths"], cut["score_lengths"]) == (4, 1)
    assert "limited" not in full and cut["limited"] == "eval.limit_lengths=1"
    assert compare([str(tmp_path / "sweep")]) == 0
    said = capsys.readouterr().out
    assert (
        "note: 1 of 2 runs were cut by debug limits (eval.limit_lengths=1); beside full runs"
        in said
    )


def test_select_score_on_runs_whose_score_is_unsupported_says_why():
    import pandas as pd

    from posenc.analysis.selection import format_selection, select

    results = pd.DataFrame(
        {
            "run": ["a", "b"],
            "status": ["completed", "completed"],
            "seed": [0, 1],
            "score": [None, None],
            "score_unsupported": ["unsupported at length 41: a table of 40", None],
            "final_val_loss": [0.5, 0.4],
        }
    )
    table = select(results, "score", "score")
    line = format_selection(table, Path("."))
    assert line == (
        "selection by score: the score of every completed run is unsupported "
        "(unsupported at length 41: a table of 40)"
    )


@pytest.mark.parametrize(
    "call, error, says",
    [
        (lambda t: posenc.run(None), ConfigError, "^overrides: None: give a list"),
        (lambda t: posenc.run(42), ConfigError, "^overrides: 42: give a list"),
        (lambda t: posenc.run(QUICK, output_dir=""), ConfigError, "^output_dir: is empty"),
        (lambda t: posenc.load_sweep(t / "file.txt"), NotADirectoryError, "is a file: give a"),
    ],
)
def test_the_python_apis_edges_are_one_clear_error(tmp_path, call, error, says):
    (tmp_path / "file.txt").write_text("not a sweep")
    before = set(tmp_path.iterdir())
    with pytest.raises(error, match=says):
        call(tmp_path)
    assert set(tmp_path.iterdir()) == before  # nothing written (not even in the cwd)


@pytest.fixture
def immutable(tmp_path):
    made: list[Path] = []

    def make(folder: Path) -> Path:
        done = subprocess.run(["chattr", "-R", "+i", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()}")
        made.append(folder)
        return folder

    yield make
    for folder in made:
        subprocess.run(["chattr", "-R", "-i", str(folder)])


@pytest.mark.slow
def test_an_archived_immutable_run_is_reused_not_refused(tmp_path, completed_run, immutable):
    folder = immutable(copy_of(completed_run, tmp_path / "archived"))
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    assert posenc.run(QUICK, output_dir=folder, plots=False).status == "completed"
    result = run_cli([*QUICK, "plots=false", f"hydra.run.dir={folder}"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "reused" in result.stdout + result.stderr
    with pytest.raises(FileExistsError, match="cannot be written"):  # another config: refused
        posenc.run([*QUICK, "seed=1", "overwrite=true"], output_dir=folder, plots=False)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before


def test_a_rerun_clears_what_a_killed_write_left_beside_its_files(tmp_path, completed_run):
    folder = copy_of(completed_run, tmp_path / "copy")
    left = folder / ".checkpoint.pt.k3j9x.pt"  # atomic_write's partial, as a SIGKILL leaves it
    left.write_bytes(b"half a checkpoint")
    notes = folder / "notes.txt"
    notes.write_text("mine")
    posenc.run([*QUICK, "trainer.epochs=2", "overwrite=true"], output_dir=folder, plots=False)
    assert not left.exists() and notes.read_text() == "mine"
