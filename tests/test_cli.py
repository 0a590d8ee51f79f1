"""The real command line, run as a user runs it (subprocesses)."""

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from .conftest import read_metrics, run_cli, run_dirs, wait_for_history

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # each test starts python -m posenc.train


def test_single_run_writes_under_outputs_of_the_cwd(tmp_path, tiny):
    tiny.remove("plots=false")  # the default: plots on for a single run
    result = run_cli([*tiny, "encoding=learnable", "model=lstm"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = run_dirs(tmp_path / "outputs" / "runs")
    assert (run / ".hydra" / "config.yaml").is_file()
    assert (run / ".hydra" / "overrides.yaml").is_file() and (run / "run.yaml").is_file()
    assert read_metrics(run)["status"] == "completed"
    log = next(run.glob("*.log")).read_text()
    assert log.count("epoch 1/2") == 1 and log.count("epoch 2/2") == 1
    assert (run / "encoding.png").stat().st_size > 5_000
    assert (run / "loss.png").stat().st_size > 5_000


def test_bad_value_is_one_line_and_exit_2(tmp_path, tiny):
    result = run_cli([*tiny, "encoding=learnable", "encoding.max_len=2"], cwd=tmp_path)
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "encoding.max_len" in errors[0]
    # refused before training: a single run leaves no folder behind
    assert list((tmp_path / "outputs" / "runs").iterdir()) == []


def test_a_single_run_folder_is_named_by_its_time_and_what_it_is(tmp_path, tiny):
    from datetime import datetime

    from posenc.store.run_folder import TIME_FORMAT

    result = run_cli(["encoding=learnable", "seed=3", "trainer.epochs=1"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = run_dirs(tmp_path / "outputs" / "runs")
    stamp, name = run.name[:26], run.name[26:]
    datetime.strptime(stamp, TIME_FORMAT)  # its time first, then its overrides, sorted
    assert name == "_encoding=learnable,seed=3,trainer.epochs=1"
    plain = run_cli(["plots=false", "trainer.epochs=1"], cwd=tmp_path)  # plots: not in names
    assert plain.returncode == 0
    assert {r.name[26:] for r in run_dirs(tmp_path / "outputs" / "runs")} == {
        name,
        "_trainer.epochs=1",
    }


def test_diverged_run_is_a_result_exit_0(tmp_path, tiny):
    result = run_cli(
        [*tiny, "model=linear", "optimizer=sgd", "optimizer.lr=1e6", "trainer.epochs=5"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = run_dirs(tmp_path / "outputs")
    assert read_metrics(run)["status"] == "diverged"
    assert len(pd.read_csv(run / "history.csv")) >= 1


def test_misspelt_key_is_refused_before_anything_runs(tmp_path, tiny):
    result = run_cli([*tiny, "encoding.ini=zeros"], cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "ini" in result.stderr
    assert run_dirs(tmp_path) == []


def interrupt(tmp_path, args, after):
    """Start the CLI, send SIGINT once `after()` says so, return (exit code, output)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "posenc.train", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    after()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out


def test_ctrl_c_keeps_history_and_marks_interrupted(tmp_path, tiny):
    code, out = interrupt(
        tmp_path, [*tiny, "trainer.epochs=100000"], lambda: wait_for_history(tmp_path)
    )
    assert code == 130, out
    assert "Traceback" not in out
    (history,) = tmp_path.rglob("history.csv")
    metrics = read_metrics(history.parent)
    assert metrics["status"] == "interrupted" and metrics["error"]
    rows = pd.read_csv(history)
    assert len(rows) >= 2 and rows["epoch"].is_monotonic_increasing


def test_ctrl_c_during_start_up_exits_130_without_a_traceback(tmp_path, tiny):
    code, out = interrupt(tmp_path, tiny, lambda: time.sleep(0.3))
    assert code == 130, out
    assert "Traceback" not in out


def test_ctrl_c_during_a_sweep_ends_it_and_marks_the_job(tmp_path, tiny):
    args = ["-m", *tiny, "trainer.epochs=100000", "seed=0,1,2"]
    code, out = interrupt(tmp_path, args, lambda: wait_for_history(tmp_path))
    assert code == 130, out
    assert "Traceback" not in out
    statuses = [read_metrics(r)["status"] for r in run_dirs(tmp_path / "outputs")]
    assert statuses == ["interrupted"]  # the sweep stopped: no later job ran


def test_a_sweep_with_a_diverged_job_exits_0(tmp_path, tiny):
    args = ["-m", *tiny, "model=linear", "optimizer=sgd", "optimizer.lr=1e-3,1e6"]
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    statuses = sorted(read_metrics(r)["status"] for r in run_dirs(tmp_path / "outputs"))
    assert statuses == ["completed", "diverged"]


def test_multirun_failing_job_does_not_stop_the_others(tmp_path, tiny):
    result = run_cli(
        ["-m", *tiny, "encoding=learnable", "encoding.max_len=6", "dataset.seq_len=8,4,6"],
        cwd=tmp_path,
    )
    assert result.returncode == 1  # a failed job makes the sweep fail...
    runs = {read_metrics(r)["seq_len"]: read_metrics(r) for r in run_dirs(tmp_path / "outputs")}
    statuses = {seq_len: m["status"] for seq_len, m in runs.items()}
    assert statuses == {8: "failed", 4: "completed", 6: "completed"}  # ...not the others
    assert "encoding.max_len" in runs[8]["error"]


PRESETS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))
# minutes a job at full size (extend_context: and a source run): run at a smoke budget below
# (addition: in tests/test_arithmetic.py); their reference is the README's study
LONG_PRESETS = ("train_short_test_long", "extend_context", "addition")
PRESETS = [p for p in PRESETS if p not in LONG_PRESETS]


def test_the_language_model_preset_runs_end_to_end_at_a_smoke_budget(tmp_path):
    args = [
        "+experiment=train_short_test_long",
        "encoding=rope",
        "trainer.steps=20",
        "trainer.eval_every=10",
        "trainer.checkpoint_every=10",
        "scheduler.warmup_steps=5",
        "eval.lengths=[64,128]",
        "plots=false",
        "hydra.run.dir=run",
    ]
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(tmp_path / "run")
    assert metrics["status"] == "completed" and metrics["experiment"] == "train_short_test_long"
    assert metrics["dataset"] == "text" and metrics["seq_len"] == 64
    assert {"bpc@64", "bpc@128", "bpc_ntk@128", "bpc_yarn@128", "bpc_linear@128"} <= set(metrics)
    config = yaml.safe_load((tmp_path / "run" / "run.yaml").read_text())["config"]
    assert config["model"]["causal"] is True and config["model"]["n_layers"] == 3


def test_the_context_extension_preset_fine_tunes_a_language_model_preset_run(tmp_path):
    source = [
        "+experiment=train_short_test_long",
        "encoding=rope",
        "trainer.steps=10",
        "trainer.eval_every=10",
        "trainer.checkpoint_every=10",
        "scheduler.warmup_steps=0",
        "eval.lengths=[64]",
        "plots=false",
        "hydra.run.dir=source",
    ]
    assert run_cli(source, cwd=tmp_path).returncode == 0
    tuned = [
        "+experiment=extend_context",
        "init_from=source",  # relative: recorded as its absolute path
        "encoding.scaling=yarn",
        "trainer.steps=10",
        "trainer.eval_every=5",
        "scheduler.warmup_steps=0",
        "eval.lengths=[64,256]",
        "eval.limit_sequences=32",
        "plots=false",
        "hydra.run.dir=tuned",
    ]
    result = run_cli(tuned, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(tmp_path / "tuned")
    assert metrics["status"] == "completed" and metrics["experiment"] == "extend_context"
    assert metrics["seq_len"] == 256 and metrics["init_from_step"] == 10
    assert metrics["init_from"] == str((tmp_path / "source").resolve())
    assert {"bpc@64", "bpc@256"} <= set(metrics)
    history = pd.read_csv(tmp_path / "tuned" / "history.csv")
    assert history["step"].tolist() == [0, 5, 10]
    config = yaml.safe_load((tmp_path / "tuned" / "run.yaml").read_text())["config"]
    assert config["encoding"]["original_length"] == 64 and config["dataset"]["seq_len"] == 256


def test_every_preset_runs_and_reaches_its_reference_level(tmp_path):
    args = ["-m", f"+experiment={','.join(PRESETS)}", "plots=false", "hydra.verbose=posenc"]
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = {read_metrics(r)["experiment"]: read_metrics(r) for r in run_dirs(tmp_path)}
    assert sorted(metrics) == PRESETS
    assert all(m["status"] == "completed" for m in metrics.values())
    # The reference notebook reaches about 0.008 train loss after 10 epochs.
    assert metrics["sinusoidal_lstm"]["final_train_loss"] < 0.05
    assert metrics["learnable_dummy"]["n_params"] == 10 * 16 + 16 + 1
    assert metrics["tanh_ffn_context"]["n_params"] == 10 + (10 * 128 + 128) + (128 + 1)
    assert metrics["glove_learnable"]["final_train_loss"] < 1e-3
    log = (tmp_path / "outputs").rglob("*.log")
    text = "\n".join(p.read_text() for p in log)
    assert "encoding before:" in text and "encoding after:" in text  # at DEBUG, asked for


def test_console_script_and_wheel_install(tmp_path, tiny):
    """conf/ travels inside the wheel; a plain `pip install .` works from any directory."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, REPO],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("posenc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "posenc/conf/config.yaml" in names and "posenc/conf/model/lstm.yaml" in names
    # Install the wheel alone into a folder that shadows the editable checkout.
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target, wheel],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run(
        [sys.executable, "-c", "import posenc.config.compose as c; print(c.config_dir())"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.strip() == str(target / "posenc" / "conf")  # the wheel's own conf/
    script = target / "bin" / "posenc-train"
    for command in ([sys.executable, "-m", "posenc.train"], [sys.executable, script]):
        result = subprocess.run(
            [*command, *tiny], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-2000:]
    assert len(run_dirs(work / "outputs")) == 2


def test_readme_custom_encoding_with_one_class_and_one_yaml(tmp_path, tiny):
    """The README's example, verbatim: no edit to posenc."""
    readme = (REPO / "README.md").read_text()
    blocks = readme.split("```")
    python_src = next(b for b in blocks if b.startswith("python\n# my_encodings.py"))
    yaml_src = next(b for b in blocks if b.startswith("yaml\n# my_conf/encoding/ramp.yaml"))
    (tmp_path / "my_encodings.py").write_text(python_src.removeprefix("python\n"))
    (tmp_path / "my_conf" / "encoding").mkdir(parents=True)
    (tmp_path / "my_conf" / "encoding" / "ramp.yaml").write_text(yaml_src.removeprefix("yaml\n"))
    result = run_cli(
        ["--config-dir", "my_conf", "encoding=ramp", "encoding.slope=0.1", *tiny], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (run,) = run_dirs(tmp_path / "outputs")
    table = np.load(run / "encoding_final.npy")
    assert table.shape == (6, 3)
    np.testing.assert_allclose(table, 0.1 * np.arange(6)[:, None].repeat(3, 1), rtol=1e-6)


def test_transformer_sweep_through_the_cli_refuses_attention_encodings_on_an_lstm(tmp_path, tiny):
    args = ["-m", *tiny, "model=transformer,lstm", "encoding=alibi,sinusoidal"]
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 1  # the lstm + alibi job failed; the others ran
    runs = {
        (m["model"], m["encoding"]): m
        for m in (read_metrics(r) for r in run_dirs(tmp_path / "outputs"))
    }
    assert runs[("lstm", "alibi")]["status"] == "failed"
    assert "model=transformer" in runs[("lstm", "alibi")]["error"]
    done = [k for k, m in runs.items() if m["status"] == "completed"]
    assert sorted(done) == [
        ("lstm", "sinusoidal"),
        ("transformer", "alibi"),
        ("transformer", "sinusoidal"),
    ]
    (sweep,) = (tmp_path / "outputs" / "sweeps").iterdir()
    assert len(pd.read_csv(sweep / "results.csv")) == 4


def test_one_list_names_job_folders_and_says_what_is_the_same_experiment():
    from hydra import compose, initialize_config_dir

    from posenc.config.compose import config_dir, register_resolvers
    from posenc.config.schemas import register_schemas
    from posenc.store import claim as claiming

    register_schemas(config_dir())
    register_resolvers()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        hydra_cfg = compose("config", return_hydra_config=True)
    excluded = list(hydra_cfg.hydra.job.config.override_dirname.exclude_keys)
    assert excluded == list(claiming.NOT_THE_EXPERIMENT)
    assert {"tracking", "tracking_uri"} <= set(excluded)


@pytest.mark.slow
def test_a_finished_sweep_rerun_with_tracking_reuses_and_exports_every_job(tmp_path, tiny):
    import sqlite3

    sweep = tmp_path / "sweep"
    grid = ["-m", *tiny, "encoding=none,sinusoidal", f"hydra.sweep.dir={sweep}"]
    first = run_cli(grid, tmp_path)
    assert first.returncode == 0, first.stderr
    store = tmp_path / "mlflow.db"
    again = run_cli([*grid, "tracking=mlflow", f"tracking_uri=sqlite:///{store}"], tmp_path)
    assert again.returncode == 0, again.stderr
    claims = [json.loads(line)["claim"] for line in (sweep / "manifest.jsonl").open()]
    assert claims == ["new", "new", "reuse", "reuse"]
    with sqlite3.connect(store) as db:
        assert db.execute("select count(*) from runs").fetchone()[0] == 2


def test_an_unresolvable_value_names_its_key_and_leaves_no_folder(tmp_path):
    result = run_cli(["trainer.epochs=${oc.env:POSENC_NO_SUCH_VARIABLE}"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("trainer.epochs: ")
    assert "POSENC_NO_SUCH_VARIABLE" in result.stderr
    assert list((tmp_path / "outputs" / "runs").iterdir()) == []


def test_help_lists_every_config_group_of_conf_and_the_composed_config(tmp_path):
    from posenc.config.compose import config_dir

    result = subprocess.run(
        [sys.executable, "-m", "posenc.train", "--help", "model=transformer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    conf = Path(config_dir())
    section = result.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    for folder in (p for p in conf.iterdir() if p.is_dir() and p.name != "hydra"):
        (line,) = [s for s in section.splitlines() if s.lstrip("+").startswith(f"{folder.name}:")]
        assert all(p.stem in line for p in folder.glob("*.yaml"))
    assert "_target_: posenc.models.transformer.Transformer" in result.stdout
    bad = run_cli(["--help", "model=nope"], tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("model: 'nope' is not an option")
