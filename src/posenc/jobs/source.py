"""init_from=<run folder>: a run that starts from another run's trained weights (a fine-tune).

Only the model's weights come over, read with `torch.load(weights_only=True)`; the
optimizer, the schedule and the step count start fresh. The new config may change what
leaves every weight's shape as it was (the sequence length, a RoPE scaling, the dataset's
lengths, the optimizer, the budget); a change of architecture is refused in one line naming
the key and both values. The source (its folder, config hash and step) is part of the run's
identity: recorded in run.yaml and metrics.json, and a changed source is another run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from posenc.config.objective import dataset_kind
from posenc.errors import ConfigError
from posenc.store import checkpoint
from posenc.store import claim as claiming
from posenc.store import run_folder as rf
from posenc.store.status import Status

KEY = "init_from"
# model keys a fine-tune may change: none of them shapes a weight or the computation
FREE_MODEL_KEYS = frozenset({"dropout", "head_init", "freeze_head"})


class Unread:
    """A source not read yet: build_job reads it (a build outside a job, a benchmark's)."""


UNREAD = Unread()


@dataclass(frozen=True)
class Source:
    """A completed run with a checkpoint, read and checked."""

    folder: Path
    kind: str | None
    config: dict[str, Any]  # its run.yaml config
    config_hash: str
    step: int
    weights: dict[str, Any]  # its checkpoint's model state

    def identity(self) -> dict[str, Any]:
        """What run.yaml records and a resumed run compares."""
        return {"folder": str(self.folder), "config_hash": self.config_hash, "step": self.step}

    def metrics(self) -> dict[str, Any]:
        """metrics.json's columns: flat, so a sweep's tables can group by them."""
        return {
            KEY: str(self.folder),
            f"{KEY}_config_hash": self.config_hash,
            f"{KEY}_step": self.step,
        }


def read_source(cfg: DictConfig) -> Source | None:
    """The run cfg.init_from names (None: no init_from), read before anything is written.
    Raises ConfigError for a folder that is missing, holds no completed run, has no
    checkpoint or is of another kind (key init_from), and for a change of architecture."""
    value = cfg.get(KEY)
    if value is None or str(value).strip() == "":
        return None
    folder = _folder(str(value))
    if not (folder / rf.METRICS).is_file():
        raise ConfigError(KEY, f"{folder} holds no run (no {rf.METRICS}){_sweep_hint(folder)}")
    metrics = rf.read_metrics(folder)
    if metrics["status"] != Status.COMPLETED:
        raise ConfigError(
            KEY,
            f"{folder}: its run is {metrics['status']}, not completed; start from a completed one",
        )
    path = folder / rf.CHECKPOINT
    if not path.is_file():
        raise ConfigError(KEY, f"{folder} has no {rf.CHECKPOINT} (its run kept no trained weights)")
    try:
        config = rf.read_record(folder)["config"]
    except rf.RunFolderError as e:
        raise ConfigError(KEY, str(e)) from None
    for group in ("model", "encoding"):  # what check_architecture reads
        if not isinstance(config.get(group), dict):
            raise ConfigError(
                KEY, f"{folder / rf.RUN} has no config.{group}: not a run posenc wrote whole"
            )
    payload = checkpoint.load(path)  # CheckpointError (a ConfigError) names the file
    step, weights = payload["step"], payload["model"]
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise checkpoint.CheckpointError(path, f"its step is {step!r}, not a whole number")
    if not isinstance(weights, dict):
        raise checkpoint.CheckpointError(path, "its model weights are not a state dict")
    source = Source(
        folder, metrics.get("kind"), config, claiming.config_hash(config), step, weights
    )
    check_kind(source, dataset_kind(cfg))
    check_architecture(source, cfg)
    return source


def _folder(value: str) -> Path:
    """The folder init_from names, resolved: ConfigError (init_from) for a path that cannot
    be resolved (a link loop, a name too long), that is missing, or that is a file."""
    try:
        folder = Path(value).expanduser().resolve()
        exists, is_dir = folder.exists(), folder.is_dir()
    except (OSError, RuntimeError) as e:  # RuntimeError: a symbolic link loop
        shown = value if len(value) <= 80 else f"{value[:60]}…({len(value)} characters)"
        why = getattr(e, "strerror", None) or "a symbolic link loop"
        raise ConfigError(KEY, f"{shown} cannot be used: {why}") from None
    if exists and not is_dir:
        hint = f"give the run folder that holds it ({folder.parent})"
        raise ConfigError(KEY, f"{folder} is a file: {hint}")
    if not is_dir:
        raise ConfigError(KEY, f"{folder}: no such run folder")
    return folder


SEARCH_DEPTH, SEARCH_SECONDS = 3, 2.0  # how far a folder without a run is searched for runs


def _sweep_hint(folder: Path) -> str:
    """Words for a folder that holds no run itself: a sweep folder (runs a few levels below,
    found within a bounded search that never enters /proc, /sys or /dev), or nothing."""
    import os
    import time

    deadline, top = time.monotonic() + SEARCH_SECONDS, len(folder.parts)
    for root, dirs, files in os.walk(folder):
        if rf.RUN in files and Path(root) != folder:
            return f" (runs lie below it, such as {root}: name one of their folders)"
        depth = len(Path(root).parts) - top
        dirs[:] = (
            []
            if depth >= SEARCH_DEPTH
            else [
                d for d in dirs if Path(root, d) not in SYSTEM and not os.path.islink(Path(root, d))
            ]
        )
        if time.monotonic() > deadline:
            break
    return ""


SYSTEM = frozenset(map(Path, ("/proc", "/sys", "/dev", "/run")))


def absolute(cfg: DictConfig, source: Source | None) -> None:
    """init_from recorded as the source's absolute path, whatever the user typed."""
    if source is not None:
        cfg[KEY] = str(source.folder)


def check_kind(source: Source, kind: str) -> None:
    if source.kind is not None and source.kind != kind:
        raise ConfigError(
            KEY,
            f"{source.folder} is a {source.kind} run; this run is {kind}: start from one of "
            "its kind",
        )


def check_architecture(source: Source, cfg: DictConfig) -> None:
    """The model's keys (but FREE_MODEL_KEYS) and the encoding's family must be the
    source's: ConfigError naming the first that differs and both values."""
    new = OmegaConf.to_container(cfg, resolve=True)
    old_model, new_model = source.config.get("model", {}), new["model"]
    keys = [k for k in sorted(set(old_model) | set(new_model)) if k not in FREE_MODEL_KEYS]
    pairs = [(f"model.{k}", old_model.get(k), new_model.get(k)) for k in keys]
    pairs.insert(
        0,
        (
            "encoding._target_",
            source.config["encoding"].get("_target_"),
            new["encoding"].get("_target_"),
        ),
    )
    for key, before, now in pairs:
        if before != now:
            raise ConfigError(key, changed(source, before, now))


def changed(source: Source, before: Any, now: Any) -> str:
    return (
        f"{now} here, {before} in the run init_from names ({source.folder}): a fine-tune keeps "
        "its source's architecture"
    )


def load_into(source: Source, model: nn.Module, cfg: DictConfig) -> None:
    """The source's weights into `model`, exactly. A weight whose shape differs (a learned
    table too short for the new length, another number of buckets) is refused naming the
    config key that differs, else the weight."""
    own = model.state_dict()
    for name, tensor in source.weights.items():
        if not hasattr(tensor, "shape"):
            continue  # said by load_weights: not a tensor
        if name in own and own[name].shape != tensor.shape:
            theirs, ours = list(tensor.shape), list(own[name].shape)
            found = shaping_key(source, cfg, theirs, ours)
            shapes = f"{name} is {theirs} there, {ours} here"
            if found is None:
                raise ConfigError(
                    KEY, f"{shapes} ({source.folder}): a fine-tune keeps every weight's shape"
                )
            key, before, now = found
            raise ConfigError(key, f"{changed(source, before, now)}; {shapes}")
    checkpoint.load_weights({"model": source.weights}, model, source.folder / rf.CHECKPOINT)


def shaping_key(
    source: Source, cfg: DictConfig, theirs: list[int], ours: list[int]
) -> tuple[str, Any, Any] | None:
    """The config key that explains a weight's change of shape, with both values: one of
    the encoding's or the dataset's keys whose old value is a size of the old shape and whose
    new value one of the new (a learned table of seq_len rows); None when no key does (a
    checkpoint of another model)."""
    new = OmegaConf.to_container(cfg, resolve=True)
    for group in ("encoding", "dataset"):
        old_group, new_group = source.config.get(group, {}), new.get(group, {})
        for key in sorted(set(old_group) | set(new_group)):
            before, now = old_group.get(key), new_group.get(key)
            if before != now and before in theirs and now in ours:
                return f"{group}.{key}", before, now
    return None


def check_vocabulary(source: Source, data: Any) -> None:
    """Text: the same symbols in the same order, else every embedding row means another one."""
    vocabulary = getattr(data, "vocabulary", None)
    path = source.folder / rf.VOCABULARY
    if vocabulary is None:
        return
    if not path.is_file():  # its embeddings' symbols cannot be told: never guessed
        raise ConfigError(
            KEY,
            f"{source.folder} has no {rf.VOCABULARY}: which character each of its embeddings "
            "stands for is unknown; start from a text run that kept it",
        )
    theirs, ours = rf.read_vocabulary(source.folder), vocabulary()
    if theirs.get("symbols") != ours.get("symbols"):
        raise ConfigError(
            "dataset.path",
            f"the text's {len(ours.get('symbols', []))} symbols differ from the "
            f"{len(theirs.get('symbols', []))} of the run init_from names ({source.folder}): "
            "its embeddings would read other characters",
        )


def start_from(source: Source, cfg: DictConfig, data: Any, model: nn.Module) -> None:
    """What only the built job can tell (the text's symbols, the weights' shapes), then the
    source's weights into the freshly built `model`."""
    check_vocabulary(source, data)
    load_into(source, model, cfg)
