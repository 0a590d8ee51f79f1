"""How long compare and the sweep plots take on N run folders (default 1,000).

Writes N run folders by the run-folder contract (4 encodings x 5 models x 50 seeds, 20
epochs of history each) into a temporary folder, then times reading them into results.csv /
summary.csv and drawing the sweep plots. Prints a table.

    python scripts/benchmark_compare.py [--runs 1000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from posenc.analysis.comparison import compare, save_tables
from posenc.analysis.plots import plot_sweep
from posenc.config.compose import compose_job
from posenc.store import run_folder as rf


def write_runs(root: Path, n: int, epochs: int = 20) -> None:
    rng = np.random.default_rng(0)
    cfg, choices = compose_job()
    config = OmegaConf.to_container(cfg, resolve=True)
    encodings = ["none", "sinusoidal", "learnable", "linear"]
    models = ["linear", "tanh_ffn", "lstm", "m4", "m5"]
    for i in range(n):
        run = root / str(i)
        run.mkdir(parents=True)
        enc, model, seed = encodings[i % 4], models[i // 4 % 5], i // 20
        overrides = [f"encoding={enc}", f"model={model}", f"seed={seed}"]
        config["seed"] = seed
        rf.write_record(run, overrides, {**choices, "encoding": enc, "model": model}, config)
        losses = np.sort(rng.random((2, epochs)), axis=1)[:, ::-1]
        rows = "\n".join(
            f"{e + 1},{float(losses[0, e])!r},{float(losses[1, e])!r},0.01" for e in range(epochs)
        )
        (run / "history.csv").write_text("epoch,train_loss,val_loss,seconds\n" + rows + "\n")
        metrics = {
            "status": "completed",
            "encoding": enc,
            "model": model,
            "seed": seed,
            "final_train_loss": float(losses[0, -1]),
            "final_val_loss": float(losses[1, -1]),
            "test_loss": float(losses[1, -1]),
            "best_val_loss": float(losses[1].min()),
            "train_seconds": 0.2,
        }
        (run / "metrics.json").write_text(json.dumps(metrics))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_runs(root, args.runs)
        start = time.perf_counter()
        results, summary = compare([root])
        save_tables(root, results, summary)
        t_compare = time.perf_counter() - start
        start = time.perf_counter()
        plot_sweep(root, results, summary)
        t_plots = time.perf_counter() - start
    print(f"{'step':<28} {'runs':>6} {'groups':>7} {'seconds':>8}")
    print(f"{'compare (both CSVs)':<28} {len(results):>6} {len(summary):>7} {t_compare:>8.2f}")
    print(f"{'plot_sweep (both PNGs)':<28} {len(results):>6} {len(summary):>7} {t_plots:>8.2f}")


if __name__ == "__main__":
    main()
