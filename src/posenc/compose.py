"""From command-line overrides to a typed config: Hydra's composition, shared by the CLI,
the notebook API and the tests, and `build`, Hydra's instantiate with posenc's errors."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from posenc.errors import ConfigError
from posenc.schemas import register_schemas


def config_dir() -> str:
    """conf/ inside an installed wheel, else the repository root's conf/ (source checkout)."""
    packaged = Path(str(files("posenc"))) / "conf"
    if (packaged / "config.yaml").is_file():
        return str(packaged)
    return str(Path(__file__).resolve().parents[2] / "conf")


def build(cfg: Any, key: str, **kwargs: Any) -> Any:
    """hydra.utils.instantiate of the config at `key`, with the error that really happened:
    a target that cannot be imported is a ConfigError naming `<key>._target_`; an error
    raised by the target itself comes out as it was raised (a ConfigError stays one)."""
    try:
        return instantiate(cfg, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        if str(e).startswith("Error locating target"):
            target = cfg.get("_target_") if hasattr(cfg, "get") else None
            raise ConfigError(
                f"{key}._target_", f"cannot import {target!r}; name an importable class or function"
            ) from None
        if cause is not None:
            raise cause from None
        raise ConfigError(f"{key}._target_", " ".join(str(e).split())) from None


def compose_job(overrides: list[str] | tuple[str, ...] = ()) -> tuple[DictConfig, dict[str, str]]:
    """The job config as the CLI composes it, and the option chosen in each group."""
    from hydra import compose, initialize_config_dir

    register_schemas(config_dir())
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


def compose_config(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The CLI's config, composed through Hydra's API (for notebooks, tests, scripts)."""
    return compose_job(overrides)[0]
