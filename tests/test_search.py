"""Issue 23: search that fits every task. The objective is the user's choice (refused before
the first trial when no run of the search records it, its direction checked against the
metric's), multi-objective studies write a Pareto front, and configs written for the
official hydra-optuna-sweeper (sampler group, seed, max_failure_rate, range with a step,
custom_search_space) run unchanged apart from the task's keys."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import yaml

from posenc import metrics as m
from posenc.config import objective
from posenc.config.compose import compose_job, config_dir
from posenc.errors import ConfigError
from tests.conftest import run_cli, run_inprocess

optuna = pytest.importorskip("optuna", reason="posenc[optuna] not installed")

SAMPLERS = Path(config_dir()) / "hydra" / "sweeper" / "sampler"


def one_line(result) -> str:
    assert "Traceback" not in result.stderr + result.stdout
    return [line for line in result.stderr.splitlines() if line.strip()][-1]


def study(folder: Path):
    return optuna.load_study(study_name="posenc", storage=f"sqlite:///{folder}/optuna.db")


# ------------------------------------------------------------- what a config records


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer.epochs=1", "dataset.n_samples=64", "eval.lengths=[6,12]"],
        [
            *("dataset=parity_check", "dataset.max_len=4", "model=transformer", "encoding=rope"),
            *("trainer.steps=4", "trainer.eval_every=2", "eval.max_length=6"),
            *("eval.per_length=8", "eval.lengths=[9]", "eval.rope_scalings=[linear]"),
        ],
        [
            *("dataset=text", "dataset.path={text}", "dataset.seq_len=16", "model=transformer"),
            "model.causal=true",
            *("model.d_model=16", "model.n_heads=2", "model.n_layers=1", "encoding=rope"),
            *("trainer.steps=2", "trainer.eval_every=2", "eval.lengths=[32]"),
            "eval.rope_scalings=[ntk]",
        ],
    ],
    ids=["regression", "tokens", "text"],
)
def test_what_a_config_is_said_to_record_is_what_its_run_writes(tmp_path, overrides):
    text = tmp_path / "text.txt"  # a small corpus: the same code as Shakespeare's, faster
    text.write_text("To be, or not to be, that is the question.\n" * 200, encoding="utf-8")
    overrides = [o.format(text=text) for o in overrides]
    cfg, _ = compose_job(overrides)
    said = objective.recorded(cfg)
    written = run_inprocess(tmp_path, overrides)
    assert written["status"] == "completed"
    assert said == {k for k, v in written.items() if m.is_metric(k) and v is not None}


@pytest.mark.parametrize(
    "overrides, says",
    [
        (["objective=score"], "score is recorded by token tasks"),
        (["objective=accuracy@30", "dataset=parity_check", "eval.max_length=25"], "add it to"),
        (["objective=test_loss_ntk@8", "eval.lengths=[8]"], "needs encoding=rope"),
        (["objective=bogus"], "is not a metric posenc knows"),
        (["objective=[score,score]", "dataset=parity_check", "eval.max_length=25"], "twice"),
    ],
)
def test_an_objective_no_run_records_is_one_line(overrides, says):
    cfg, _ = compose_job(overrides)
    with pytest.raises(ConfigError, match=f"^objective: .*{says}"):
        objective.check(cfg)


def test_an_option_that_cannot_be_imported_is_named_before_the_objective_is_checked():
    cfg, _ = compose_job(["dataset._target_=nowhere.Thing"])
    with pytest.raises(ConfigError, match="^dataset._target_: cannot import 'nowhere.Thing'"):
        objective.check(cfg)


def test_the_objective_sets_the_direction_and_a_contrary_one_is_refused():
    from hydra_plugins.posenc_sweepers.optuna_sweeper import OptunaSweeper

    both = ["score", "train_seconds"]
    assert OptunaSweeper().directions(both) == ["maximize", "minimize"]
    assert OptunaSweeper(direction="minimize").directions(["bpc@512"]) == ["minimize"]
    with pytest.raises(ConfigError, match="^hydra.sweeper.direction: minimize score.*set max"):
        OptunaSweeper(direction="minimize").directions(["score"])
    with pytest.raises(ConfigError, match="^hydra.sweeper.direction: 1 direction.*2 object"):
        OptunaSweeper(direction=["maximize"]).directions(both)


# ------------------------------------------------------------ the sampler group


@pytest.mark.parametrize("name", ["tpe", "random", "cmaes", "nsgaii", "grid"])
def test_each_sampler_option_has_its_samplers_keys_and_defaults(name):
    option = yaml.safe_load((SAMPLERS / f"{name}.yaml").read_text())
    module, _, cls = option.pop("_target_").rpartition(".")
    option.pop("_partial_", None)
    signature = inspect.signature(getattr(__import__(module, fromlist=[cls]), cls).__init__)
    expected = {
        p.name: None if p.default is inspect.Parameter.empty else p.default
        for p in list(signature.parameters.values())[1:]
    }
    assert option == expected


def test_a_sampler_whose_package_is_missing_is_one_line(monkeypatch):
    import importlib.util

    from hydra_plugins.posenc_sweepers.samplers import check_installed

    sampler = optuna.samplers.CmaEsSampler()
    check_installed(sampler)  # installed with posenc[optuna]
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "cmaes" else real(name, *a)
    )
    with pytest.raises(ConfigError, match="^hydra/sweeper/sampler: CmaEsSampler needs the cma"):
        check_installed(sampler)


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes", "nsgaii"])
def test_each_sampler_option_runs_a_search(tmp_path, sampler):
    result = run_cli(
        [
            *("-m", "hydra/sweeper=optuna", f"hydra/sweeper/sampler={sampler}"),
            *("hydra.sweeper.sampler.seed=0", "hydra.sweeper.n_trials=3", "trainer.epochs=1"),
            *("dataset.n_samples=64", "optimizer.lr=tag(log,interval(0.0001,0.1))"),
            "hydra.sweep.dir=S",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    trials = study(tmp_path / "S").trials
    assert len(trials) == 3 and all(t.state.name == "COMPLETE" for t in trials)
    assert len({t.params["optimizer.lr"] for t in trials}) == 3


# ------------------------------------------------------------ refused before any trial


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, key, says",
    [
        (["objective=score", "encoding=choice(none,rope)"], "objective", "not recorded by"),
        (
            [
                *("dataset=text", "model=transformer", "model.causal=true", "eval.lengths=[64]"),
                *("eval.rope_scalings=[ntk]", "objective=bpc_ntk@64", "encoding=choice(rope,none)"),
            ],
            "objective",
            "runs of encoding=none",
        ),
        (
            ["objective=test_loss", "hydra.sweeper.direction=maximize", "encoding=choice(none)"],
            "hydra.sweeper.direction",
            "lower test_loss is better",
        ),
        (["hydra/sweeper/sampler=motpe", "encoding=choice(none)"], "hydra/sweeper/sampler", "tpe"),
        (
            ["hydra/sweeper/sampler=grid", "optimizer.lr=interval(0.001,0.01)"],
            "optimizer.lr",
            "a grid search needs",
        ),
        (
            ["hydra.sweeper.custom_search_space=nowhere.configure", "encoding=choice(none)"],
            "hydra.sweeper.custom_search_space",
            "cannot be imported",
        ),
    ],
)
def test_search_mistakes_are_one_line_before_any_trial(tmp_path, args, key, says):
    result = run_cli(["-m", "hydra/sweeper=optuna", *args, "hydra.sweep.dir=S"], tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    line = one_line(result)
    assert line.startswith(f"{key}: ") and says in line, line
    assert not list((tmp_path / "S").rglob("metrics.json"))  # nothing trained


# ------------------------------------------------------------ searches that run


@pytest.mark.slow
def test_a_maximising_grid_search_over_encodings_finds_the_best_score(tmp_path):
    """The ready search (grid sampler, bucket_sort trained on lengths 1..8 for 300 steps,
    scored on 9..12), its encodings narrowed on the command line: RoPE scores about 0.7, no
    encoding about 0.37 (seeds 0 and 1, this budget), so the answer is clear. A learned table
    cannot run past its length: a failed trial, with the reason."""
    result = run_cli(
        [
            *("-m", "hydra/sweeper=search_encoding_score"),
            *("encoding=choice(none,rope,learnable)", "hydra.sweep.dir=S"),
        ],
        tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]  # a run without a score completed
    trials = study(tmp_path / "S").trials
    assert sorted(t.params["encoding"] for t in trials) == ["learnable", "none", "rope"]
    (failed,) = [t for t in trials if t.state.name == "FAIL"]
    assert failed.params["encoding"] == "learnable"
    assert "unsupported at length 9" in failed.user_attrs["failed_because"]
    results = yaml.safe_load((tmp_path / "S" / "optimization_results.yaml").read_text())
    assert (results["objective"], results["direction"]) == ("score", "maximize")
    scores = {
        t.params["encoding"]: json.loads((Path(t.user_attrs["run"]) / "metrics.json").read_text())[
            "score"
        ]
        for t in trials
    }
    assert results["best_params"] == {"encoding": "rope"}
    assert results["best_value"] == scores["rope"] == max(s for s in scores.values() if s)
    assert scores["rope"] > scores["none"] + 0.2


def dominates(a: list[float], b: list[float], signs: list[int]) -> bool:
    """a is at least as good as b everywhere and better somewhere (signs: +1 maximise)."""
    pairs = [(s * x, s * y) for s, x, y in zip(signs, a, b, strict=True)]
    return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)


@pytest.mark.slow
def test_a_two_objective_search_writes_its_pareto_front(tmp_path):
    result = run_cli(
        [
            *("-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=random"),
            *("hydra.sweeper.sampler.seed=0", "hydra.sweeper.n_trials=6"),
            *("dataset=parity_check", "dataset.max_len=6", "eval.max_length=8"),
            *("model=transformer", "trainer.steps=40", "trainer.eval_every=20"),
            "model.d_model=choice(8,16,32)",
            "encoding=choice(none,rope,alibi)",
            "objective=[score,train_seconds]",
            "hydra.sweeper.direction=[maximize,minimize]",
            "hydra.sweep.dir=S",
        ],
        tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = yaml.safe_load((tmp_path / "S" / "optimization_results.yaml").read_text())
    assert results["objective"] == ["score", "train_seconds"]
    assert results["direction"] == ["maximize", "minimize"]
    done = [t for t in study(tmp_path / "S").trials if t.state.name == "COMPLETE"]
    assert len(done) == 6
    signs = [1, -1]
    front = {s["trial"]: s for s in results["solutions"]}
    for trial in done:
        dominated = any(dominates(o.values, trial.values, signs) for o in done if o is not trial)
        assert (trial.number in front) == (not dominated), trial.number
    for solution in front.values():
        metrics = json.loads((Path(solution["run"]) / "metrics.json").read_text())
        assert solution["values"] == [metrics["score"], metrics["train_seconds"]]
        assert f"encoding={solution['params']['encoding']}" in solution["overrides"]
    assert (tmp_path / "S" / "pareto_front.png").stat().st_size > 10_000


OFFICIAL_STYLE = """\
defaults:
  - config  # posenc's primary config, which this one extends
  - override hydra/sweeper: optuna
  - override hydra/sweeper/sampler: tpe
  - _self_

hydra:
  sweeper:
    sampler:
      seed: 123
    direction: minimize
    study_name: official
    storage: null
    n_trials: 6
    n_jobs: 1
    max_failure_rate: 0.0
    params:
      optimizer.lr: range(0.001, 0.01, step=0.001)
      model: choice(lstm, transformer)
    custom_search_space: conditional_space.configure

trainer:
  epochs: 2
dataset:
  n_samples: 64
"""

CONDITIONAL = """\
def configure(cfg, trial):
    # the official plugin's contract: the sweep's config and the trial, after the params
    if trial.params["model"] == "transformer":
        trial.suggest_categorical("model.n_heads", [1, 2])
    else:
        trial.suggest_categorical("model.hidden_dim", [8, 16])
"""


@pytest.mark.slow
def test_a_config_written_for_the_official_plugin_runs(tmp_path):
    """The official plugin's example is a primary config: so is this one, in the user's
    --config-dir, extending posenc's."""
    (tmp_path / "search.yaml").write_text(OFFICIAL_STYLE)
    (tmp_path / "conditional_space.py").write_text(CONDITIONAL)
    # conditional_space is imported from the working folder, as python -m puts it on the path
    result = run_cli(
        ["-m", f"--config-dir={tmp_path}", "--config-name=search", "hydra.sweep.dir=S"],
        tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = optuna.load_study(study_name="official", storage=f"sqlite:///{tmp_path}/S/optuna.db")
    assert isinstance(loaded.sampler, optuna.samplers.TPESampler)
    trials = loaded.trials
    assert len(trials) == 6 and all(t.state.name == "COMPLETE" for t in trials)
    lrs = {round(0.001 * k, 3) for k in range(1, 10)}
    for trial in trials:
        assert round(trial.params["optimizer.lr"], 6) in lrs
        conditional = (
            "model.n_heads" if trial.params["model"] == "transformer" else "model.hidden_dim"
        )
        assert set(trial.params) == {"optimizer.lr", "model", conditional}
        config = yaml.safe_load(
            (Path(trial.user_attrs["run"]) / ".hydra" / "config.yaml").read_text()
        )
        key = conditional.split(".")[1]
        assert config["model"][key] == trial.params[conditional]
        assert config["optimizer"]["lr"] == pytest.approx(trial.params["optimizer.lr"])
    results = yaml.safe_load((tmp_path / "S" / "optimization_results.yaml").read_text())
    assert (results["objective"], results["direction"]) == ("final_val_loss", "minimize")
    assert results["best_value"] == loaded.best_value


@pytest.mark.slow
def test_a_study_is_not_resumed_for_another_objective(tmp_path):
    args = ["-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=1", "trainer.epochs=1"]
    args += ["dataset.n_samples=64", "encoding=choice(none)", "hydra.sweep.dir=S"]
    assert run_cli(args, tmp_path).returncode == 0
    again = run_cli([*args, "objective=test_loss", "hydra.sweeper.n_trials=2"], tmp_path)
    assert again.returncode == 2
    line = one_line(again)
    assert line.startswith("objective: the study 'posenc'") and "optimises final_val_loss" in line
    assert len(study(tmp_path / "S").trials) == 1


def test_two_jobs_of_a_batch_with_the_same_overrides_get_a_config_each():
    """Two trials of one batch may sample the same values: each job gets the config its
    validation composed (the launcher makes a job's config read-only once it runs)."""
    from hydra_plugins.posenc_sweepers.caching import ComposeOnce

    class Loader:
        calls = 0

        def load_sweep_config(self, master, overrides):
            self.calls += 1
            return object()

    loader = ComposeOnce(Loader())
    with loader.keeping():
        validated = [loader.load_sweep_config(None, ["encoding=none"]) for _ in range(2)]
    launched = [loader.load_sweep_config(None, ["encoding=none"]) for _ in range(2)]
    assert launched == validated and launched[0] is not launched[1]
    assert loader.calls == 2  # composed once per job
    loader.load_sweep_config(None, ["encoding=none"])
    assert loader.calls == 3  # nothing kept outside validation
