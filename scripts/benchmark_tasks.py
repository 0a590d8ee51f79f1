"""Token-task training speed: posenc's step loop (posenc.jobs.loop.fit: a batch drawn at a random
length each step, cross-entropy, accuracy counted on the device, a history row per round)
against a bare loop on the same model, optimizer and batches (the same sampler and seed, no
accuracy, no rounds). Prints a table of steps per second and the ratio.

    python scripts/benchmark_tasks.py [--steps 300] [--repeats 5] [--device cpu]
        [--presets chomsky,chomsky_lstm,chomsky_stack_rnn,chomsky_tape_rnn]

The model is each preset's (chomsky: transformer, 2 layers, d_model 64, 4 heads; the
recurrent ones 64 units; batch 32, input lengths 1..20); `--validation` also times the
preset's validation rounds (640 sequences every 250 steps), which a bare loop does not have.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn

from posenc.config.compose import compose_job
from posenc.config.schemas import TrainerConfig
from posenc.jobs.job import build_job
from posenc.jobs.kinds import loop_kind
from posenc.jobs.loop import fit


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare(model, task, optimizer, steps, batch_size, device) -> None:
    for _ in range(steps):
        batch = task.batch(task.generator, batch_size, task.next_length()).to(device)
        logits = model(batch.x)[:, -batch.y.shape[1] :]
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch.y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def posenc_loop(model, task, optimizer, steps, batch_size, device, val, eval_every) -> None:
    trainer = TrainerConfig(steps=steps, batch_size=batch_size, eval_every=eval_every)
    kind = loop_kind(task, trainer, str(device))
    kind.val = val
    fit(kind, model, optimizer)


def timed(run, job, steps, device) -> float:
    """Steps per second of `run` on fresh copies of the job's model, optimizer and sampler."""
    model = copy.deepcopy(job.model)
    optimizer = type(job.optimizer)(model.parameters(), **job.optimizer.defaults)
    task = copy.deepcopy(job.kind.data)
    sync(device)
    start = time.perf_counter()
    run(model, task, optimizer, steps)
    sync(device)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tasks", default="parity_check,reverse_string,duplicate_string")
    parser.add_argument("--presets", default="chomsky", help="comma-separated +experiment names")
    parser.add_argument("--validation", action="store_true", help="include validation rounds")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(
        f"| preset | task | bare steps/s | posenc steps/s | posenc / bare time |  ({device}, "
        f"{args.steps} steps, median of {args.repeats})"
    )
    print("|---|---|---|---|---|")
    for preset, name in ((p, t) for p in args.presets.split(",") for t in args.tasks.split(",")):
        cfg, _ = compose_job(
            [f"+experiment={preset}", f"dataset={name}", f"trainer.device={args.device}"]
        )
        job = build_job(cfg)
        b = job.trainer.batch_size
        val = job.kind.val if args.validation else job.kind.val[:1]
        every = job.trainer.eval_every if args.validation else args.steps
        runs = {
            "bare": lambda m, t, o, n, b=b: bare(m, t, o, n, b, device),
            "posenc": lambda m, t, o, n, b=b, val=val, every=every: posenc_loop(
                m, t, o, n, b, device, val, every
            ),
        }
        timed(runs["bare"], job, 20, device)  # warm-up
        rates = {k: [] for k in runs}
        for _ in range(args.repeats):  # interleaved: drift on a busy machine hits both
            for k, run in runs.items():
                rates[k].append(timed(run, job, args.steps, device))
        bare_rate, posenc_rate = (statistics.median(rates[k]) for k in ("bare", "posenc"))
        ratio = bare_rate / posenc_rate
        print(f"| {preset} | {name} | {bare_rate:.1f} | {posenc_rate:.1f} | {ratio:.3f}× |")


if __name__ == "__main__":
    main()
