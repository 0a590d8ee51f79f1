"""Sizes that cannot fit: the big allocations (data, tables, attention, parameters)
estimated before they are made, and refused with the key and the estimate against the
machine's memory, in one line. What still runs out of memory is recorded by posenc.jobs.job as
one line too (`is_out_of_memory`)."""

from __future__ import annotations

import os

from posenc.errors import ConfigError

FLOAT = 4  # bytes of a float32


def machine_memory() -> int:
    """Bytes this machine can still give: MemAvailable on Linux, else the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: nothing is refused


def human(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def check_fits(key: str, what: str, n_bytes: float) -> None:
    """ConfigError naming `key` when `what` would take more than the machine has."""
    available = machine_memory()
    if n_bytes > available:
        raise ConfigError(
            key,
            f"{what} needs about {human(n_bytes)}, more than the {human(available)} of memory "
            "this machine has free; choose a smaller value",
        )


def check_floats(key: str, what: str, *shape: int) -> None:
    """check_fits for a float32 tensor of this shape."""
    n = FLOAT
    for size in shape:
        n *= max(int(size), 0)
    check_fits(key, what, n)


def is_out_of_memory(error: BaseException) -> bool:
    """An allocator failure (CPU or CUDA) that got past the estimates."""
    import torch

    if isinstance(error, MemoryError | torch.OutOfMemoryError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()
    )
