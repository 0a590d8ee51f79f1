"""Evaluation speed (issue 31, "measure first"): posenc's length evaluation of a built model
against a bare `torch.inference_mode()` forward loop over exactly the same windows or
sequences at the same batch size, per kind: token-task scoring and text bpc@L, with and
without RoPE's scalings. Prints a table; asserts nothing about speed."""

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
from posenc.jobs.kinds.base import length_seed

PRESETS = {
    "tokens (chomsky, reverse_string, rope)": [
        "+experiment=chomsky",
        "dataset=reverse_string",
        "encoding=rope",
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
    """The (scaling, batch) pairs posenc's evaluation reads, drawn the same way."""
    kind, out = job.kind, []
    lengths = kind.evaluated_lengths()
    for length in lengths:
        generator = torch.Generator().manual_seed(length_seed(cfg.seed, length))
        out.append((None, kind.data.evaluation(generator, length, cfg.eval.per_length)))
    rescalable = hasattr(job.model.encoding, "rescaled")
    for scaling in (cfg.eval.get("rope_scalings") or ()) if rescalable else ():
        for length in cfg.eval.lengths:
            generator = torch.Generator().manual_seed(length_seed(cfg.seed, length))
            out.append((scaling, kind.data.evaluation(generator, length, cfg.eval.per_length)))
    return out


def bare(job, cfg, pairs) -> None:
    """Cross-entropy at the blanks of every batch, in chunks of eval.batch_size."""
    model, size = job.model, cfg.eval.batch_size
    model.eval()
    with torch.inference_mode():
        for scaling, batch in pairs:
            tokens = batch.x.shape[1]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the training rule; issue 31 decides evaluation's
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
