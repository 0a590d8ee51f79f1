"""Evaluation speed: posenc's length evaluation of a built model against a bare
`torch.inference_mode()` forward loop over exactly the same windows or sequences in passes
of the same size, per kind: token-task scoring (the blanks, and the prompt layout with its
exact match read from the same pass) and text bpc@L, with and without RoPE's
scalings. `--passes`: forward throughput by token positions per pass and threads, the
measurement behind eval.batch_size=null's rule (posenc.jobs.kinds.base.pass_size). Prints
tables; asserts nothing about speed."""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
from torch import nn

from posenc.config.compose import compose_job
from posenc.data.tasks import TokenBatch
from posenc.jobs.job import build_job
from posenc.jobs.kinds.base import length_seed, pass_size

PRESETS = {
    "tokens (chomsky, reverse_string, rope)": [
        "+experiment=chomsky",
        "dataset=reverse_string",
        "encoding=rope",
    ],
    "tokens, prompt layout (decoder, copy, none): exact match too": [
        "+experiment=decoder",
        "dataset=copy",
        "encoding=none",
    ],
    "text (train_short_test_long, rope, no scalings)": [
        "+experiment=train_short_test_long",
        "encoding=rope",
        "eval.rope_scalings=[]",
    ],
    "text (train_short_test_long, rope, 3 scalings)": [
        "+experiment=train_short_test_long",
        "encoding=rope",
    ],
}


def batches(job, cfg) -> list[tuple[str | None, TokenBatch]]:
    """The (scaling, batch) pairs posenc's evaluation reads, drawn the same way: a scaling
    at or below the training length changes nothing, so neither loop runs it again."""
    kind, out = job.kind, []
    lengths = kind.evaluated_lengths()
    for length in lengths:
        generator = torch.Generator().manual_seed(length_seed(cfg.seed, length))
        out.append((None, kind.data.evaluation(generator, length, cfg.eval.per_length)))
    rescalable = hasattr(job.model.encoding, "rescaled")
    for scaling in (cfg.eval.get("rope_scalings") or ()) if rescalable else ():
        for length in cfg.eval.lengths:
            if kind.model_length(length) <= kind.spec.seq_len:
                continue
            generator = torch.Generator().manual_seed(length_seed(cfg.seed, length))
            out.append((scaling, kind.data.evaluation(generator, length, cfg.eval.per_length)))
    return out


def bare(job, cfg, pairs) -> None:
    """Cross-entropy at the blanks of every batch, in passes of the size posenc makes."""
    model = job.model
    model.eval()
    with torch.inference_mode():
        for scaling, batch in pairs:
            tokens = batch.x.shape[1]
            size = pass_size(cfg.eval.batch_size, tokens, batch.x.device)
            rescale = (
                model.encoding.rescaled(scaling, tokens / job.kind.spec.seq_len)
                if scaling
                else contextlib.nullcontext()
            )
            with rescale:
                for start in range(0, len(batch), size):
                    x, y = batch.x[start : start + size], batch.y[start : start + size]
                    logits = model(x)[:, -y.shape[1] :]
                    nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()).item()


def throughput(model, batch, tokens_per_pass: int, most: int = 200_000) -> float:
    """Token positions a second of bare forward passes holding about `tokens_per_pass`."""
    size = max(1, tokens_per_pass // batch.x.shape[1])
    with torch.inference_mode():
        model(batch.x[:size])  # warm-up
        start, done = time.perf_counter(), 0
        for first in range(0, len(batch), size):
            done += model(batch.x[first : first + size]).shape[0] * batch.x.shape[1]
            if done >= most:
                break
    return done / (time.perf_counter() - start)


def passes() -> None:
    """Thousands of token positions a second by pass size and threads, per preset length."""
    cases = {
        "text": (["+experiment=train_short_test_long", "encoding=rope"], (64, 512)),
        "tokens": (["+experiment=chomsky", "dataset=reverse_string", "encoding=rope"], (21, 60)),
    }
    sizes = (512, 2048, 8192, 32768)
    print("| kind | length (tokens) | threads | " + " | ".join(f"{n} / pass" for n in sizes) + " |")
    print("|---|---|---|" + "---|" * len(sizes))
    for name, (overrides, lengths) in cases.items():
        cfg, _ = compose_job([*overrides, "trainer.device=cpu"])
        job = build_job(cfg)
        job.model.eval()
        for length in lengths:
            generator = torch.Generator().manual_seed(length_seed(cfg.seed, length))
            batch = job.kind.data.evaluation(generator, length, 512)
            for threads in (1, 2):
                torch.set_num_threads(threads)
                rates = [throughput(job.model, batch, n) / 1000 for n in sizes]
                cells = " | ".join(f"{r:.0f}k" for r in rates)
                print(f"| {name} | {length} ({batch.x.shape[1]}) | {threads} | {cells} |")
    torch.set_num_threads(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--passes", action="store_true", help="the pass-size and threads table")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the training rule, and evaluation's (see --passes)
    if args.passes:
        passes()
        return
    print(
        f"| kind | posenc s | bare inference_mode s | posenc / bare |  (median of {args.repeats})"
    )
    print("|---|---|---|---|")
    for name, overrides in PRESETS.items():
        cfg, _ = compose_job([*overrides, "trainer.device=cpu"])
        job = build_job(cfg)
        pairs = batches(job, cfg)
        times = {"posenc": [], "bare": []}
        for _ in range(args.repeats):  # interleaved: drift on a busy machine hits both
            start = time.perf_counter()
            job.kind.evaluate_lengths(job.model)
            times["posenc"].append(time.perf_counter() - start)
            start = time.perf_counter()
            bare(job, cfg, pairs)
            times["bare"].append(time.perf_counter() - start)
        p, b = (statistics.median(times[k]) for k in ("posenc", "bare"))
        print(f"| {name} | {p:.2f} | {b:.2f} | {p / b:.2f}× |")


if __name__ == "__main__":
    main()
