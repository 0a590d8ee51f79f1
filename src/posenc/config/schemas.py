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
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional  # noqa: UP035

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from posenc.metrics import HEADLINE
from posenc.signatures import locate, parameters
from posenc.store import GROUPS, TRACKING_TIMEOUT, TRACKING_URI


def runtime_args(group: str) -> frozenset[str]:
    """Arguments the job supplies at build time, never the user (not part of any schema), as
    each family's contract declares them."""
    if group == "dataset":
        from posenc.data import RECEIVES
    elif group == "encoding":
        from posenc.encodings.base import RECEIVES
    elif group == "model":
        from posenc.models.base import RECEIVES
    elif group == "scheduler":
        from posenc.optim.schedulers import RECEIVES
    elif group == "curriculum":
        from posenc.data.curricula import RECEIVES
    else:
        from posenc.optim.optimizers import RECEIVES
    return frozenset(RECEIVES)


@dataclass
class EarlyStopping:
    patience: Optional[int] = None  # stop after this many epochs without a better val_loss  # noqa: UP045
    min_delta: float = 0.0  # what counts as better: lower by more than this


@dataclass
class TrainerConfig:
    epochs: int = 10  # passes over a fixed-split dataset
    steps: Optional[int] = None  # batches of a sampled token task; null: 10000  # noqa: UP045
    eval_every: int = 100  # a token task's validation round: every this many steps
    batch_size: int = 32
    shuffle: bool = True
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    log_every: int = 1  # log one line every N epochs (the first and last always)
    num_threads: Optional[int] = None  # torch CPU threads; null: resources.auto_threads  # noqa: UP045
    grad_clip: Optional[float] = None  # clip the gradients' global norm to this  # noqa: UP045
    # every kind: at most N batches a round (an epoch, or eval_every steps), the same first
    # N every round (overfit), at most N rounds: the budget +debug=fast|overfit cuts
    limit_batches: Optional[int] = None  # noqa: UP045
    overfit_batches: Optional[int] = None  # noqa: UP045
    limit_rounds: Optional[int] = None  # noqa: UP045
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    # a checkpoint every N optimizer steps (ending a round: a multiple of an epoch's steps,
    # or of eval_every), to continue an interrupted run; null: only the trained model, at
    # the end
    checkpoint_every: Optional[int] = None  # noqa: UP045

    @property
    def max_batches(self) -> Optional[int]:  # noqa: UP045
        """Batches a round is cut to: overfit_batches (always the same ones) or limit_batches."""
        return self.overfit_batches or self.limit_batches


@dataclass
class EvalConfig:
    lengths: list[int] = field(default_factory=list)  # test at these lengths after training
    # sequences per evaluation forward pass; null: about 2048 token positions on a CPU (the
    # fastest measured), 256 sequences on a GPU (posenc.jobs.kinds.base.pass_size)
    batch_size: Optional[int] = None  # noqa: UP045
    max_length: Optional[int] = None  # token tasks: score every length past max_len to this  # noqa: UP045
    per_length: int = 512  # token tasks: sequences scored at each evaluation length
    # a RoPE run evaluated again at eval.lengths under each of these scalings (none, linear,
    # ntk, yarn; factor L / training length), without retraining; other encodings: ignored
    rope_scalings: list[str] = field(default_factory=list)
    # a small evaluation (+debug=fast): at most N of the evaluated lengths (the shortest and
    # the longest kept), at most N sequences or windows at each and in validation and test
    limit_lengths: Optional[int] = None  # noqa: UP045
    limit_sequences: Optional[int] = None  # noqa: UP045


@dataclass
class Config:
    dataset: Any = MISSING
    encoding: Any = MISSING
    # a second encoding in another slot (+encoding@beside=fire): abacus beside fire
    beside: Any = None
    model: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = MISSING
    curriculum: Any = MISSING  # a token task's training lengths (posenc.data.curricula)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    # a run folder whose trained weights this run starts from (posenc.jobs.source)
    init_from: Optional[str] = None  # noqa: UP045
    print_config: bool = False  # print the composed config as a tree before the run
    plots: Optional[bool] = None  # null: on for single runs, off in sweeps  # noqa: UP045
    overwrite: bool = False  # replace a run of another config in the same folder
    resume: bool = True  # reuse a completed run of the same config; continue an interrupted one
    tracking: Optional[str] = None  # mlflow: export runs and sweeps when they end  # noqa: UP045
    tracking_uri: str = TRACKING_URI
    tracking_timeout: float = TRACKING_TIMEOUT  # seconds to reach the store, then give up
    # what the job returns to a sweeper (a search): a metric name, or a list of them
    objective: Any = HEADLINE
    # a preset's keys it cannot run without ({key: what to give}): empty or null is refused
    required: Dict[str, str] = field(default_factory=dict)  # noqa: UP006


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


def schema_of(target_path: str, group: str) -> type:
    """A dataclass with `_target_` and one typed field per user-settable parameter."""
    target = locate(target_path)
    fields = [
        ("_target_", str, field(default=target_path)),
        *fields_of(target, runtime_args(group)),
    ]
    return dataclasses.make_dataclass(f"{target.__name__}Schema", fields)


def fields_of(target: Any, skip: Iterable[str] = ()) -> list[tuple[str, Any, Any]]:
    """One typed dataclass field per keyword parameter of `target` (its default, or MISSING),
    leaving out those in `skip` (supplied at build time, never a config key)."""
    skip = set(skip)
    fields: list[tuple[str, Any, Any]] = []
    for p, hint in parameters(target):
        if p.name in skip or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        kind = _omegaconf_type(hint)
        if p.default is p.empty:
            default = field(default=MISSING)
        elif isinstance(p.default, list | tuple):
            default = field(default_factory=lambda d=p.default: list(d))
        else:
            default = field(default=p.default)
        fields.append((p.name, kind, default))
    return fields


_registered: set[str] = set()
SCHEMA_GROUPS = (*GROUPS, "curriculum")  # every group whose options name a target


def register_schemas(config_dir: str | Path) -> None:
    """Store schema/<group>/<option> for every option YAML in config_dir that names a target."""
    config_dir = str(config_dir)
    if config_dir in _registered:
        return
    cs = ConfigStore.instance()
    cs.store(group="schema", name="config", node=Config)
    cs.store(group="schema/trainer", name="default", node=TrainerConfig)
    for group in SCHEMA_GROUPS:
        for path in sorted(Path(config_dir, group).glob("*.yaml")):
            target = (yaml.safe_load(path.read_text()) or {}).get("_target_")
            if target:
                cs.store(group=f"schema/{group}", name=path.stem, node=schema_of(target, group))
    _registered.add(config_dir)
