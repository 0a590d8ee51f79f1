"""The objective: the metric (or metrics) a job returns to a sweeper, chosen by the top-level
`objective` key (default final_val_loss; a list for a multi-objective search).

What a config's runs will record is known before anything trains (posenc.metrics.recorded,
from the dataset's kind, the evaluation lengths and the encoding), so an objective no run of
the config writes is refused in one line; a value a finished run could not produce
(unsupported at a length, a failed run) is a failed trial, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig

import posenc.metrics as m
from posenc.errors import ConfigError

KEY = "objective"


def names(objective: Any) -> list[str]:
    """The objective's metric names, in order: one name, or a list of them."""
    if isinstance(objective, str):
        given = [objective]
    elif isinstance(objective, Sequence | ListConfig) and objective:
        given = [str(x) for x in objective]
    else:
        raise ConfigError(KEY, f"{objective!r}: give a metric name, or a list of them")
    for name in given:
        try:
            m.better(name)
        except KeyError as e:
            raise ConfigError(KEY, e.args[0]) from None
    if len(set(given)) < len(given):
        raise ConfigError(KEY, f"{given} names a metric twice")
    return given


def directions(objective: Any) -> list[str]:
    """Optuna's direction for each objective, from its metric's known direction."""
    return ["maximize" if m.better(n) == m.HIGHER else "minimize" for n in names(objective)]


def _target(cfg: DictConfig, key: str) -> Any:
    """The class or function an option names, imported (nothing built)."""
    from posenc.signatures import locate

    target = str(cfg[key].get("_target_"))
    try:
        return locate(target)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError(
            f"{key}._target_", f"cannot import {target!r}; name an importable class or function"
        ) from None


def dataset_kind(cfg: DictConfig) -> str:
    """The `kind` the dataset's `_target_` declares (a function that returns
    posenc.data.Splits declares none: the default kind); nothing is built."""
    return getattr(_target(cfg, "dataset"), "kind", None) or m.default_kind().name


def recorded(cfg: DictConfig) -> frozenset[str]:
    """The metric names a completed run of `cfg` writes to metrics.json."""
    kind = dataset_kind(cfg)
    lengths = [int(n) for n in cfg.eval.lengths]
    max_length = cfg.eval.get("max_length")
    scored = m.kind_spec(kind).scores_range and max_length is not None
    if scored:
        lengths += range(int(cfg.dataset.max_len) + 1, int(max_length) + 1)
    encoding = _target(cfg, "encoding")
    scalings = list(cfg.eval.get("rope_scalings") or ()) if hasattr(encoding, "rescaled") else []
    return m.recorded(kind, lengths, scalings, list(cfg.eval.lengths), scored)


def check(cfg: DictConfig, where: str = "this run") -> None:
    """Refuse, in one line, an objective that runs of `cfg` do not record. `where` names the
    config in the message (a search's choice, say)."""
    have = recorded(cfg)
    for name in names(cfg.get(KEY, m.HEADLINE)):
        if name not in have:
            kind = dataset_kind(cfg)
            raise ConfigError(
                KEY,
                f"{name} is not recorded by {where} (dataset {_dataset_name(cfg)}: "
                f"{m.kind_spec(kind).label}): {why_missing(name, kind)}; it records "
                f"{describe(have)}",
            )


def why_missing(name: str, kind: str) -> str:
    parsed = m.split_length(name)
    family = parsed[0] if parsed else name
    owners = m.recorded_by(family if parsed else name)
    if kind not in {s.name for s in owners}:
        names = sorted(s.plural for s in owners)
        return f"{family} is recorded by {' and '.join(names)}"
    if name == m.TASK_HEADLINE:
        return "score is the mean accuracy past dataset.max_len up to eval.max_length: set it"
    base, scaling = m.split_scaling(family)
    if scaling:
        return (
            f"{base}_{scaling}@L needs encoding=rope with eval.rope_scalings=[{scaling}] "
            f"and L in eval.lengths"
        )
    return (
        f"length {parsed[1]} is not evaluated: add it to eval.lengths (a token task also "
        "evaluates every length up to eval.max_length)"
    )


def describe(have: frozenset[str]) -> str:
    """The recorded names, each length family as family@L1,L2,…"""
    plain = [n for n in m.SUMMARY if n in have]
    families: dict[str, list[int]] = {}
    for name in have:
        if (parsed := m.split_length(name)) is not None:
            families.setdefault(parsed[0], []).append(parsed[1])
    spans = [f"{f}@{_span(sorted(ls))}" for f, ls in sorted(families.items())]
    return ", ".join(plain + spans)


def _span(lengths: list[int]) -> str:
    if len(lengths) > 2 and lengths[-1] - lengths[0] == len(lengths) - 1:
        return f"{lengths[0]}..{lengths[-1]}"
    return ",".join(map(str, lengths))


def _dataset_name(cfg: DictConfig) -> str:
    """The dataset option chosen (known where Hydra's node is), else its target's name."""
    from omegaconf import OmegaConf

    chosen = OmegaConf.select(cfg, "hydra.runtime.choices.dataset", default=None)
    return str(chosen or str(cfg.dataset.get("_target_", "?")).rpartition(".")[2])


def outcome(metrics: dict[str, Any], objective: Any, run_dir: Path | None = None):
    """(values, None) for a completed run with every objective finite; (None, reason)
    otherwise, the reason read from the run folder (the length rows say why a length was
    unsupported)."""
    from posenc.store.status import Status

    wanted = names(objective)
    if metrics.get("status") != Status.COMPLETED:
        error = metrics.get("error") or metrics.get("status") or "no metrics.json"
        return None, f"the run did not complete ({metrics.get('status')}): {error}"
    values = []
    for name in wanted:
        value = metrics.get(name)
        if isinstance(value, int | float) and math.isfinite(value):
            values.append(float(value))
            continue
        return None, f"{name} has no value: {_reason(name, metrics, run_dir)}"
    return values, None


def _reason(name: str, metrics: dict[str, Any], run_dir: Path | None) -> str:
    if name == m.TASK_HEADLINE and metrics.get("score_unsupported"):
        return str(metrics["score_unsupported"])
    parsed = m.split_length(name)
    if parsed is not None and run_dir is not None:
        from posenc.store import run_folder as rf

        scaling = m.split_scaling(parsed[0])[1]
        for row in rf.read_length_eval(run_dir):
            same = row.get("length") == str(parsed[1]) and (row.get("scaling") or "") == scaling
            if same and row.get("status") != "ok":
                return f"{row.get('status')} at length {parsed[1]}: {row.get('reason')}"
    if name in metrics:
        return f"the run recorded {metrics[name]!r}"
    return "the run did not record it"


def value(values: list[float] | None, objective: Any) -> float | list[float] | None:
    """What a job returns: one number for one objective, a list for several."""
    if values is None:
        return None
    return values[0] if isinstance(objective, str) else values  # names() allowed str or list
