"""The search space of a sweep, as Optuna reads it: one distribution per sweep override (the
official hydra-optuna-sweeper's mapping), the grid of a grid search, and the sampler options
of the `hydra/sweeper/sampler` group that no longer exist in Optuna.
"""

from __future__ import annotations

import functools
from typing import Any

from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)

from posenc.errors import ConfigError


def removed(name: str, replacement: str, **keys: Any) -> None:
    """The `_target_` of a sampler option Optuna dropped: refused in one line."""
    raise ConfigError(
        "hydra/sweeper/sampler",
        f"{name} was removed in optuna 4.0 (TPESampler now samples several objectives): "
        f"choose hydra/sweeper/sampler={replacement} (or nsgaii)",
    )


# samplers that need a package optuna does not install itself: (class, package)
NEEDS = {"CmaEsSampler": "cmaes"}


def check_installed(sampler: Any) -> None:
    """A sampler whose package is missing, refused in one line before the first trial
    (Optuna would fail at the first trial's sampling)."""
    import importlib.util

    name = type(sampler).__name__
    package = NEEDS.get(name)
    if package is not None and importlib.util.find_spec(package) is None:
        raise ConfigError(
            "hydra/sweeper/sampler",
            f"{name} needs the {package} package: pip install 'posenc[optuna]' installs it",
        )


def distribution(override: Override) -> Any:
    """The Optuna distribution of one sweep override: choice -> categorical; a numeric range
    -> ints or floats with its step, ordered (its last value is the high end); interval ->
    uniform, tag(log, ...) -> log-uniform. Raises ConfigError, naming the key, for what is
    not a search space Optuna can sample."""
    import optuna.distributions as d

    key, value = override.get_key_element(), override.value()
    if isinstance(value, ChoiceSweep):
        choices = [x for x in override.sweep_iterator(transformer=Transformer.encode)]
        return d.CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise ConfigError(key, f"{override.input_line}: the range holds no value")
        if value.shuffle or len(values) == 1:
            return d.CategoricalDistribution(values)
        if all(isinstance(v, int) for v in values):
            return d.IntDistribution(values[0], values[-1], step=values[1] - values[0])
        step = float(value.step)
        last = float(f"{values[-1]:.12g}")  # 0.009000000000000001 is 0.009
        return d.FloatDistribution(float(values[0]), last, step=step)
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        start, end = value.start, value.end
        if not start <= end:
            raise ConfigError(key, f"interval({start}, {end}) is reversed: give the low end first")
        if log_scale and start <= 0:
            raise ConfigError(key, f"a log interval must start above 0, not at {start}")
        if isinstance(start, int) and isinstance(end, int):
            return d.IntDistribution(int(start), int(end), log=log_scale)
        return d.FloatDistribution(start, end, log=log_scale)
    raise ConfigError(
        key,
        f"{override.input_line} is not a search space; use choice(...), range(...) or "
        "interval(...), optionally tag(log, interval(...))",
    )


def grid(space: dict[str, Any]) -> dict[str, list]:
    """Every value of each param, for GridSampler: choices, a range's values, an int
    interval's integers. A float interval has no grid: refused, naming the key."""
    import optuna.distributions as d

    out: dict[str, list] = {}
    for key, dist in space.items():
        if isinstance(dist, d.CategoricalDistribution):
            out[key] = list(dist.choices)
        elif isinstance(dist, d.IntDistribution):
            out[key] = list(range(dist.low, dist.high + 1, dist.step))
        elif isinstance(dist, d.FloatDistribution) and dist.step is not None:
            n = round((dist.high - dist.low) / dist.step)
            out[key] = [float(f"{dist.low + i * dist.step:.12g}") for i in range(n + 1)]
        else:
            raise ConfigError(
                key,
                f"{dist.low}..{dist.high} is continuous: a grid search needs choice(...), "
                "range(...) or an int interval(...)",
            )
    return out


def grid_size(space: dict[str, list]) -> int:
    return functools.reduce(lambda n, values: n * len(values), space.values(), 1)


def is_grid(sampler: Any) -> bool:
    """The grid option as Hydra builds it: GridSampler waiting for its search space."""
    from optuna.samplers import GridSampler

    return isinstance(sampler, functools.partial) and sampler.func is GridSampler
