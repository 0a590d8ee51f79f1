"""Composition through Hydra, schemas derived from signatures, and checks before training."""

import dataclasses
import inspect
import itertools
from pathlib import Path

import pytest
import torch

import posenc
from posenc.config.compose import compose_job, config_dir
from posenc.config.schemas import locate, runtime_args
from posenc.errors import ConfigError
from posenc.jobs.job import build_job

from .conftest import compose_cfg

DATASETS = ["random", "weighted_sum"]
ENCODINGS = ["none", "sinusoidal", "learnable", "linear"]
MODELS = ["linear", "tanh_ffn", "lstm"]
OPTIMIZERS = ["sgd", "adam"]
TINY = ["dataset.n_samples=20", "dataset.seq_len=5", "dataset.feature_dim=3"]


def options(group):
    return sorted(p.stem for p in Path(config_dir(), group).glob("*.yaml"))


def combinations():
    """Every combination; the fast loop runs one per encoding × model pair, datasets and
    optimizers alternating (every option at least once), the full suite all 48."""
    pairs = list(itertools.product(ENCODINGS, MODELS))
    fast = {(DATASETS[i % 2], e, m, OPTIMIZERS[i // 2 % 2]) for i, (e, m) in enumerate(pairs)}
    for combo in itertools.product(DATASETS, ENCODINGS, MODELS, OPTIMIZERS):
        yield combo if combo in fast else pytest.param(*combo, marks=pytest.mark.slow)


@pytest.mark.parametrize("dataset, encoding, model, optimizer", list(combinations()))
def test_every_combination_builds_and_runs_a_step(dataset, encoding, model, optimizer):
    cfg = compose_cfg(
        [f"dataset={dataset}", f"encoding={encoding}", f"model={model}", f"optimizer={optimizer}"]
        + TINY
    )
    job = build_job(cfg)
    x, y = job.kind.data.train.x, job.kind.data.train.y
    assert x.shape[1:] == (5, 3)
    loss = torch.nn.functional.mse_loss(job.model(x), y)
    loss.backward()
    job.optimizer.step()
    assert torch.isfinite(loss)
    assert type(job.optimizer).__name__.lower() == optimizer


@pytest.mark.parametrize("group", ["dataset", "encoding", "model", "optimizer"])
def test_each_option_has_exactly_its_signature_keys_and_defaults(group):
    """The schema is the signature: every keyword parameter is a key with its default."""
    for option in options(group):
        cfg = compose_cfg([f"{group}={option}"])[group]
        target = locate(cfg._target_)
        params = {}
        for cls in inspect.getmro(target) if inspect.isclass(target) else [target]:
            if inspect.isclass(target) and "__init__" not in vars(cls):
                continue
            fn = vars(cls)["__init__"] if inspect.isclass(target) else cls
            for p in inspect.signature(fn).parameters.values():
                if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD:
                    params.setdefault(p.name, p.default)
            if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()):
                break
        shared = getattr(target, "shared_keys", None)  # a dataset's **sizes
        if shared is not None:
            params.update({f.name: f.default for f in dataclasses.fields(shared)})
        params = {k: v for k, v in params.items() if k != "self" and k not in runtime_args(group)}
        keys = set(cfg) - {"_target_"}
        assert keys == set(params), (group, option)
        yaml_text = Path(config_dir(), group, f"{option}.yaml").read_text()
        for key, default in params.items():
            if f"\n{key}:" in yaml_text:
                continue  # the YAML says what differs
            want = list(default) if isinstance(default, tuple) else default
            assert cfg[key] == want, (group, option, key)


def test_defaults():
    cfg = compose_cfg()
    assert cfg.seed == 0 and cfg.trainer.device == "auto"
    assert (cfg.dataset.seq_len, cfg.dataset.n_samples, cfg.dataset.feature_dim) == (20, 1000, 10)
    assert cfg.model.d_model is None and cfg.encoding.scale == 1.0


def test_preset_values_can_still_be_overridden():
    cfg = compose_cfg(["+experiment=sinusoidal_lstm", "trainer.epochs=2", "encoding=learnable"])
    assert cfg.trainer.epochs == 2 and cfg.encoding._target_.endswith("Learnable")


@pytest.mark.parametrize(
    "override, key",
    [
        ("encoding.ini=zeros", "encoding.ini"),
        ("sed=1", "sed"),
        ("trainer.epoch=3", "trainer.epoch"),
        ("model.hidden=3", "model.hidden"),
    ],
)
def test_misspelt_key_is_refused_by_the_schema_in_one_line(override, key):
    with pytest.raises(ConfigError) as err:
        compose_cfg([override])
    assert err.value.key == key and "no such key" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "override",
    [
        "trainer.epochs=many",
        "encoding.max_len=long",
        "optimizer.betas=[a,b]",
        "dataset.seq_len=1.5",
    ],
)
def test_wrong_type_is_refused(override):
    with pytest.raises(ConfigError) as err:
        compose_cfg([override])
    assert override.split("=")[0].split(".")[0] in err.value.key


@pytest.mark.parametrize(
    "override, key, listed",
    [
        ("encoding=foo", "encoding", "sinusoidal"),
        ("+experiment=nope", "experiment", "sinusoidal_lstm"),
    ],
)
def test_unknown_option_lists_the_valid_ones(override, key, listed):
    with pytest.raises(ConfigError) as err:
        compose_cfg([override])
    assert err.value.key == key and listed in str(err.value)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["optimizer.lr=0"], "optimizer.lr"),
        (["optimizer.lr=-0.1"], "optimizer.lr"),
        (["optimizer.lr=inf"], "optimizer.lr"),
        (["optimizer.betas=[2,3]"], "optimizer.betas"),
        (["optimizer.weight_decay=-1"], "optimizer.weight_decay"),
        (["optimizer=sgd", "optimizer.momentum=-1"], "optimizer.momentum"),
        (["trainer.epochs=0"], "trainer.epochs"),
        (["trainer.batch_size=0"], "trainer.batch_size"),
        (["trainer.num_threads=-1"], "trainer.num_threads"),
        (["seed=-1"], "seed"),
        (["dataset.seq_len=0"], "dataset.seq_len"),
        (["model.d_model=0"], "model.d_model"),
        (["model.head_init=nan"], "model.head_init"),
        (["encoding.base=0"], "encoding.base"),
        (["encoding.combine=mul"], "encoding.combine"),
        (["dataset.val_fraction=1.5"], "dataset.val_fraction"),
        (["dataset.val_fraction=0.6", "dataset.test_fraction=0.6"], "dataset.val_fraction"),
        (["trainer.device=tpu"], "trainer.device"),
        (["trainer.device=mps"], "trainer.device"),
        (["model=tanh_ffn", "model.activation=gelu"], "model.activation"),
        (["model=linear", "model.readout=max"], "model.readout"),
    ],
)
def test_bad_values_are_refused_before_training_with_the_key(overrides, key):
    if key == "trainer.device" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    with pytest.raises(ConfigError) as err:
        build_job(compose_cfg(TINY + overrides))
    assert err.value.key == key
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_a_preset_with_a_model_it_was_not_made_for_names_the_one_that_was(tmp_path):
    from tests.conftest import run_cli

    result = run_cli(["+experiment=chomsky", "model=lstm"], tmp_path)
    assert result.returncode == 2
    said = result.stderr.strip().splitlines()[-1]
    assert said == (
        "model.n_heads: +experiment=chomsky sets model.n_heads, which LSTM does not have; "
        "for model=lstm use +experiment=chomsky_lstm"
    )
    assert "ConfigKeyError" not in result.stderr


# ------------------------------------------------------------------ where posenc leans on Hydra


def test_hydras_run_and_report_still_swallows_errors_and_the_one_patch_lets_them_through(
    monkeypatch,
):
    """Hydra's public API has no switch but HYDRA_FULL_ERROR (which launched workers would
    inherit; hydra issue #2923 asked for a config key): posenc patches run_and_report, in
    posenc.cli.train.hydra_raises alone. This fails when Hydra changes what it patches."""
    from hydra._internal import utils

    from posenc.cli.train import hydra_raises

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    def fails():
        raise ValueError("a job's own error")

    with pytest.raises(SystemExit):  # Hydra's: printed, exit 1
        utils.run_and_report(fails)
    with hydra_raises(), pytest.raises(ValueError, match="a job's own error"):
        utils.run_and_report(fails)
    assert utils.run_and_report is not None and utils.run_and_report.__name__ == "run_and_report"


def test_the_preset_mismatch_reader_still_reads_hydras_own_error_text():
    """posenc.config.compose.preset_mismatch reads Hydra's error text (no structured error
    says which preset set a key the chosen option lacks): this fails when that text changes."""
    from hydra import compose, initialize_config_dir

    from posenc.config.compose import config_dir, preset_mismatch, register_resolvers
    from posenc.config.schemas import register_schemas

    register_schemas(config_dir())
    register_resolvers()
    overrides = ["+experiment=chomsky", "model=lstm"]
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        with pytest.raises(Exception) as caught:
            compose("config", overrides=overrides)
    said = preset_mismatch(str(caught.value), overrides)
    assert said is not None and "chomsky_lstm" in str(said)


@pytest.mark.parametrize(
    "overrides, says",
    [
        (["device=cuda"], "device: no such key; did you mean trainer.device?"),
        (["d_model=64"], "d_model: no such key; did you mean model.d_model?"),
        (["lr=0.01"], "lr: no such key; did you mean optimizer.lr?"),
        (["model.dmodel=64"], "model.dmodel: no such key; did you mean model.d_model?"),
        (["trainer.epoch=3"], "trainer.epoch: no such key; did you mean trainer.epochs?"),
        (["dataset=parity_check", "maxlen=4"], "did you mean dataset.max_len or encoding.max_len?"),
        (["bogus=1"], "bogus: no such key; keys: dataset,"),
    ],
)
def test_a_key_at_the_wrong_depth_or_misspelt_names_the_key_meant(overrides, says):
    with pytest.raises(ConfigError) as caught:
        posenc.run(overrides)
    assert says in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "preset, steps, every, warmup, checkpoint",
    [
        ("chomsky", None, 250, 0, None),  # the presets' own budgets: as they were
        ("train_short_test_long", None, 500, 100, 1000),
        ("chomsky", 300, 25, 0, None),  # shortened: still twelve rounds, a curve to draw
        ("chomsky_stack_rnn", 60, 5, 0, None),
        ("train_short_test_long", 100, 16, 3, 32),  # the warmup fits, checkpoints end rounds
    ],
)
def test_a_shortened_preset_scales_its_rounds_warmup_and_checkpoints(
    preset, steps, every, warmup, checkpoint
):
    given = [f"+experiment={preset}", *([f"trainer.steps={steps}"] if steps else [])]
    cfg, _ = compose_job(given)
    assert cfg.trainer.eval_every == every
    assert cfg.scheduler.get("warmup_steps", 0) == warmup
    assert cfg.trainer.checkpoint_every == checkpoint
    build_job(cfg)  # refused by nothing


def test_keys_the_user_gives_win_over_the_presets_shares():
    cfg, _ = compose_job(["+experiment=chomsky", "trainer.steps=300", "trainer.eval_every=100"])
    assert cfg.trainer.eval_every == 100


def test_a_folder_name_hydra_cannot_read_says_how_to_quote_it():
    name = "outputs/runs/2026-12-03_14-35-59_629115_encoding=learnable,model=lstm"
    with pytest.raises(ConfigError) as caught:
        posenc.run([f"init_from={name}"])
    said = str(caught.value)
    assert said.startswith("init_from: cannot read the override") and "\n" not in said
    assert f"\"init_from='{name}'\"" in said
    with pytest.raises(ConfigError, match="holds no run|no such run folder"):
        posenc.run([f"init_from='{name}'"])  # quoted as it says: Hydra reads it
