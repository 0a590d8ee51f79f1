"""How long exporting N run folders into MLflow takes (default 1,000).

Writes N run folders by the run-folder contract (as scripts/benchmark_compare.py does) into a
temporary folder, exports them into a fresh SQLite store, then exports again (nothing changed:
every run is matched by its tag and skipped). Prints a table.

    python scripts/benchmark_export.py [--runs 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchmark_compare import write_runs

from posenc.store.tracking import export_mlflow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sweep"
        write_runs(root, args.runs)
        uri = f"sqlite:///{tmp}/mlflow.db"
        export_mlflow([root / "0"], uri)  # create the store: not part of the timing
        rows = []
        for label in ("first export", "export again (unchanged)"):
            start = time.perf_counter()
            counts = export_mlflow([root], uri)
            rows.append((label, counts, time.perf_counter() - start))
    print(f"{'step':<26} {'runs':>6} {'created':>8} {'unchanged':>10} {'seconds':>8} {'ms/run':>7}")
    for label, c, t in rows:
        n = sum(c.values())
        print(
            f"{label:<26} {n:>6} {c['created']:>8} {c['unchanged']:>10} {t:>8.1f} "
            f"{1000 * t / n:>7.1f}"
        )


if __name__ == "__main__":
    main()
