"""User mistakes: one exception, reported as one line naming the key, before any training."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


class ConfigError(ValueError):
    """A mistake in the user's configuration: `key: what is wrong and what is valid`."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"{key}: {message}")


def choice_error(key: str, value: Any, choices: Iterable[str]) -> ConfigError:
    return ConfigError(key, f"{value!r} is not valid; choose one of: {', '.join(choices)}")


def check_choice(key: str, value: Any, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise choice_error(key, value, choices)


def check_at_least(key: str, value: int | float | None, low: int | float) -> None:
    """None passes (an optional key left unset); NaN and inf never do."""
    if value is not None and not (math.isfinite(value) and value >= low):
        raise ConfigError(key, f"{value} must be a finite number of at least {low}")


def check_positive(key: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(key, f"{value} must be a finite number greater than 0")


def check_finite(key: str, value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise ConfigError(key, f"{value} must be a finite number")


TRACKERS = ("mlflow",)


def check_tracking(tracking: str | None) -> None:
    """tracking=mlflow needs MLflow installed: said before any training."""
    if tracking is None:
        return
    check_choice("tracking", tracking, (*TRACKERS, "null"))
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError(
            "tracking", "MLflow is not installed; pip install 'posenc[mlflow]' installs it"
        )


def check_tracking_uri(uri: str | None) -> None:
    """A tracking URI never carries credentials: run folders, logs and MLflow's params would
    keep them. MLflow reads them from its own environment variables."""
    if not uri:
        return
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(uri))
        secret = parts.password is not None or (
            parts.scheme in ("http", "https") and parts.username is not None
        )
    except ValueError:
        raise ConfigError("tracking_uri", "is not a URI posenc can read") from None
    if secret:
        raise ConfigError(
            "tracking_uri",
            "holds credentials (user:password@host), which posenc never writes into run "
            "folders or logs; give the URI without them and set MLflow's own variables "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)",
        )
