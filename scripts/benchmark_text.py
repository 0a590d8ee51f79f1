"""Text training speed: posenc's step loop on a text job (posenc.jobs.loop.fit: random windows
of the training text, next-character cross-entropy, accuracy counted on the device, a
history row per round, a checkpoint written atomically every round) against a bare loop on
the same model, optimizer and batches (the same sampler and seed; no rounds, no
checkpoints). Prints characters (tokens) per second and the ratio of times.

    python scripts/benchmark_text.py [--steps 300] [--repeats 5] [--device cpu]

The model and batches are +experiment=train_short_test_long's (a causal transformer,
3 layers, d_model 64, 4 heads; batch 32 windows of 64 characters of Shakespeare). A round is
`--every` steps (default 100, ten times the preset's checkpoint rate); its validation is
one window, so the table measures the loop, not the validation set (`--validation` times
the preset's whole validation text every round as well, which a bare loop does not have).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from posenc.config.compose import compose_job
from posenc.config.schemas import TrainerConfig
from posenc.data.tasks import TokenBatch
from posenc.jobs.job import build_job
from posenc.jobs.kinds import loop_kind
from posenc.jobs.loop import fit
from posenc.store import checkpoint


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare(model, task, optimizer, steps, batch_size, device, **_) -> None:
    for _ in range(steps):
        batch = task.batch(task.generator, batch_size, task.next_length()).to(device)
        logits = model(batch.x)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch.y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def posenc_loop(model, task, optimizer, steps, batch_size, device, val, every, folder) -> None:
    path = Path(folder) / checkpoint.CHECKPOINT
    state = lambda step: checkpoint.TrainingState(step, 0.0, None)  # noqa: E731
    kind = loop_kind(task, TrainerConfig(steps=steps, batch_size=batch_size, eval_every=every))
    kind.val, kind.device = val, device
    fit(
        kind,
        model,
        optimizer,
        checkpoint=lambda step: checkpoint.save(
            path, model, optimizer, None, task.generator, state(step)
        ),
        checkpoint_every=every,
    )


def timed(run, job, steps, device, **kwargs) -> float:
    """Steps per second of `run` on fresh copies of the job's model, optimizer and sampler."""
    model = copy.deepcopy(job.model)
    optimizer = type(job.optimizer)(model.parameters(), **job.optimizer.defaults)
    task = copy.copy(job.kind.data)  # the text is shared; the stream is its own
    task.generator = torch.Generator().manual_seed(0)
    sync(device)
    start = time.perf_counter()
    run(model, task, optimizer, steps, job.trainer.batch_size, device, **kwargs)
    sync(device)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--every", type=int, default=100, help="steps per round")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--encodings", default="none,rope,alibi")
    parser.add_argument("--validation", action="store_true", help="the whole validation text")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(
        f"| encoding | bare chars/s | posenc chars/s | posenc / bare time |  ({device}, "
        f"{args.steps} steps, a round and a checkpoint every {args.every}, median of "
        f"{args.repeats})"
    )
    print("|---|---|---|---|")
    for name in args.encodings.split(","):
        cfg, _ = compose_job(
            ["+experiment=train_short_test_long", f"encoding={name}", f"trainer.device={device}"]
        )
        job = build_job(cfg)
        val = job.kind.val
        if not args.validation:
            first = job.kind.val[0]
            val = [TokenBatch(first.x[:1], first.y[:1], first.mask[:1])]
        chars = job.trainer.batch_size * job.kind.data.seq_len
        with tempfile.TemporaryDirectory() as folder:
            loops = {
                "bare": (bare, {}),
                "posenc": (posenc_loop, {"val": val, "every": args.every, "folder": folder}),
            }
            timed(bare, job, 20, device)  # warm-up
            rates = {k: [] for k in loops}
            for _ in range(args.repeats):  # interleaved: drift on a busy machine hits both
                for k, (run, kwargs) in loops.items():
                    rates[k].append(timed(run, job, args.steps, device, **kwargs))
        bare_rate, posenc_rate = (statistics.median(rates[k]) for k in ("bare", "posenc"))
        print(
            f"| {name} | {bare_rate * chars:,.0f} | {posenc_rate * chars:,.0f} | "
            f"{bare_rate / posenc_rate:.3f}× |"
        )


if __name__ == "__main__":
    main()
