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
from posenc.store import run_folder as rf
from posenc.store.status import Status

KEY = "init_from"
# model keys a fine-tune may change: none of them shapes a weight or the computation
FREE_MODEL_KEYS = frozenset({"dropout", "head_init", "freeze_head"})


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
    folder = Path(str(value)).expanduser().resolve()
    if not folder.is_dir():
        raise ConfigError(KEY, f"{folder}: no such run folder")
    if not (folder / rf.METRICS).is_file():
        sweep = " (a sweep folder: name one of its jobs' folders)" if rf.find_runs([folder]) else ""
        raise ConfigError(KEY, f"{folder} holds no run (no {rf.METRICS}){sweep}")
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
    payload = checkpoint.load(path)  # CheckpointError (a ConfigError) names the file
    source = Source(
        folder,
        metrics.get("kind"),
        config,
        rf.config_hash(config),
        int(payload["step"]),
        payload["model"],
    )
    check_kind(source, dataset_kind(cfg))
    check_architecture(source, cfg)
    return source


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
        if name in own and own[name].shape != tensor.shape:
            key, before, now = shaping_key(source, cfg, name)
            raise ConfigError(
                key,
                f"{changed(source, before, now)}; {name} is {list(tensor.shape)} there, "
                f"{list(own[name].shape)} here",
            )
    checkpoint.load_weights({"model": source.weights}, model, source.folder / rf.CHECKPOINT)


def shaping_key(source: Source, cfg: DictConfig, weight: str) -> tuple[str, Any, Any]:
    """The config key most likely to have changed `weight`'s shape, with both values: the
    encoding's keys, then the dataset's; the weight itself when no key differs."""
    new = OmegaConf.to_container(cfg, resolve=True)
    for group in ("encoding", "dataset"):
        old_group, new_group = source.config.get(group, {}), new.get(group, {})
        for key in sorted(set(old_group) | set(new_group)):
            if old_group.get(key) != new_group.get(key):
                return f"{group}.{key}", old_group.get(key), new_group.get(key)
    return KEY, weight, weight


def check_vocabulary(source: Source, data: Any) -> None:
    """Text: the same symbols in the same order, else every embedding row means another one."""
    vocabulary = getattr(data, "vocabulary", None)
    path = source.folder / rf.VOCABULARY
    if vocabulary is None or not path.is_file():
        return
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
