"""`python -m posenc.sample RUN_DIR --prompt TEXT --length N`: text from a trained text run
(posenc.jobs.sampling), printed to standard output. Exit 2 for a mistake, said in one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from posenc.cli import quiet_pipe


def run(argv: Sequence[str] | None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m posenc.sample",
        description="Print text from a trained text run (dataset=text), seeded.",
    )
    p.add_argument("run_dir", type=Path, help="the run folder of a text run")
    p.add_argument("--prompt", default="\n", help="the text to continue (default: a newline)")
    p.add_argument("--length", type=int, default=200, help="characters to add (default 200)")
    p.add_argument("--seed", type=int, default=0, help="the sampling seed (default 0)")
    p.add_argument(
        "--temperature", type=float, default=1.0, help="1 samples the model, 0 the most likely"
    )
    p.add_argument(
        "--context",
        type=int,
        help="characters the model reads (default: the training length, a sliding window)",
    )
    args = p.parse_args(argv)
    from posenc.jobs.sampling import generate, load_text_model
    from posenc.store.run_folder import RunFolderError

    try:
        model = load_text_model(args.run_dir)
        text = generate(model, args.prompt, args.length, args.seed, args.temperature, args.context)
    except (RunFolderError, ValueError) as e:
        p.error(str(e))
    if model.status != "completed":
        print(
            f"note: the run is {model.status}; sampling from its checkpoint at step {model.step}",
            file=sys.stderr,
        )
    print(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return quiet_pipe(lambda: run(argv))
