"""What a Hydra user expects of a runner: schedules, clipping, early stopping, debug presets,
a sensible thread default, and output that says where the run is."""

import logging
import math

import pandas as pd
import pytest
import torch

from posenc.errors import ConfigError
from posenc.jobs.resources import SMALL_MODEL, auto_threads
from posenc.optim import schedulers

from .conftest import compose_cfg, read_metrics, run_inprocess


def lr_at(make, steps: list[int], total: int = 110, **keys) -> list[float]:
    """The lr the schedule gives at each of `steps`, read off a real optimizer (base lr 2)."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    schedule = make(optimizer, total_steps=total, **keys)
    seen = {}
    for step in range(max(steps) + 1):
        seen[step] = optimizer.param_groups[0]["lr"]
        optimizer.step()
        schedule.step()
    return [seen[s] / 2.0 for s in steps]


def test_cosine_with_warmup_at_hand_picked_steps():
    # warmup 10 of 110 steps: 0, halfway up, top, halfway down the cosine, bottom
    got = lr_at(schedulers.cosine, [0, 5, 10, 60, 110], warmup_steps=10)
    assert got == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])
    quarter = lr_at(schedulers.cosine, [35], warmup_steps=10)[0]  # progress 1/4
    assert quarter == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    floor = lr_at(schedulers.cosine, [60, 110], warmup_steps=10, min_factor=0.1)
    assert floor == pytest.approx([0.1 + 0.9 * 0.5, 0.1])


def test_linear_warmup_decay_and_constant():
    got = lr_at(schedulers.linear, [0, 5, 10, 35, 60, 110], warmup_steps=10)
    assert got == pytest.approx([0.0, 0.5, 1.0, 0.75, 0.5, 0.0])
    assert lr_at(schedulers.constant, [0, 50, 109]) == pytest.approx([1.0, 1.0, 1.0])
    assert lr_at(schedulers.constant, [0, 2, 4, 9], warmup_steps=4) == pytest.approx(
        [0.0, 0.5, 1.0, 1.0]
    )


def test_a_run_steps_its_schedule_once_per_optimizer_step(tmp_path, tiny):
    # 52 training sequences in batches of 16: 4 steps an epoch, 2 epochs; linear to 0
    metrics = run_inprocess(
        tmp_path, [*tiny, "scheduler=linear", "optimizer=sgd", "optimizer.lr=0.5"]
    )
    assert metrics["steps"] == 8 and metrics["scheduler"] == "linear"
    # after the last step the factor is 0: the parameters froze at the last update
    assert metrics["status"] == "completed"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["scheduler=cosine", "scheduler.warmup_steps=8"], "scheduler.warmup_steps"),
        (["scheduler=cosine", "scheduler.min_factor=2"], "scheduler.min_factor"),
        (["trainer.grad_clip=0"], "trainer.grad_clip"),
        (["trainer.early_stopping.patience=0"], "trainer.early_stopping.patience"),
        (["trainer.limit_batches=0"], "trainer.limit_batches"),
    ],
)
def test_bad_training_keys_are_refused_with_the_key(tmp_path, tiny, overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        run_inprocess(tmp_path, [*tiny, *overrides])
    assert not (tmp_path / "history.csv").exists()


def test_early_stopping_records_its_reason_and_step(tmp_path, tiny):
    # an lr too small to move the loss by min_delta: best at epoch 1, then 2 epochs without
    # improvement -> stops after epoch 3 of 20, completed
    metrics = run_inprocess(
        tmp_path,
        [
            *tiny,
            "trainer.epochs=20",
            "optimizer=sgd",
            "optimizer.lr=1e-9",
            "trainer.early_stopping.patience=2",
            "trainer.early_stopping.min_delta=0.001",
        ],
    )
    assert metrics["status"] == "completed"
    assert metrics["epochs_completed"] == 3 and metrics["steps"] == 12
    assert "2 epochs" in metrics["stopped_early"]
    assert len(pd.read_csv(tmp_path / "history.csv")) == 3


def test_gradient_clipping_bounds_the_step():
    from omegaconf import OmegaConf

    from posenc.config.schemas import TrainerConfig
    from posenc.data import Split, Splits
    from posenc.jobs.kinds.regression import Regression
    from posenc.jobs.loop import fit

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1, bias=False)
    x, y = torch.randn(8, 1, 3), 100 * torch.ones(8, 1, 1)  # a huge gradient
    data = Splits(Split(x, y), Split(x, y), Split(x, y))
    before = model.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    cfg = OmegaConf.create({"dataset": {}, "eval": {"lengths": []}})
    kind = Regression(data, cfg, TrainerConfig(epochs=1, batch_size=8), "cpu", (0, 0))
    fit(kind, model, optimizer, grad_clip=0.25)
    # one SGD step of lr 1 moves the weights by the clipped gradient: norm 0.25
    assert (model.weight.detach() - before).norm().item() == pytest.approx(0.25, rel=1e-5)


def test_debug_fast_runs_one_batch_for_two_epochs_without_figures(tmp_path):
    from posenc.config.compose import compose_job
    from posenc.jobs.job import run_job

    cfg, choices = compose_job(["+debug=fast"])
    metrics = run_job(cfg, tmp_path, choices, source=None)  # figures as the config says
    assert metrics["epochs_completed"] == 2 and metrics["steps"] == 2
    assert not list(tmp_path.glob("*.png"))


def test_debug_overfit_repeats_the_same_batches(tmp_path, tiny):
    metrics = run_inprocess(tmp_path, [*tiny, "+debug=overfit", "trainer.epochs=40"])
    assert metrics["steps"] == 40 * 4  # the tiny set has only 4 batches
    history = pd.read_csv(tmp_path / "history.csv")
    assert history["train_loss"].iloc[-1] < 0.5 * history["train_loss"].iloc[0]
    assert compose_cfg(["+debug=overfit"]).plots is False


def test_thread_rule_one_for_small_models_cores_shared_for_big(monkeypatch):
    small = torch.nn.Linear(10, 10)
    big = torch.nn.Linear(1000, SMALL_MODEL // 1000 + 1)
    assert auto_threads(small) == 1 and auto_threads(small, parallel_jobs=4) == 1
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert auto_threads(big) == 8
    assert auto_threads(big, parallel_jobs=4) == 2
    assert auto_threads(big, parallel_jobs=16) == 1


def test_a_job_sets_its_threads_by_the_rule(tmp_path, tiny):
    torch.set_num_threads(2)
    run_inprocess(tmp_path, tiny)  # a tiny LSTM: one thread
    assert torch.get_num_threads() == 1
    run_inprocess(tmp_path / "b", [*tiny, "trainer.num_threads=2"])
    assert torch.get_num_threads() == 2


def test_the_log_says_where_the_run_is_and_keeps_tables_out(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="posenc"):
        run_inprocess(tmp_path, ["+experiment=glove_learnable"])
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert info[0] == f"run folder: {tmp_path}"
    (done,) = [m for m in info if m.startswith("done:")]
    assert done.endswith(f"-> {tmp_path}")
    assert not any("encoding after" in m for m in info)  # the table is in the run folder
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert debug == []  # DEBUG is off unless asked for (hydra.verbose=posenc)
    assert read_metrics(tmp_path)["status"] == "completed"


def test_no_progress_bar_when_the_output_is_not_a_terminal(monkeypatch):
    from posenc.progress import progress

    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert progress(total=3).disable
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    bar = progress(total=3)
    assert not bar.disable
    bar.close()


def test_a_sweep_bar_counts_its_planned_jobs():
    from omegaconf import OmegaConf

    from posenc.jobs.sweep_end import planned_jobs

    def config(task, sweeper=None):
        return OmegaConf.create({"hydra": {"overrides": {"task": task}, "sweeper": sweeper or {}}})

    assert planned_jobs(config(["encoding=none,rope", "seed=range(3)", "trainer.epochs=2"])) == 6
    assert planned_jobs(config(["seed=0"])) == 1
    assert planned_jobs(config([], {"n_trials": 20})) == 20
    assert planned_jobs(config(["optimizer.lr=interval(0.1,1)"])) is None
