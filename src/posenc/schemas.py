"""Typed schemas, derived from the constructors' signatures: the one source of every default.

Each option YAML in conf/<group>/ names its `_target_` (a class or function) and lists
`/schema/<group>/<option>@_here_` first in its defaults. `register_schemas` builds that schema
from the target's signature, so a misspelt key or a wrongly typed value is refused when Hydra
composes the config, and a YAML states only what differs from the signature's defaults.

Written over `inspect` rather than hydra-zen's `builds()`: hydra-zen 0.17 widens `int | None`
and `Literal[...]` to `Any`, which would drop exactly the type checks the schemas are for.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import importlib
import inspect
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from posenc.tracking import DEFAULT_URI

# Arguments the job supplies at build time, never the user: not part of any schema.
RUNTIME_ARGS = {
    "dataset": {"generator"},
    "encoding": {"dim", "seq_len", "n_heads", "causal"},
    "model": {"spec", "encoding"},
    "optimizer": {"params"},
}
GROUPS = tuple(RUNTIME_ARGS)


@dataclass
class TrainerConfig:
    epochs: int = 10
    batch_size: int = 32
    shuffle: bool = True
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    log_every: int = 1  # log one line every N epochs (the first and last always)
    num_threads: Optional[int] = None  # torch CPU threads; null: torch's default  # noqa: UP045


@dataclass
class EvalConfig:
    lengths: list[int] = field(default_factory=list)  # test at these lengths after training
    batch_size: int = 256  # sequences per forward pass when evaluating at other lengths


@dataclass
class Config:
    dataset: Any = MISSING
    encoding: Any = MISSING
    model: Any = MISSING
    optimizer: Any = MISSING
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    plots: Optional[bool] = None  # null: on for single runs, off in sweeps  # noqa: UP045
    overwrite: bool = False  # replace a run of another config in the same folder
    resume: bool = True  # reuse a completed run of the same config in the same folder
    tracking: Optional[str] = None  # mlflow: export runs and sweeps when they end  # noqa: UP045
    tracking_uri: str = DEFAULT_URI


def locate(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _omegaconf_type(hint: Any) -> Any:
    """The nearest annotation OmegaConf can check: X | None -> Optional[X], Literal -> its
    values' type, tuples and sequences -> list; anything else -> Any (unchecked)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in (int, float, bool, str):
        return hint
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(rest) < len(args):
            inner = _omegaconf_type(rest[0])
            return Any if inner is Any else Optional[inner]  # noqa: UP045
        return Any
    if origin is typing.Literal:
        kinds = {type(a) for a in args}
        return kinds.pop() if len(kinds) == 1 else Any
    if origin in (list, tuple, collections.abc.Sequence):
        inner = [a for a in args if a is not Ellipsis]
        item = _omegaconf_type(inner[0]) if len(set(inner)) == 1 else Any
        return list[item]
    return Any


def _parameters(target: Any) -> list[tuple[inspect.Parameter, Any]]:
    """The target's keyword parameters with their type hints; a class's `**kwargs` pulls in
    its base class's parameters (so a model's common keys are written once, on the base)."""
    if not inspect.isclass(target):
        hints = typing.get_type_hints(target)
        return [(p, hints.get(p.name, Any)) for p in inspect.signature(target).parameters.values()]
    out, seen = [], set()
    for cls in target.__mro__:
        if "__init__" not in vars(cls) or cls is object:
            continue
        init = vars(cls)["__init__"]
        hints = typing.get_type_hints(init)
        more = False
        for p in list(inspect.signature(init).parameters.values())[1:]:
            if p.kind is p.VAR_KEYWORD:
                more = True
            elif p.kind is not p.VAR_POSITIONAL and p.name not in seen:
                seen.add(p.name)
                out.append((p, hints.get(p.name, Any)))
        if not more:
            break
    return out


def schema_of(target_path: str, group: str) -> type:
    """A dataclass with `_target_` and one typed field per user-settable parameter."""
    target = locate(target_path)
    fields: list[tuple[str, Any, Any]] = [("_target_", str, field(default=target_path))]
    for p, hint in _parameters(target):
        if p.name in RUNTIME_ARGS[group] or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        kind = _omegaconf_type(hint)
        if p.default is p.empty:
            default = field(default=MISSING)
        elif isinstance(p.default, list | tuple):
            default = field(default_factory=lambda d=p.default: list(d))
        else:
            default = field(default=p.default)
        fields.append((p.name, kind, default))
    return dataclasses.make_dataclass(f"{target.__name__}Schema", fields)


_registered: set[str] = set()


def register_schemas(config_dir: str | Path) -> None:
    """Store schema/<group>/<option> for every option YAML in config_dir that names a target."""
    config_dir = str(config_dir)
    if config_dir in _registered:
        return
    cs = ConfigStore.instance()
    cs.store(group="schema", name="config", node=Config)
    cs.store(group="schema/trainer", name="default", node=TrainerConfig)
    for group in GROUPS:
        for path in sorted(Path(config_dir, group).glob("*.yaml")):
            target = (yaml.safe_load(path.read_text()) or {}).get("_target_")
            if target:
                cs.store(group=f"schema/{group}", name=path.stem, node=schema_of(target, group))
    _registered.add(config_dir)
