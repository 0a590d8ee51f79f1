"""Where a job runs and from which seeds: its device, its threads, its random streams."""

from __future__ import annotations

import os

import numpy as np
import torch

from posenc.errors import ConfigError, check_choice

# trainer.num_threads=null: below this many parameters a model trains fastest on one thread
# (per-op overhead dominates; extra threads only spin when other processes share the cores):
# measured by `python scripts/benchmark.py --threads`, table in the README.
SMALL_MODEL = 1_000_000
DEVICES = ("auto", "cpu", "cuda", "mps")


def seeds(seed: int) -> tuple[int, int, int]:
    """Independent streams for initialisation, data and batch order, all from one seed."""
    init, data, order = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint64)
    return int(init), int(data), int(order)


def resolve_device(name: str) -> torch.device:
    if not (name in DEVICES or name.startswith("cuda:")):
        check_choice("trainer.device", name, DEVICES + ("cuda:N",))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("trainer.device", f"{name!r} asked for, but no CUDA device is visible")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.device", "'mps' asked for, but this machine has no MPS device")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError("trainer.device", f"{name!r} is not a device; use cuda:N") from None


def auto_threads(model: torch.nn.Module, parallel_jobs: int = 1) -> int:
    """trainer.num_threads=null: one thread for a model below SMALL_MODEL parameters, else the
    cores this process may use shared among the jobs that run at once on them."""
    if sum(p.numel() for p in model.parameters()) < SMALL_MODEL:
        return 1
    return shared_cores(parallel_jobs)


def shared_cores(parallel_jobs: int = 1) -> int:
    """The cores this process may use (its affinity, which Slurm or taskset sets) shared among
    the jobs that run at once on them. Evaluation's threads with trainer.num_threads=null,
    whatever the model's size: its passes are larger than a training step's, and on idle
    cores a second thread bought 1.2-1.8x (scripts/benchmark_evaluation.py --passes)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, parallel_jobs))
