"""Nothing lost, nothing cryptic: the named cases of a run into an occupied folder, bad
files and targets, and sweeps sharing a folder — each through the CLI and posenc.run."""

import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import posenc
from posenc.errors import ConfigError

from .conftest import read_metrics, run_cli, run_dirs, wait_for_history

pytestmark = pytest.mark.slow


def snapshot(folder):
    return {
        p.relative_to(folder): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix != ".log"
    }


def one_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr + result.stdout
    return lines


@pytest.mark.parametrize(
    "second, code, kept",
    [
        (["optimizer.lr=-1"], 2, True),  # a bad value never touches a completed run
        (["trainer.epochs=3"], 2, True),  # another config: refused
        (["trainer.epochs=2"], 0, True),  # the same config: reused
        (["trainer.epochs=3", "overwrite=true"], 0, False),  # replaced on request
    ],
)
def test_a_second_run_into_the_same_folder(tmp_path, tiny, second, code, kept):
    first = run_cli([*tiny, "hydra.run.dir=R"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = snapshot(tmp_path / "R")
    assert (tmp_path / "R" / ".hydra" / "config.yaml") in [tmp_path / "R" / p for p in before]
    result = run_cli([*tiny, "hydra.run.dir=R", *second], cwd=tmp_path)
    assert result.returncode == code, result.stderr[-2000:]
    assert (snapshot(tmp_path / "R") == before) == kept
    if code == 2:
        (line,) = one_line(result)
        assert "hydra.run.dir" in line and "overwrite=true" in line
    if not kept:
        assert read_metrics(tmp_path / "R")["epochs_completed"] == 3
        assert "trainer.epochs=3" in (tmp_path / "R" / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.parametrize(
    "content, name",
    [(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary", "vectors.txt"), (b"not gzip", "vectors.txt.gz")],
)
def test_a_vectors_file_that_is_not_text_is_one_line(tmp_path, content, name):
    (tmp_path / name).write_bytes(content)
    overrides = ["dataset=glove_words", f"dataset.vectors={tmp_path / name}", "trainer.epochs=1"]
    result = run_cli(overrides, cwd=tmp_path)
    assert result.returncode == 2
    errors = [line for line in result.stdout.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "dataset.vectors" in errors[0] and name in errors[0]
    with pytest.raises(ConfigError, match="dataset.vectors"):
        posenc.run(overrides, output_dir=tmp_path / "api")


@pytest.mark.parametrize(
    "target, words",
    [("os.system", "not allowed|blocklisted"), ("posenc.encodings.DoesNotExist", "cannot import")],
)
def test_a_target_that_cannot_be_used_is_one_line_naming_the_key(tmp_path, tiny, target, words):
    result = run_cli([*tiny, f"encoding._target_={target}"], cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "encoding._target_" in errors[0]
    assert pd.Series(errors).str.contains(words).all()
    with pytest.raises(ConfigError, match="encoding._target_"):
        posenc.run([*tiny, f"encoding._target_={target}"], output_dir=tmp_path / "api")


def test_a_resumed_sweep_reruns_only_unfinished_jobs_and_refuses_another_config(tmp_path, tiny):
    args = ["-m", *tiny, "seed=0,1,2", "hydra.sweep.dir=S"]
    assert run_cli(args, cwd=tmp_path).returncode == 0
    jobs = run_dirs(tmp_path / "S")
    (jobs[1] / "metrics.json").unlink()  # as if killed
    original = yaml.safe_load((jobs[0] / "run.yaml").read_text())["config"]
    done = {j: (j / "history.csv").read_bytes() for j in (jobs[0], jobs[2])}
    mtimes = {j: (j / "history.csv").stat().st_mtime_ns for j in done}
    again = run_cli(args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "reused" in again.stdout + again.stderr
    for j in done:  # finished jobs untouched
        assert (j / "history.csv").stat().st_mtime_ns == mtimes[j]
    assert read_metrics(jobs[1])["status"] == "completed"
    assert len(pd.read_csv(tmp_path / "S" / "results.csv")) == 3
    # a job folder that holds another config (the code's defaults changed since): refused,
    # nothing overwritten; the other jobs are reused
    record = yaml.safe_load((jobs[0] / "run.yaml").read_text())
    record["config"]["trainer"]["epochs"] = 3
    (jobs[0] / "run.yaml").write_text(yaml.safe_dump(record))
    other = run_cli(args, cwd=tmp_path)
    assert other.returncode == 1
    assert other.stderr.count("already holds a run of another config") == 1
    assert all(read_metrics(j)["epochs_completed"] == 2 for j in jobs)
    (jobs[0] / "run.yaml").write_text(yaml.safe_dump({**record, "config": original}))
    # another grid into the same folder: its own job folders, and the tables cover the study
    more = run_cli(["-m", *tiny, "seed=3", "hydra.sweep.dir=S"], cwd=tmp_path)
    assert more.returncode == 0
    assert len(pd.read_csv(tmp_path / "S" / "results.csv")) == 4
    assert len(run_dirs(tmp_path / "S")) == 4
    rerun = run_cli([*args, "resume=false"], cwd=tmp_path)
    assert rerun.returncode == 0
    assert (jobs[0] / "history.csv").stat().st_mtime_ns != mtimes[jobs[0]]


def test_a_second_sweep_into_a_busy_folder_is_refused(tmp_path, tiny):
    slow = ["-m", *tiny, "trainer.epochs=100000", "seed=0,1", "hydra.sweep.dir=S"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "posenc.train", *slow],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_history(tmp_path / "S", rows=1)
        second = run_cli(
            ["-m", *tiny, "optimizer=sgd", "seed=3,4", "hydra.sweep.dir=S"], cwd=tmp_path
        )
        assert second.returncode == 2
        (line,) = one_line(second)
        assert "in use by another sweep" in line and str(proc.pid) in line
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert (tmp_path / "S" / "results.csv").is_file()  # Ctrl-C: tables of what ran
    assert not (tmp_path / "S" / ".posenc.lock").exists()


def test_sigterm_is_recorded_like_ctrl_c(tmp_path, tiny):
    proc = subprocess.Popen(
        [sys.executable, "-m", "posenc.train", *tiny, "trainer.epochs=100000", "hydra.run.dir=R"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for_history(tmp_path / "R")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, out
    metrics = read_metrics(tmp_path / "R")
    assert metrics["status"] == "interrupted" and "SIGTERM" in metrics["error"]


@pytest.mark.parametrize("where", ["afile", "afile/sub"])
def test_a_run_folder_that_cannot_be_created_is_one_line(tmp_path, tiny, where):
    (tmp_path / "afile").write_text("keep me\n")
    result = run_cli([*tiny, f"hydra.run.dir={where}"], cwd=tmp_path)
    assert result.returncode == 2
    (line,) = one_line(result)
    assert line.startswith("hydra.run.dir: cannot create the folder")
    assert (tmp_path / "afile").read_text() == "keep me\n"


@pytest.mark.parametrize(
    "override",
    [
        "dataset.words=[{_target_: pathlib.Path.touch, self: MARK}]",
        "+dataset.extra={inner: {_target_: pathlib.Path.touch, self: MARK}}",
    ],
)
def test_a_nested_target_in_a_value_is_refused_never_called(tmp_path, override):
    """Values are plain data: a _target_ below an option's own is refused by name and never
    instantiated (issue 21 §5)."""
    from posenc.errors import ConfigError

    from .conftest import run_inprocess

    mark = tmp_path / "created_by_a_value"
    override = override.replace("MARK", str(mark))
    with pytest.raises(ConfigError, match=r"dataset\.(words\.0|extra\.inner)\._target_"):
        run_inprocess(tmp_path / "run", ["dataset=glove_words", override])
    assert not mark.exists()


@pytest.mark.slow
def test_an_interrupted_sweep_prints_the_command_that_finishes_it(tmp_path, tiny):
    import shlex

    slow = ["-m", *tiny, "trainer.epochs=100000", "seed=0,1"]  # the default timestamped folder
    proc = subprocess.Popen(
        [sys.executable, "-m", "posenc.train", *slow],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_history(tmp_path / "outputs", rows=1)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    lines = err.strip().splitlines()
    assert lines[-2] == "interrupted; to finish this sweep, run:"
    command = shlex.split(lines[-1])
    (folder,) = [a.partition("=")[2] for a in command if a.startswith("hydra.sweep.dir=")]
    assert command == ["python", "-m", "posenc.train", *slow, f"hydra.sweep.dir={folder}"]
    assert Path(folder).is_absolute() and (Path(folder) / "results.csv").is_file()


def test_the_resume_command_replaces_a_given_folder_with_its_absolute_path(tmp_path):
    from posenc.jobs.sweep_end import resume_command

    said = resume_command(tmp_path / "S", ["seed=0,1", "hydra.sweep.dir=S"])
    assert said == f"python -m posenc.train -m seed=0,1 hydra.sweep.dir={tmp_path / 'S'}"
