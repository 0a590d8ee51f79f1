"""torch.compile on a CPU (inductor), measured before offering it: for each preset's model,
N training steps eager against the same steps compiled (dynamic shapes, so the token
curriculum's length per batch need not recompile), the compile time (the first steps), the
graphs compiled, and the evaluation forward eager against compiled. Prints a table; asserts
nothing about speed. posenc offers no trainer.compile: see the README's "Speed"."""

from __future__ import annotations

import argparse
import time

import torch

from posenc.config.compose import compose_job
from posenc.jobs.job import build_job
from posenc.jobs.kinds.tokens import scores

PRESETS = {
    "text, transformer (rope)": ["+experiment=train_short_test_long", "encoding=rope"],
    "tokens, transformer (rope)": [
        "+experiment=chomsky",
        "dataset=reverse_string",
        "encoding=rope",
    ],
    "tokens, lstm": ["+experiment=chomsky_lstm", "dataset=reverse_string"],
}


def train(model, optimizer, batches) -> float:
    model.train()
    start = time.perf_counter()
    for batch in batches:
        loss = scores(model, batch)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def forward(model, batches) -> float:
    model.eval()
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            model(batch.x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20, help="steps counted as compiling")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from torch._dynamo.utils import counters

    print(
        "| model | eager s | compile s (first steps) | compiled s | graphs | compiled / eager "
        "training | compiled / eager evaluation |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, overrides in PRESETS.items():
        torch._dynamo.reset()
        counters.clear()
        job = build_job(compose_job([*overrides, "trainer.device=cpu"])[0])
        batches = [job.kind.next_batch() for _ in range(args.steps + args.warmup)]
        optimizer = torch.optim.Adam(job.model.parameters(), 1e-3)
        eager = train(job.model, optimizer, batches[args.warmup :])
        compiled_model = torch.compile(job.model, dynamic=True)
        compiling = train(compiled_model, optimizer, batches[: args.warmup])
        compiled = train(compiled_model, optimizer, batches[args.warmup :])
        graphs = counters["stats"]["unique_graphs"]
        forward(compiled_model, batches[:2])  # its inference graph, compiled once
        ratio = forward(compiled_model, batches) / forward(job.model, batches)
        print(
            f"| {name} | {eager:.1f} | {compiling:.1f} | {compiled:.1f} | {graphs} | "
            f"{compiled / eager:.2f}× | {ratio:.2f}× |"
        )


if __name__ == "__main__":
    main()
