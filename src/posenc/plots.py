"""Plots (matplotlib)."""

from __future__ import annotations

from pathlib import Path


def plot_run(run_dir: Path) -> None:
    pass
