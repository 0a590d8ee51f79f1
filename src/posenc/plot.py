"""`python -m posenc.plot SWEEP_DIR [--by KEY,KEY] [--metric NAME]`: the sweep's figures."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def cli(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m posenc.plot", description=__doc__)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--by", help="group by these keys (comma-separated)")
    parser.add_argument("--metric", default="final_val_loss")
    args = parser.parse_args(argv)
    if not args.sweep_dir.is_dir():
        parser.error(f"no such folder: {args.sweep_dir}")
    from posenc.plots import plot_sweep

    by = [k.strip() for k in args.by.split(",") if k.strip()] if args.by else None
    try:
        written = plot_sweep(args.sweep_dir, by, args.metric)
    except KeyError as e:
        parser.error(e.args[0])
    if not written:
        print(f"no run folders below {args.sweep_dir}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
