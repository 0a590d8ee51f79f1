"""Sweep overhead and parallel speed-up, measured as a user runs sweeps (subprocesses).

1. Overhead: a sequential multirun of N one-epoch jobs on tiny data; the time beyond the
   jobs' own training and one process start, per job.
2. joblib: the same CPU-bound LSTM jobs run sequentially and with Hydra's joblib launcher
   (2 workers, one torch thread each), for a few job lengths: the speed-up and where it
   breaks even.

    python scripts/benchmark_sweeps.py [--jobs 50] [--parallel-jobs 8]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TINY = ["dataset.n_samples=64", "dataset.seq_len=6", "dataset.feature_dim=3", "plots=false"]


def sweep(args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, summed train_seconds of the jobs)."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "posenc.train", "-m", *args, "hydra.sweep.dir=S"],
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    train = sum(
        json.loads(p.read_text()).get("train_seconds") or 0.0
        for p in (cwd / "S").rglob("metrics.json")
    )
    return wall, train


def overhead(n: int) -> None:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        one_wall, one_train = sweep([*TINY, "trainer.epochs=1", "seed=0"], Path(a))
        seeds = ",".join(map(str, range(n)))
        wall, train = sweep([*TINY, "trainer.epochs=1", f"seed={seeds}"], Path(b))
    per_job = (wall - train - (one_wall - one_train)) / (n - 1)
    print(f"{'sweep':<34} {'jobs':>5} {'wall s':>8} {'train s':>8}")
    print(f"{'one job (process start)':<34} {1:>5} {one_wall:>8.2f} {one_train:>8.2f}")
    print(f"{'sequential, 1 epoch each':<34} {n:>5} {wall:>8.2f} {train:>8.2f}")
    print(f"overhead per job beyond training and the process start: {per_job:.3f} s\n")


def speedup(n: int, epochs_list: list[int]) -> None:
    print(
        f"{'epochs/job':>10} {'job s':>7} {'sequential s':>13} {'joblib x2 s':>12} {'speed-up':>9}"
    )
    for epochs in epochs_list:
        base = [f"trainer.epochs={epochs}", f"seed={','.join(map(str, range(n)))}"]
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            seq, train = sweep(base, Path(a))
            par, _ = sweep(
                [
                    *base,
                    "hydra/launcher=joblib",
                    "hydra.launcher.n_jobs=2",
                    "trainer.num_threads=1",
                ],
                Path(b),
            )
        print(f"{epochs:>10} {train / n:>7.2f} {seq:>13.2f} {par:>12.2f} {seq / par:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--parallel-jobs", type=int, default=8)
    parser.add_argument("--epochs", default="1,5,20", help="job lengths for the speed-up table")
    args = parser.parse_args()
    overhead(args.jobs)
    speedup(args.parallel_jobs, [int(e) for e in args.epochs.split(",")])


if __name__ == "__main__":
    main()
