"""Config composition through Hydra's compose API."""

import itertools

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from posenc.config import ConfigError, check_config

from .conftest import compose_cfg

DATASETS = ["random", "weighted_sum"]
ENCODINGS = ["none", "sinusoidal", "learnable", "linear"]
MODELS = ["linear", "tanh_ffn", "lstm"]
OPTIMIZERS = ["sgd", "adam"]


@pytest.mark.parametrize(
    "dataset, encoding, model, optimizer",
    list(itertools.product(DATASETS, ENCODINGS, MODELS, OPTIMIZERS)),
)
def test_every_combination_composes(dataset, encoding, model, optimizer):
    cfg = compose_cfg(
        [f"dataset={dataset}", f"encoding={encoding}", f"model={model}", f"optimizer={optimizer}"]
    )
    assert cfg.dataset._target_.startswith("posenc.data.")
    assert cfg.optimizer._partial_ is True
    assert (
        cfg.optimizer._target_ == {"sgd": "torch.optim.SGD", "adam": "torch.optim.Adam"}[optimizer]
    )
    check_config(cfg)


def test_defaults():
    cfg = compose_cfg()
    assert cfg.seed == 0 and cfg.trainer.device == "auto"
    assert 0 < cfg.dataset.val_fraction <= 0.2 and 0 < cfg.dataset.test_fraction <= 0.2
    assert cfg.dataset.seq_len == 20 and cfg.dataset.n_samples == 1000
    assert cfg.dataset.feature_dim == 10 and cfg.model.d_model is None


def test_preset_sinusoidal_lstm():
    cfg = compose_cfg(["+experiment=sinusoidal_lstm"])
    assert cfg.dataset._target_.endswith("weighted_sum_dataset")
    assert cfg.encoding._target_.endswith("Sinusoidal")
    assert (cfg.model.d_model, cfg.model.hidden_dim) == (32, 32)
    assert (cfg.optimizer.lr, cfg.trainer.batch_size, cfg.trainer.epochs) == (1e-3, 32, 10)


def test_preset_learnable_dummy():
    cfg = compose_cfg(["+experiment=learnable_dummy"])
    d = cfg.dataset
    n_train = (
        d.n_samples - round(d.n_samples * d.val_fraction) - round(d.n_samples * d.test_fraction)
    )
    assert (d.seq_len, d.feature_dim, d.target, n_train) == (10, 16, "step", 32)
    assert cfg.trainer.batch_size >= n_train  # full batch
    assert (cfg.encoding.init, cfg.encoding.std) == ("normal", 1.0)
    assert cfg.model._target_.endswith("LinearBody") and cfg.model.d_model is None


def test_preset_tanh_ffn_context():
    cfg = compose_cfg(["+experiment=tanh_ffn_context"])
    assert (cfg.dataset.mode, cfg.dataset.series_len, cfg.dataset.seq_len) == ("windows", 100, 10)
    assert (cfg.model.hidden_dim, cfg.model.activation) == (128, "relu")
    assert (cfg.optimizer.lr, cfg.trainer.batch_size, cfg.trainer.epochs) == (5e-3, 1, 100)


def test_preset_values_can_still_be_overridden():
    cfg = compose_cfg(["+experiment=sinusoidal_lstm", "trainer.epochs=2", "encoding=learnable"])
    assert cfg.trainer.epochs == 2 and cfg.encoding._target_.endswith("Learnable")


@pytest.mark.parametrize("override", ["encoding.ini=zeros", "sed=1", "trainer.epoch=3"])
def test_misspelt_key_is_refused_by_the_schema(override):
    with pytest.raises((ConfigCompositionException, ConfigKeyError)) as err:
        compose_cfg([override])
    assert override.split("=")[0].split(".")[-1] in str(err.value) + str(err.value.__cause__)


def test_wrong_type_is_refused():
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose_cfg(["trainer.epochs=many"])


@pytest.mark.parametrize(
    "override, key",
    [
        ("optimizer.lr=0", "optimizer.lr"),
        ("optimizer.lr=-0.1", "optimizer.lr"),
        ("trainer.epochs=0", "trainer.epochs"),
        ("trainer.batch_size=0", "trainer.batch_size"),
        ("dataset.seq_len=0", "dataset.seq_len"),
        ("model.d_model=0", "model.d_model"),
        ("dataset.val_fraction=1.5", "dataset.val_fraction"),
        ("trainer.device=tpu", "trainer.device"),
    ],
)
def test_check_config_names_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        check_config(compose_cfg([override]))
    assert err.value.key == key
