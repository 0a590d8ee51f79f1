"""checkpoint.pt: what a step-trained run (token task, text) needs to continue where it
stopped: the model, the optimizer, the scheduler, the step, every random stream (the task's
data stream, torch's global one, CUDA's), early stopping and the seconds trained so far.

Written at the end of an evaluation round (every `trainer.checkpoint_every` steps, and when
training ends), atomically: a temporary file, then a rename, so a kill mid-write leaves the
previous checkpoint whole. Only the last is kept. Read with `torch.load(weights_only=True)`:
tensors, numbers and strings only, nothing is unpickled as an arbitrary object.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from posenc.training import EarlyStop

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainingState:
    """What a step loop carries from one process to the next."""

    step: int
    seconds: float  # training seconds before this process
    early_stop: tuple[float, int] | None  # (best, waited)


def save(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    data_stream: torch.Generator,
    state: TrainingState,
) -> None:
    payload: dict[str, Any] = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "step": state.step,
        "seconds": state.seconds,
        "early_stop": list(state.early_stop) if state.early_stop is not None else None,
        "data_stream": data_stream.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        torch.save(payload, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def load(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The checkpoint's contents, weights only."""
    return torch.load(Path(path), map_location=device, weights_only=True)


def restore(
    payload: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    data_stream: torch.Generator,
    early_stop: EarlyStop | None,
) -> TrainingState:
    """Put every saved state back; returns where training stood."""
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    data_stream.set_state(payload["data_stream"].cpu())
    torch.set_rng_state(payload["torch_rng"].cpu())
    if payload["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in payload["cuda_rng"]])
    saved = payload["early_stop"]
    if early_stop is not None and saved is not None:
        early_stop.best, early_stop.waited = float(saved[0]), int(saved[1])
    return TrainingState(
        int(payload["step"]), float(payload["seconds"]), tuple(saved) if saved else None
    )
