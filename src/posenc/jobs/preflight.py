"""The checks a command makes before anything trains, each where it belongs: a config's own
values (`check_config`: the seed, the trainer, the evaluation, the objective, the tracking
choice and URI), pure and instant, made by every job for its own config; and the tracking
store (`check_store`), a network or disk probe, made once per command: by a single run
before it claims its folder, by a sweep at its start (SweepEnd), never again per job."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from posenc.config import objective
from posenc.errors import (
    ConfigError,
    check_at_least,
    check_choice,
    check_positive,
    check_tracking,
    check_tracking_uri,
)
from posenc.metrics import SCALINGS


def check_trainer(trainer, seed: int, lengths: Sequence[int] = ()) -> None:
    check_at_least("seed", seed, 0)
    for length in lengths:
        check_at_least("eval.lengths", length, 1)
    for key in ("epochs", "batch_size", "log_every", "steps", "eval_every"):
        check_at_least(f"trainer.{key}", getattr(trainer, key), 1)
    for key in ("num_threads", "limit_batches", "overfit_batches", "limit_rounds"):
        check_at_least(f"trainer.{key}", getattr(trainer, key), 1)
    check_positive("trainer.grad_clip", trainer.grad_clip)
    check_at_least("trainer.early_stopping.patience", trainer.early_stopping.patience, 1)
    check_at_least("trainer.early_stopping.min_delta", trainer.early_stopping.min_delta, 0)


def check_scalings(cfg: DictConfig) -> None:
    """eval.rope_scalings: known scalings, asked for with eval.lengths to evaluate at."""
    scalings = list(cfg.eval.get("rope_scalings") or ())
    for scaling in scalings:
        check_choice("eval.rope_scalings", scaling, SCALINGS)
    if scalings and not cfg.eval.lengths:
        raise ConfigError(
            "eval.rope_scalings", "evaluates at eval.lengths, which is empty; list the lengths"
        )


def check_config(cfg: DictConfig):
    """Every rule a config's values must keep, before anything is built; returns the
    trainer's config. Raises ConfigError naming the key."""
    check_tracking_uri(cfg.get("tracking_uri"))
    trainer = OmegaConf.to_object(cfg.trainer)
    check_trainer(trainer, cfg.seed, cfg.eval.lengths)
    check_at_least("eval.batch_size", cfg.eval.batch_size, 1)
    for key in ("limit_lengths", "limit_sequences"):
        check_at_least(f"eval.{key}", cfg.eval.get(key), 1)
    check_scalings(cfg)
    objective.check(cfg)
    check_tracking(cfg.get("tracking"))
    return trainer


def check_store(cfg: DictConfig) -> None:
    """With tracking on, a store that is down or unwritable is said now, not after training."""
    if cfg.get("tracking"):
        from posenc.store.tracking import check_store as probe

        probe(cfg.tracking_uri, cfg.tracking_timeout)


def check_run(cfg: DictConfig) -> None:
    """What a single run checks before it claims its folder: its config, then the store."""
    check_config(cfg)
    check_store(cfg)
