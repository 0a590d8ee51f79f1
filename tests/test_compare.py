"""Sweep tables, the end-of-multirun callback, sweep plots, and the compare CLI."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from posenc.analysis.comparison import compare, load_results, summarize
from posenc.jobs.sweep_end import SweepEnd
from posenc.store import run_folder as rf

from .conftest import read_metrics, run_cli, run_dirs

MEANS = ["final_train_loss", "final_val_loss", "test_loss", "best_val_loss", "train_seconds"]


def sweep_dir(root):
    (found,) = (root / "outputs" / "sweeps").iterdir()
    return found


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The issue's sweep, tiny: 3 encodings x 2 models x 3 seeds = 18 jobs, one process."""
    root = tmp_path_factory.mktemp("sweep")
    result = run_cli(
        [
            "-m",
            "encoding=none,sinusoidal,learnable",
            "model=linear,lstm",
            "seed=0,1,2",
            "dataset.n_samples=64",
            "dataset.seq_len=6",
            "dataset.feature_dim=3",
            "trainer.epochs=3",
            "trainer.batch_size=16",
        ],
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep_dir(root), result


@pytest.mark.slow
def test_sweep_ends_with_both_tables_and_plots(sweep):
    path, result = sweep
    results = pd.read_csv(path / "results.csv")
    summary = pd.read_csv(path / "summary.csv")
    assert len(results) == 18 and len(summary) == 6
    assert list(results.columns[:5]) == ["run", "encoding", "model", "seed", "status"]
    assert summary["n"].tolist() == [3] * 6 and summary["n_completed"].tolist() == [3] * 6
    assert [c for c in summary.columns if c.endswith("_mean")] == [f"{m}_mean" for m in MEANS]
    assert summary["final_val_loss_mean"].is_monotonic_increasing  # best first
    for name in ("loss_curves.png", "summary.png"):
        assert (path / name).stat().st_size > 10_000
    assert not list(path.glob("*/loss.png"))  # per-run plots are off in sweeps by default
    assert "n_completed" in result.stdout and "learnable" in result.stdout


@pytest.mark.slow
def test_summary_equals_a_groupby_over_metrics_json(sweep):
    path, _ = sweep
    rows = [read_metrics(r) for r in run_dirs(path)]
    want = (
        pd.DataFrame(rows).groupby(["encoding", "model"])[MEANS].agg(["mean", "std"]).sort_index()
    )
    got = pd.read_csv(path / "summary.csv").set_index(["encoding", "model"]).sort_index()
    for m in MEANS:
        for stat in ("mean", "std"):
            np.testing.assert_allclose(got[f"{m}_{stat}"], want[(m, stat)], rtol=1e-9)


@pytest.mark.slow
def test_compare_by_and_metric(sweep, capsys):
    path, _ = sweep
    _, by_encoding = compare([path], by=["encoding"], metric="test_loss")
    assert len(by_encoding) == 3 and by_encoding["n"].tolist() == [6, 6, 6]
    assert by_encoding["test_loss_mean"].is_monotonic_increasing
    assert capsys.readouterr().out == ""  # compare computes; printing is the CLI's
    with pytest.raises(KeyError, match="--by"):
        summarize(load_results([path]), by=["colour"])


@pytest.mark.slow
def test_plot_cli_and_compare_cli(sweep, tmp_path):
    path, _ = sweep
    before = {name: (path / name).read_bytes() for name in ("loss_curves.png", "summary.png")}
    out = subprocess.run(
        [sys.executable, "-m", "posenc.plot", str(path), "--by", "model"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    drawn = path / "comparisons" / "by=model" / "loss_curves.png"
    assert "summary.png" in out and drawn.stat().st_size > 10_000
    assert {name: (path / name).read_bytes() for name in before} == before  # the sweep's own
    own = {name: (path / name).read_bytes() for name in ("summary.csv", "summary.json")}
    res = subprocess.run(
        [sys.executable, "-m", "posenc.compare", str(path), "--by", "model"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0 and "lstm" in res.stdout
    # a comparison asked for goes to a folder of its own, named by its options, with its
    # report; the sweep's own tables stay byte for byte what the sweep wrote
    folder = path / "comparisons" / "by=model"
    assert len(pd.read_csv(folder / "summary.csv")) == 2
    assert (folder / "report.html").is_file() and f"wrote {folder / 'summary.csv'}" in res.stdout
    assert {name: (path / name).read_bytes() for name in own} == own
    links = pd.read_csv(folder / "results.csv")["run"]
    assert links.str.startswith("../../").all()  # run folders relative to the comparison
    bad = subprocess.run(
        [sys.executable, "-m", "posenc.compare", str(path), "--by", "colour"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "colour" in bad.stderr and "Traceback" not in bad.stderr
    compare([path])  # leave the default tables for the other tests


@pytest.mark.slow
def test_failed_job_still_gets_tables_and_a_non_zero_exit(tmp_path):
    result = run_cli(
        [
            "-m",
            "encoding=learnable",
            "encoding.max_len=6",
            "dataset.seq_len=6,8",
            "dataset.n_samples=64",
            "dataset.feature_dim=3",
            "trainer.epochs=2",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    path = sweep_dir(tmp_path)
    results = pd.read_csv(path / "results.csv").set_index("dataset.seq_len")
    assert results.loc[8, "status"] == "failed" and "encoding.max_len" in results.loc[8, "error"]
    assert results.loc[6, "status"] == "completed"
    summary = pd.read_csv(path / "summary.csv").set_index("dataset.seq_len")
    assert summary.loc[8, "n"] == 1 and summary.loc[8, "n_completed"] == 0
    assert np.isnan(summary.loc[8, "final_val_loss_mean"])
    assert (path / "summary.png").is_file()


def write_run(folder, overrides, metrics=None, history=None, config=None):
    """A run folder by the contract, written by hand (the config holds every override)."""
    (folder / ".hydra").mkdir(parents=True)
    choices = dict(o.split("=") for o in overrides if "." not in o.split("=")[0])
    seed = int(choices.pop("seed", 0))
    config = config or {"seed": seed}
    rf.write_record(folder, overrides, choices, config)
    if metrics is not None:
        (folder / "metrics.json").write_text(
            metrics if isinstance(metrics, str) else json.dumps(metrics)
        )
    if history is not None:
        pd.DataFrame(history).to_csv(folder / "history.csv", index=False)


def test_statuses_corrupt_and_unfinished_runs(tmp_path, caplog):
    base = {"final_train_loss": 1.0, "test_loss": 1.0, "best_val_loss": 1.0, "train_seconds": 1}
    write_run(
        tmp_path / "a",
        ["encoding=none", "seed=0"],
        {**base, "status": "completed", "final_val_loss": 0.5},
    )
    write_run(
        tmp_path / "b",
        ["encoding=none", "seed=1"],
        {**base, "status": "completed", "final_val_loss": 0.7},
    )
    write_run(
        tmp_path / "c",
        ["encoding=none", "seed=2"],
        {**base, "status": "diverged", "final_val_loss": None},
    )
    write_run(tmp_path / "d", ["encoding=learnable", "seed=0"])  # still running
    write_run(tmp_path / "e", ["encoding=learnable", "seed=1"], "{not json")
    results, summary = compare([tmp_path])
    assert sorted(results["run"]) == ["a", "b", "c", "d", "e"]
    status = results.set_index("run")["status"]
    assert (status["d"], status["e"]) == ("incomplete", "corrupt")
    assert "metrics.json" in results.set_index("run").loc["e", "error"]
    s = summary.set_index("encoding")
    assert (s.loc["none", "n"], s.loc["none", "n_completed"]) == (3, 2)
    assert s.loc["none", "final_val_loss_mean"] == pytest.approx(0.6)
    assert (s.loc["learnable", "n"], s.loc["learnable", "n_completed"]) == (2, 0)
    assert list(s.index) == ["none", "learnable"]  # runs with no value sort last


def test_single_run_folder_and_parent_of_several(tmp_path):
    m = {"status": "completed", "final_val_loss": 0.3}
    write_run(tmp_path / "x" / "r1", ["encoding=none"], m)
    write_run(tmp_path / "y" / "r2", ["encoding=linear"], m)
    results, summary = compare([tmp_path / "x" / "r1"])
    assert len(results) == 1 and len(summary) == 1
    results, _ = compare([tmp_path])
    assert sorted(results["run"]) == ["x/r1", "y/r2"] and "encoding" in results.columns


@pytest.mark.slow
def test_parallel_sweep_with_the_joblib_launcher(tmp_path):
    """Hydra's joblib launcher runs jobs in worker processes; the sweep ends the same way."""
    result = run_cli(
        [
            "-m",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            "trainer.num_threads=1",
            "encoding=learnable",
            "encoding.max_len=6",
            "dataset.seq_len=6,8",
            "seed=0,1",
            "dataset.n_samples=64",
            "dataset.feature_dim=3",
            "trainer.epochs=2",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr[-3000:]  # the seq_len=8 jobs fail
    path = sweep_dir(tmp_path)
    results = pd.read_csv(path / "results.csv")
    assert sorted(results["status"]) == ["completed", "completed", "failed", "failed"]
    summary = pd.read_csv(path / "summary.csv").set_index("dataset.seq_len")
    assert summary.loc[6, "n_completed"] == 2 and summary.loc[8, "n_completed"] == 0


def compare_cli(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "posenc.compare", *map(str, args)],
        capture_output=True,
        text=True,
        **kwargs,
    )


def test_a_key_a_run_did_not_override_comes_from_its_config(tmp_path):
    """`optimizer=sgd` in one run, nothing in the other: the column says adam, not NaN."""
    m = {"status": "completed", "final_val_loss": 0.3}
    write_run(
        tmp_path / "a", ["optimizer=sgd", "optimizer.lr=0.1", "seed=1"], m, config={"seed": 1}
    )
    write_run(tmp_path / "b", [], m, config={"seed": 0, "optimizer": {"lr": 0.001}})
    (tmp_path / "b" / "run.yaml").write_text(
        (tmp_path / "b" / "run.yaml")
        .read_text()
        .replace("choices: {}", "choices: {optimizer: adam}")
    )
    results = load_results([tmp_path]).set_index("run")
    assert results.loc["b", "optimizer"] == "adam" and results.loc["b", "optimizer.lr"] == 0.001
    assert results.loc["b", "seed"] == 0 and str(results["seed"].dtype) == "Int64"
    assert results["optimizer.lr"].dtype == float


@pytest.mark.slow
def test_compare_cli_on_an_empty_folder_is_one_line_and_writes_nothing(tmp_path):
    res = compare_cli(tmp_path)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.strip().count("\n") == 0 and "no runs" in res.stderr
    assert list(tmp_path.iterdir()) == []
    plot = subprocess.run(
        [sys.executable, "-m", "posenc.plot", str(tmp_path)], capture_output=True, text=True
    )
    assert plot.returncode == 1 and "no runs" in plot.stderr and "Traceback" not in plot.stderr


@pytest.mark.slow
def test_compare_never_overwrites_tables_without_runs_or_through_a_file(tmp_path):
    (tmp_path / "results.csv").write_text("run,status\nold,completed\n")
    (tmp_path / "summary.csv").write_text("n\n1\n")
    assert compare_cli(tmp_path).returncode == 1  # an archive: tables only, no runs
    res = compare_cli(tmp_path / "results.csv")
    assert res.returncode == 2 and "not a folder" in res.stderr and "Traceback" not in res.stderr
    assert (tmp_path / "results.csv").read_text() == "run,status\nold,completed\n"
    assert (tmp_path / "summary.csv").read_text() == "n\n1\n"


@pytest.mark.slow
def test_compare_into_a_closed_pipe_exits_quietly(sweep):
    path, _ = sweep
    res = subprocess.run(
        f"{sys.executable} -m posenc.compare {path} | head -1",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0 and "runs in" in res.stdout
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr


def test_sweep_end_fails_the_sweep_for_a_job_that_left_no_metrics(tmp_path):
    from posenc.jobs.exits import ExitCode, SweepIncomplete, exit_code
    from posenc.store.sweep_folder import record_job

    m = {"status": "completed", "final_val_loss": 0.3}
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    end = SweepEnd(plots=False)
    end.on_multirun_start(config)
    for name, metrics in (("0", m), ("1", None)):  # 1 was killed: no metrics.json
        write_run(tmp_path / name, [f"seed={name}"], metrics)
        record_job(tmp_path, tmp_path / name, [f"seed={name}"], "new")
    with pytest.raises(SweepIncomplete) as ended:
        end.on_multirun_end(config)
    assert ended.value.jobs == ["1 (incomplete)"]
    assert exit_code(ended.value) == ExitCode.FAILED == 1
    assert not (tmp_path / ".posenc.lock").exists()
    results = pd.read_csv(tmp_path / "results.csv")
    assert sorted(results["status"]) == ["completed", "incomplete"]


def test_the_summary_names_its_group_when_only_one_has_run(tmp_path):
    """A sweep over encodings cut short after the first: the table still says which."""
    m = {"status": "completed", "final_val_loss": 0.3}
    for seed in (0, 1):
        write_run(tmp_path / f"j{seed}", ["encoding=none", f"seed={seed}"], m)
    sweep = {"hydra": {"overrides": {"task": ["encoding=none,sinusoidal", "seed=0,1"]}}}
    (tmp_path / "multirun.yaml").write_text(yaml.safe_dump(sweep))
    results, summary = compare([tmp_path])
    assert list(results.columns[:3]) == ["run", "encoding", "seed"]
    assert summary["encoding"].tolist() == ["none"] and summary["n"].tolist() == [2]


def test_runs_sort_in_natural_order(tmp_path):
    for n in (10, 2, 1):
        write_run(tmp_path / str(n), [f"seed={n}"], {"status": "completed"})
    assert load_results([tmp_path])["run"].tolist() == ["1", "2", "10"]


def test_plot_follows_the_metric_and_grouping_compare_used(tmp_path, monkeypatch, capsys):
    from posenc.analysis import plots
    from posenc.cli.compare import main as compare_main
    from posenc.cli.plot import main as plot_main

    for seed, enc in ((0, "none"), (1, "none"), (0, "rope"), (1, "rope")):
        m = {"status": "completed", "final_val_loss": 0.3 + seed, "test_loss": 0.1 * seed}
        write_run(tmp_path / f"{enc}{seed}", [f"encoding={enc}", f"seed={seed}"], m)
    assert compare_main([str(tmp_path), "--metric", "test_loss"]) == 0
    printed = capsys.readouterr().out
    assert "sorted by test_loss" in printed and "final_val_loss" in printed  # both shown
    folder = tmp_path / "comparisons" / "metric=test_loss"
    assert (folder / "summary.json").is_file() and not (tmp_path / "summary.json").exists()
    drawn = []
    monkeypatch.setattr(
        plots, "plot_sweep", lambda out, r, s, metric: drawn.append((out, metric)) or []
    )
    assert plot_main([str(tmp_path), "--metric", "test_loss"]) == 0  # beside that comparison
    assert compare_main([str(tmp_path)]) == 0  # the folder's own tables, by the headline
    assert plot_main([str(tmp_path)]) == 0  # follows them
    assert drawn == [(folder, "test_loss"), (tmp_path, "final_val_loss")]


def test_accuracy_by_length_gives_a_group_one_colour_in_every_panel(tmp_path, monkeypatch):
    """The panels sort their lines by score, which differs between tasks; the one legend
    must still name every panel's lines."""
    from posenc.analysis import plots

    scores = {("a", "lstm"): 0.9, ("a", "stack_rnn"): 0.5, ("b", "lstm"): 0.4}
    scores[("b", "stack_rnn")] = 0.8
    for i, ((task, model), score) in enumerate(scores.items()):
        metrics = {"status": "completed", "kind": "tokens", "score": score}
        metrics.update({"accuracy@21": score, "accuracy@22": score, "final_val_loss": 0.1})
        write_run(tmp_path / str(i), [f"dataset={task}", f"model={model}"], metrics)
    results = load_results([tmp_path])
    summary = summarize(results, metric="score")
    drawn = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: drawn.setdefault("fig", fig))
    plots.plot_accuracy_by_length(tmp_path, results, summary, ["dataset", "model"])
    colours = {}
    for ax in drawn["fig"].axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("_"):
                colours.setdefault(line.get_label(), set()).add(line.get_color())
    assert set(colours) == {"lstm", "stack_rnn"}
    assert all(len(c) == 1 for c in colours.values()), colours
    assert colours["lstm"] != colours["stack_rnn"]


def test_accuracy_bands_stay_within_zero_and_one(tmp_path, monkeypatch):
    """Two seeds at 0.95 and 0.55: the t interval of their mean runs far past 1; accuracy
    cannot, so the band is clipped to [0, 1]."""
    from posenc.analysis import plots

    runs = [("a", 0, 0.95), ("a", 1, 0.55), ("b", 0, 0.5), ("b", 1, 0.5)]
    for task, seed, value in runs:
        metrics = {"status": "completed", "kind": "tokens", "score": value}
        metrics.update({"accuracy@21": value, "accuracy@22": value, "final_val_loss": 0.1})
        write_run(tmp_path / f"{task}{seed}", [f"dataset={task}", f"seed={seed}"], metrics)
    results = load_results([tmp_path])
    summary = summarize(results, metric="score")
    assert summary["accuracy@21_ci_high"].max() > 1  # what the interval itself says
    drawn = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: drawn.setdefault("fig", fig))
    plots.plot_accuracy_by_length(tmp_path, results, summary, ["dataset"])
    bands = [c for a in drawn["fig"].axes for c in a.collections]
    assert bands
    for band in bands:
        heights = band.get_paths()[0].vertices[:, 1]
        assert heights.min() >= 0 and heights.max() <= 1


def test_compare_of_several_sweeps_writes_beside_them_and_says_when_it_replaces(tmp_path, capsys):
    from posenc.cli.compare import main as compare
    from tests.conftest import run_inprocess

    for sweep in ("a", "b"):
        run_inprocess(tmp_path / "sweeps" / sweep / "r0", ["trainer.epochs=1"])
    own = {p: p.read_bytes() for p in (tmp_path / "sweeps").rglob("*") if p.is_file()}
    args = [str(tmp_path / "sweeps" / "a"), str(tmp_path / "sweeps" / "b")]
    assert compare(args) == 0
    made = tmp_path / "sweeps" / "comparisons" / "all"
    assert (made / "results.csv").is_file() and (made / "report.html").is_file()
    assert {p: p.read_bytes() for p in own} == own  # neither sweep's own files changed
    first = capsys.readouterr()
    assert "replacing" not in first.err
    assert "wrote sweeps/comparisons/all/results.csv" in first.out  # from where it runs
    assert compare(args) == 0
    assert "note: replacing the comparison of " in capsys.readouterr().err
    assert compare([*args, "--out", str(tmp_path / "mine")]) == 0
    assert (tmp_path / "mine" / "summary.csv").is_file()


def test_compare_prints_paths_relative_to_where_it_runs(tmp_path, capsys, monkeypatch):
    from posenc.cli.compare import main as compare
    from tests.conftest import run_inprocess

    run_inprocess(tmp_path / "sweep" / "r0", ["trainer.epochs=1"])
    monkeypatch.chdir(tmp_path)
    assert compare(["sweep", "--by", "seed"]) == 0
    wrote = [line for line in capsys.readouterr().out.splitlines() if line.startswith("wrote ")]
    assert wrote and all(line.startswith("wrote sweep/comparisons/by=seed/") for line in wrote)
