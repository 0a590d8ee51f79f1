"""Training-loop speed: posenc's fit() against a DataLoader loop and a bare slicing loop.

All three train the reference LSTM experiment (+experiment=sinusoidal_lstm: weighted_sum
1000 x 20 x 10 -> Linear(10 -> 32) -> sinusoidal -> LSTM(32) -> last step), from the same
initial weights, on the same data, for the same number of optimizer steps. Prints steps/s
(median of --repeats, runs interleaved in rotating order) and each loop's ratio to the bare loop.

    python scripts/benchmark.py [--epochs 10] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from posenc.compose import compose_config
from posenc.job import build_job
from posenc.training import fit


class SampleDataset(Dataset):
    """The notebook's way: one __getitem__ per sample."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_posenc(model, splits, epochs, batch_size, device) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sync(device)
    start = time.perf_counter()
    fit(model, splits, opt, epochs, batch_size, torch.Generator().manual_seed(1))
    sync(device)
    return time.perf_counter() - start


def run_dataloader(model, splits, epochs, batch_size, device) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(
        SampleDataset(splits.train.x, splits.train.y),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(1),
    )
    sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            loss = nn.functional.mse_loss(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    sync(device)
    return time.perf_counter() - start


def run_bare(model, splits, epochs, batch_size, device) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = splits.train.x, splits.train.y
    g = torch.Generator().manual_seed(1)
    sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g).to(device)
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            loss = nn.functional.mse_loss(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)

    job = build_job(compose_config(["+experiment=sinusoidal_lstm", f"trainer.device={device}"]))
    splits, template = job.splits, job.model
    steps = args.epochs * -(-len(splits.train) // args.batch_size)

    loops = {"posenc fit()": run_posenc, "DataLoader": run_dataloader, "bare slicing": run_bare}
    times: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    for r in range(args.repeats):
        for name in names[r % 3 :] + names[: r % 3]:  # rotate: no loop always runs first
            loop = loops[name]
            model = copy.deepcopy(template)
            times[name].append(loop(model, splits, args.epochs, args.batch_size, device))

    bare = statistics.median(times["bare slicing"])
    n_train, repeats = len(splits.train), args.repeats
    print(
        f"device {device}, {steps} steps per run ({args.epochs} epochs x batch "
        f"{args.batch_size}, {n_train} train sequences), median of {repeats}"
    )
    print(f"{'loop':<14} {'seconds':>8} {'steps/s':>9} {'time / bare':>12}")
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"{name:<14} {t:>8.3f} {steps / t:>9.0f} {t / bare:>12.3f}")
    print("posenc fit() also evaluates the validation split once per epoch.")


if __name__ == "__main__":
    main()
