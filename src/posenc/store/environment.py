"""What made a result: the versions, the code's git commit and the machine, recorded in each
run's run.yaml (and shown by reports) so a number can be traced to the code behind it."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


@functools.cache
def git_commit(path: str) -> str | None:
    """The commit checked out where `path` lives, with `+dirty` for uncommitted changes;
    None outside a git repository (an installed wheel) or without git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=5
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def describe(device: str | None = None) -> dict[str, Any]:
    """Versions of posenc, torch and Python, the git commit of posenc's source, the machine
    (OS, architecture, cores) and the device the job asked for."""
    import importlib.metadata

    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "posenc": importlib.metadata.version("posenc"),
        "torch": str(torch.__version__),  # a str subclass that YAML cannot write
        "python": sys.version.split()[0],
        "git_commit": git_commit(str(Path(__file__).resolve().parents[1])),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cuda_device": cuda,
        "device": device,
    }
