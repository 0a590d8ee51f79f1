"""A job that crashes after training is `failed`, never `completed`: in the run folder, in a
sweep's tables and exit code, and on rerun (it is trained again, not reused)."""

import textwrap

import pandas as pd
import pytest

from posenc.jobs import job as job_module
from posenc.jobs.kinds import Kind

from .conftest import read_metrics, run_cli, run_dirs, run_inprocess


def _boom(*args, **kwargs):
    raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("where", "target", "step", "overrides"),
    [
        (Kind, "evaluate_lengths", "length_eval", ["eval.lengths=[12]"]),
        (job_module, "outcome", "test", []),
    ],
)
def test_a_crash_after_training_is_failed_with_its_step(
    tmp_path, tiny, monkeypatch, where, target, step, overrides
):
    monkeypatch.setattr(where, target, _boom)
    with pytest.raises(RuntimeError, match="boom"):
        run_inprocess(tmp_path, [*tiny, *overrides])
    metrics = read_metrics(tmp_path)
    assert metrics["status"] == "failed"
    assert metrics["failed_step"] == step
    assert metrics["error"] == "RuntimeError: boom"
    assert len(pd.read_csv(tmp_path / "history.csv")) == 2  # training itself finished


@pytest.mark.parametrize(
    "overrides",
    [
        # rotates 2 of 8 dimensions: NTK's s^(r/(r−2)) is undefined
        ["model=transformer", "encoding=rope", "encoding.fraction=0.25", "encoding.scaling=ntk"],
    ],
)
def test_impossible_scalings_are_refused_before_training(tmp_path, tiny, overrides):
    from posenc.errors import ConfigError

    with pytest.raises(ConfigError, match="encoding.scaling"):
        run_inprocess(tmp_path, [*tiny, *overrides, "eval.lengths=[12]"])
    assert read_metrics(tmp_path)["status"] == "failed"
    assert not (tmp_path / "history.csv").exists()


def test_randomized_sinusoidal_evaluated_plainly_past_its_range_runs(tmp_path, tiny):
    metrics = run_inprocess(
        tmp_path,
        [
            *tiny,
            "encoding=sinusoidal",
            "encoding.randomize=true",
            "encoding.max_position=8",
            "encoding.random_eval=false",
            "eval.lengths=[12]",
        ],
    )
    assert metrics["status"] == "completed" and metrics["test_loss@12"] is not None


CRASHING_DATASET = """
from posenc.data.weighted_sum import weighted_sum_dataset


def crashes_when_longer(generator, seq_len=6, **kwargs):
    if seq_len > 6:
        raise RuntimeError("cannot build longer sequences")
    return weighted_sum_dataset(generator, seq_len=seq_len, **kwargs)
"""


@pytest.mark.slow
def test_a_sweep_counts_a_crash_after_training_as_failed_and_reruns_it(tmp_path, tiny, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    (tmp_path / "my_data.py").write_text(CRASHING_DATASET)
    (tmp_path / "my_conf" / "dataset").mkdir(parents=True)
    (tmp_path / "my_conf" / "dataset" / "crashy.yaml").write_text(
        textwrap.dedent("""\
            _target_: my_data.crashes_when_longer
            seq_len: 6
            n_samples: 64
            feature_dim: 3
            """)
    )
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        "--config-dir",
        "my_conf",
        *[t for t in tiny if not t.startswith("dataset.")],
        "dataset=crashy",
        "eval.lengths=[12]",
        "seed=0,1",
        f"hydra.sweep.dir={sweep}",
    ]
    first = run_cli(args, cwd=tmp_path)
    assert first.returncode == 1, first.stderr[-2000:]
    runs = run_dirs(sweep)
    assert len(runs) == 2
    for run in runs:
        metrics = read_metrics(run)
        assert metrics["status"] == "failed" and metrics["failed_step"] == "length_eval"
        assert "cannot build longer sequences" in metrics["error"]
    summary = pd.read_csv(sweep / "summary.csv")
    assert summary["n"].tolist() == [2] and summary["n_completed"].tolist() == [0]
    results = pd.read_csv(sweep / "results.csv")
    assert set(results["status"]) == {"failed"}
    assert "did not complete" in first.stderr + first.stdout

    before = {run: (run / "history.csv").stat().st_mtime_ns for run in runs}
    again = run_cli(args, cwd=tmp_path)
    assert again.returncode == 1
    assert "reused" not in again.stderr + again.stdout
    for run in runs:  # trained again, not taken as finished
        assert (run / "history.csv").stat().st_mtime_ns != before[run]
        assert read_metrics(run)["status"] == "failed"


@pytest.mark.parametrize("again", ["resume=false", "overwrite=true"])
def test_rerunning_a_folder_leaves_the_users_own_files_alone(tmp_path, tiny, again):
    import posenc

    posenc.run(tiny, output_dir=tmp_path)
    (tmp_path / "my_notes.log").write_text("keep me\n")
    (tmp_path / "train.log").write_text("the old run's log\n")
    posenc.run([*tiny, again], output_dir=tmp_path)
    assert (tmp_path / "my_notes.log").read_text() == "keep me\n"
    assert "the old run's log" not in (tmp_path / "train.log").read_text()


@pytest.mark.slow
def test_a_figure_that_cannot_be_drawn_costs_a_warning_not_the_run(tmp_path, tiny):
    from posenc.analysis.drawer import FigureDrawer

    metrics = run_inprocess(tmp_path, [*tiny, "encoding=learnable"])
    (tmp_path / "encoding_final.npy").write_bytes(b"not an array")
    drawer = FigureDrawer()  # the drawing process, as a run with figures uses it
    drawer.draw(tmp_path, metrics)
    drawer.close()
    (warning,) = metrics["warnings"]
    assert warning.startswith("could not draw the run's figures")
    assert metrics["status"] == "completed"
    assert (tmp_path / "loss.png").exists() is False  # the drawing stopped at the table


@pytest.mark.slow
def test_a_run_with_figures_draws_them(tmp_path, tiny):
    from posenc.config.compose import compose_job
    from posenc.jobs.job import run_job

    cfg, choices = compose_job([*tiny, "encoding=learnable", "plots=true"])
    metrics = run_job(cfg, tmp_path, choices, source=None)
    assert "warnings" not in metrics
    for name in ("encoding.png", "loss.png"):
        assert (tmp_path / name).stat().st_size > 5_000
