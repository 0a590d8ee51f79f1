"""Training-loop speed: posenc's fit() against a DataLoader loop and a bare slicing loop.

All three train the reference LSTM experiment (+experiment=sinusoidal_lstm: weighted_sum
1000 x 20 x 10 -> Linear(10 -> 32) -> sinusoidal -> LSTM(32) -> last step), from the same
initial weights, on the same data, for the same number of optimizer steps. Prints steps/s
(median of --repeats, runs interleaved in rotating order) and each loop's ratio to the bare loop.

Then the transformer: posenc's model=transformer with encoding=sinusoidal against the same
architecture built bare from torch.nn.TransformerEncoderLayer(norm_first=True), same data and
steps; and the per-step cost of each attention-level encoding against encoding=none at
--attention-len positions (default 256).

    python scripts/benchmark.py [--epochs 10] [--repeats 5] [--device cpu] [--attention-len 256]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from posenc.config.compose import compose_config
from posenc.config.schemas import TrainerConfig
from posenc.jobs.job import build_job
from posenc.jobs.kinds import loop_kind
from posenc.jobs.loop import fit


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
    trainer = TrainerConfig(epochs=epochs, batch_size=batch_size)
    fit(loop_kind(splits, trainer, str(device), seeds=(0, 1)), model, opt)
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


class BareTransformer(nn.Module):
    """The same architecture from torch's own layers: projection + sinusoidal table, pre-norm
    TransformerEncoderLayer stack (ReLU, no dropout), final LayerNorm, mean readout, head."""

    def __init__(self, feature_dim: int, seq_len: int, width=32, heads=4, layers=2):
        super().__init__()
        from posenc.encodings import sinusoidal_table

        self.project = nn.Linear(feature_dim, width)
        self.register_buffer("pe", sinusoidal_table(seq_len, width))
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.project(x) + self.pe[: x.shape[1]])
        return self.head(self.norm(h).mean(1)).squeeze(-1)


def time_steps(model, splits, epochs, batch_size, device) -> float:
    """Seconds for `epochs` of plain training steps (the bare loop) on this model."""
    return run_bare(model, splits, epochs, batch_size, device)


def median_times(models: dict, splits, epochs, batch_size, device, repeats) -> dict:
    times: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            model = copy.deepcopy(models[name])
            times[name].append(time_steps(model, splits, epochs, batch_size, device))
    return {name: statistics.median(ts) for name, ts in times.items()}


def transformer_tables(args, device: torch.device) -> None:
    base = ["model=transformer", f"trainer.device={device}"]
    job = build_job(compose_config([*base, "encoding=sinusoidal"]))
    splits, spec = job.kind.data, job.kind.spec
    torch.manual_seed(0)
    bare = BareTransformer(spec.feature_dim, spec.seq_len).to(device)
    steps = args.epochs * -(-len(splits.train) // args.batch_size)
    t = median_times(
        {"posenc transformer": job.model, "bare nn.TransformerEncoderLayer": bare},
        splits,
        args.epochs,
        args.batch_size,
        device,
        args.repeats,
    )
    ref = t["bare nn.TransformerEncoderLayer"]
    print(f"\ntransformer (width 32, 4 heads, 2 layers, seq_len {spec.seq_len}), {steps} steps")
    print(f"{'model':<32} {'seconds':>8} {'steps/s':>9} {'time / bare':>12}")
    for name, seconds in t.items():
        print(f"{name:<32} {seconds:>8.3f} {steps / seconds:>9.0f} {seconds / ref:>12.3f}")

    length = args.attention_len
    data = [f"dataset.seq_len={length}", "dataset.n_samples=320", "dataset.feature_dim=4"]
    models = {}
    for encoding in ("none", "sinusoidal", "rope", "alibi", "relative"):
        job = build_job(compose_config([*base, *data, f"encoding={encoding}"]))
        models[encoding] = job.model
    splits = job.kind.data
    steps = -(-len(splits.train) // args.batch_size)
    t = median_times(models, splits, 1, args.batch_size, device, args.repeats)
    print(f"\nper-step cost at seq_len {length} (batch {args.batch_size}, {steps} steps per run)")
    print(f"{'encoding':<12} {'ms/step':>9} {'vs none':>9}")
    for name, seconds in t.items():
        print(f"{name:<12} {1000 * seconds / steps:>9.2f} {seconds / t['none']:>9.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--attention-len", type=int, default=256)
    parser.add_argument("--skip-lstm", action="store_true", help="only the transformer tables")
    parser.add_argument(
        "--threads", action="store_true", help="only the thread table (idle and busy cores)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)

    if args.threads:
        thread_table(args)
        return
    if not args.skip_lstm:
        lstm_table(args, device)
    transformer_tables(args, device)


def lstm_table(args, device: torch.device) -> None:
    job = build_job(compose_config(["+experiment=sinusoidal_lstm", f"trainer.device={device}"]))
    splits, template = job.kind.data, job.model
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


def spin() -> None:
    while True:
        pass


def thread_table(args) -> None:
    """Steps/s of each model at its default sizes (dataset weighted_sum, batch 32) against
    torch's thread count, on idle cores and with every core kept busy by another process:
    the evidence behind trainer.num_threads=null (posenc.jobs.resources.auto_threads)."""
    import multiprocessing as mp
    import os

    from posenc.jobs.resources import auto_threads

    cores = os.cpu_count() or 1
    counts = sorted({1, 2, cores} & set(range(1, cores + 1)))
    models = {
        "linear": ["model=linear"],
        "tanh_ffn": ["model=tanh_ffn"],
        "lstm": ["model=lstm"],
        "transformer": ["model=transformer"],
        "transf. 256": [
            "model=transformer",
            "model.d_model=256",
            "model.n_layers=4",
            "dataset.seq_len=64",
            "dataset.n_samples=320",
        ],
    }
    print(f"{cores} cores; steps/s, median of {args.repeats} runs of {args.epochs} epochs")
    print(
        f"{'model':<12} {'params':>7} {'cores':<6} "
        + " ".join(f"{n:>3} thr" for n in counts)
        + "  auto"
    )
    for busy in (False, True):
        spinners = [mp.Process(target=spin, daemon=True) for _ in range(cores if busy else 0)]
        for p in spinners:
            p.start()
        try:
            for name, overrides in models.items():
                job = build_job(compose_config([*overrides, "trainer.device=cpu"]))
                steps = args.epochs * -(-len(job.kind.data.train) // 32)
                rates = {}
                for n in counts:
                    torch.set_num_threads(n)
                    t = median_times(
                        {name: job.model},
                        job.kind.data,
                        args.epochs,
                        32,
                        torch.device("cpu"),
                        args.repeats,
                    )[name]
                    rates[n] = steps / t
                n_params = sum(p.numel() for p in job.model.parameters())
                auto = auto_threads(job.model, 1)
                print(
                    f"{name:<12} {n_params:>7} {'busy' if busy else 'idle':<6} "
                    + " ".join(f"{rates[n]:>7.0f}" for n in counts)
                    + f"  {auto:>4}"
                )
        finally:
            for p in spinners:
                p.terminate()


if __name__ == "__main__":
    main()
