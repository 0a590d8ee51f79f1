"""checkpoint.pt: what a run of any kind needs to continue where it stopped: the model, the
optimizer, the scheduler, the step, every random stream (the kind's data or batch-order
stream, torch's global one, CUDA's), early stopping and the seconds trained so far.

Written at the end of a round (every `trainer.checkpoint_every` steps, and when training
ends), atomically: a temporary file, then a rename, so a kill mid-write leaves the
previous checkpoint whole. Only the last is kept. Read with `torch.load(weights_only=True)`:
tensors, numbers and strings only, nothing is unpickled as an arbitrary object.
"""

from __future__ import annotations

import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from posenc.errors import ConfigError
from posenc.store.run_folder import CHECKPOINT


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
    from posenc.store.files import atomic_write

    with atomic_write(path) as partial:
        torch.save(payload, partial)


class CheckpointError(ConfigError):
    """A checkpoint.pt that cannot be read or does not fit the model: one line naming the
    file and what is wrong with it (never torch's advice to unpickle it anyway)."""

    def __init__(self, path: Path | str, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(str(path), problem)

    def advising(self, what_to_do: str) -> CheckpointError:
        return CheckpointError(self.path, f"{self.problem}; {what_to_do}")


KEYS = ("model", "optimizer", "scheduler", "step", "seconds", "early_stop", "data_stream")


def load(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The checkpoint's contents, weights only: nothing in it is unpickled as an object.
    Raises CheckpointError for a file that is not one posenc wrote."""
    try:
        with warnings.catch_warnings():  # torch's note on a foreign pickle protocol
            warnings.simplefilter("ignore")
            payload = torch.load(Path(path), map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(path, "no such file") from None
    except (pickle.UnpicklingError, IndexError, KeyError, TypeError, AttributeError) as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if found:
            raise CheckpointError(
                path,
                f"holds a Python object ({found.group(1)}), which a checkpoint never does; it "
                "was refused unread and nothing in it ran",
            ) from None
        raise CheckpointError(
            path,
            "is not a checkpoint (not a file torch.save wrote); it was refused unread and "
            "nothing in it ran",
        ) from None
    except (EOFError, RuntimeError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else "empty"
        raise CheckpointError(path, f"is truncated or damaged ({first})") from None
    if not isinstance(payload, dict) or not set(KEYS) <= set(payload):
        missing = sorted(set(KEYS) - set(payload)) if isinstance(payload, dict) else KEYS
        raise CheckpointError(
            path, f"is not a posenc checkpoint: it lacks {', '.join(missing)}"
        ) from None
    return payload


def restore(
    payload: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    data_stream: torch.Generator,
    early_stop: Any,  # posenc.jobs.loop.EarlyStop, or None
    path: Path | str = CHECKPOINT,
) -> TrainingState:
    """Put every saved state back; returns where training stood. Raises CheckpointError
    (naming `path`) for states that do not fit this model, optimizer or stream."""
    try:
        load_weights(payload, model, path)
        optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None and payload["scheduler"] is not None:
            scheduler.load_state_dict(payload["scheduler"])
        data_stream.set_state(payload["data_stream"].cpu())
        torch.set_rng_state(payload["torch_rng"].cpu())
        if payload.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in payload["cuda_rng"]])
        saved = payload["early_stop"]
        if early_stop is not None and saved is not None:
            early_stop.best, early_stop.waited = float(saved[0]), int(saved[1])
        return TrainingState(
            int(payload["step"]), float(payload["seconds"]), tuple(saved) if saved else None
        )
    except CheckpointError:
        raise
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise CheckpointError(path, f"does not fit this run's training state ({first})") from None


def load_weights(payload: dict[str, Any], model: nn.Module, path: Path | str) -> None:
    """The checkpoint's model weights into `model`; CheckpointError when they do not fit."""
    try:
        model.load_state_dict(payload["model"])
    except (RuntimeError, KeyError, TypeError, AttributeError) as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(e).__name__)
        raise CheckpointError(path, f"does not fit this model ({detail[:160]})") from None
