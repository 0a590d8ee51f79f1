"""Start-up times, start to exit, each the median of a few runs: `python -m posenc.train
--help` and `+debug=fast` of each kind's preset against a bare `python -c "import torch"`
(issue 30's targets: --help within 1.5× of it, a debug run within 12×)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS = {
    "import torch": [sys.executable, "-c", "import torch"],
    "posenc.train --help": [sys.executable, "-m", "posenc.train", "--help"],
    "+debug=fast (regression)": [sys.executable, "-m", "posenc.train", "+debug=fast"],
    "+debug=fast (chomsky)": [
        *(sys.executable, "-m", "posenc.train", "+experiment=chomsky"),
        *("dataset=reverse_string", "encoding=rope", "+debug=fast"),
    ],
    "+debug=fast (text)": [
        *(sys.executable, "-m", "posenc.train", "+experiment=train_short_test_long"),
        *("encoding=rope", "+debug=fast"),
    ],
}


def seconds(command: list[str], folder: str) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=folder, capture_output=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        times = {k: statistics.median(seconds(c, folder) for _ in range(args.repeats))
                 for k, c in COMMANDS.items()}  # fmt: skip
    base = times["import torch"]
    print(f"| command | seconds | × import torch |  (median of {args.repeats})")
    print("|---|---|---|")
    for name, value in times.items():
        print(f"| {name} | {value:.2f} | {value / base:.2f}× |")


if __name__ == "__main__":
    main()
