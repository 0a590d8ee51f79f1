"""`python -m posenc.plot PATH [--by KEY,KEY] [--metric NAME]`: the sweep's figures."""

from __future__ import annotations

from collections.abc import Sequence

from posenc.cli import quiet_pipe
from posenc.cli.compare import tables


def main(argv: Sequence[str] | None = None) -> int:
    doc = "Draw a sweep's figures: loss_curves.png and summary.png."
    return quiet_pipe(lambda: tables(argv, "python -m posenc.plot", doc, False))
