"""The contract every kind of run implements (see posenc.jobs.kinds), and what they share."""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from posenc.errors import ConfigError, check_at_least
from posenc.memory import FLOAT, check_fits
from posenc.metrics import KindSpec
from posenc.progress import bar_logging, progress

log = logging.getLogger("posenc")
Step = Callable[[torch.Tensor], None]


# Token positions an evaluation pass holds on a CPU when eval.batch_size is null: the fastest
# measured on a CPU core (scripts/benchmark_evaluation.py --passes: 2048 beat 512, 8192 and
# 32768 at every length; a larger pass spills the caches). Elsewhere (CUDA, MPS), and for a
# model that steps through time in Python (whose cost is per step, not per position: a
# Tape-RNN scored 512 sequences of 180 tokens in 1.45 s in passes of 11, 0.64 s in passes of
# 256), a pass holds DEVICE_PASS_SEQUENCES sequences; the memory check bounds both.
CPU_PASS_TOKENS = 2048
DEVICE_PASS_SEQUENCES = 256
# Python time steps a step-by-step model's length evaluation may take: 4x the papers' range
# test (lengths 41..500, 512 sequences each, about 5e5 steps in passes of 256); a Tape-RNN
# steps about 365 times a second over 256 sequences on one core here (a Stack-RNN 2,700).
MAX_TIME_STEPS = 2_000_000
UNIFORM = "posenc.data.curricula.uniform.Uniform"  # the default curriculum


def pass_size(
    batch_size: int | None, tokens: int, device: torch.device, stepwise: bool = False
) -> int:
    """Sequences per evaluation forward pass over sequences of `tokens` positions:
    eval.batch_size when set, else the measured rule above."""
    if batch_size is not None:
        return batch_size
    if torch.device(device).type == "cpu" and not stepwise:
        return max(1, CPU_PASS_TOKENS // max(tokens, 1))
    return DEVICE_PASS_SEQUENCES


def curriculum_config(cfg: DictConfig) -> Any:
    """The config's curriculum; uniform where it has none (a run.yaml written before the
    curriculum group, a hand-made config)."""
    from omegaconf import OmegaConf

    found = OmegaConf.select(cfg, "curriculum", default=None, throw_on_missing=False)
    return found if found is not None else OmegaConf.create({"_target_": UNIFORM})


def length_seed(seed: int, length: int) -> int:
    """A seed stream of its own for the test set at each evaluation length."""
    return int(np.random.SeedSequence(seed, spawn_key=(length,)).generate_state(1)[0])


@dataclass
class RoundStats:
    """What a round of training steps measured: its loss and accuracy (None: no classes)."""

    loss: float
    accuracy: float | None = None


class Kind(abc.ABC):
    """The contract of a kind of run (its abstract methods: what a member must provide), and
    what every kind shares: the checkpoint rule, the RoPE-scaled rows of the length
    evaluation, the length metrics' names, the attention-size check."""

    # --- what a member provides ----------------------------------------------------------
    @abc.abstractmethod
    def train_round(self, model: nn.Module, step: Step, n: int) -> RoundStats:
        """`n` optimizer steps, each `step(loss)` on a batch of the kind's own source."""

    @abc.abstractmethod
    def validate(self, model: nn.Module) -> tuple:
        """The validation values a round records (loss, and accuracy where there are
        classes)."""

    @abc.abstractmethod
    def record(self, step: int, stats: RoundStats, val: tuple, seconds: float) -> Any:
        """A round as history.csv's row: an object with one attribute per declared column."""

    @abc.abstractmethod
    def record_from_row(self, row: dict[str, float]) -> Any:
        """A row of history.csv back as a record (a continued run's rounds)."""

    @abc.abstractmethod
    def round_line(self, record: Any) -> str:
        """The log's line for a round."""

    @abc.abstractmethod
    def postfix(self, record: Any) -> dict[str, str]:
        """The progress bar's latest values."""

    @abc.abstractmethod
    def outcome(self, model: nn.Module, history: Any, completed: bool) -> dict[str, Any]:
        """What a finished fit adds to metrics.json (the test metrics when completed)."""

    @abc.abstractmethod
    def length_row(self, model: nn.Module, length: int) -> dict[str, Any]:
        """length_eval.csv's row at one evaluation length (`unsupported` with the reason)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """The log's line about the data."""

    @abc.abstractmethod
    def rounds_done(self, metrics: dict[str, Any]) -> str:
        """How far the run got, in words (`12 epochs`, `3000 steps`)."""

    @abc.abstractmethod
    def done(self, metrics: dict[str, Any]) -> list[str]:
        """The log's result lines, the first the headline."""

    # --- shared ----------------------------------------------------------------------------

    declared: KindSpec  # what the rest of posenc reads: metrics, families, history, figures
    name: str
    columns: tuple[str, ...]
    unit: str  # what early stopping's patience counts
    round_name: str  # what one round is, for messages
    LENGTH_COLUMNS = {
        "test_loss": "loss",
        "accuracy": "accuracy",
        "bpc": "bpc",
        "exact_match": "exact_match",
    }
    stream: torch.Generator
    round_steps: int
    total_steps: int

    def __init__(self, data: Any, cfg: DictConfig, trainer: Any, device: torch.device, seeds):
        """`trainer`: the checked TrainerConfig; `seeds`: (data, order) streams' seeds."""
        self.data, self.cfg, self.trainer, self.device = data, cfg, trainer, device
        self.target = cfg.dataset.get("_target_", "").rpartition(".")[2]

    @property
    def spec(self):
        return self.data.spec

    def set_budget(self, round_steps: int, total_steps: int) -> None:
        """Set the round and the budget, cut by trainer.limit_batches or overfit_batches (at
        most N steps a round) and trainer.limit_rounds (at most N rounds)."""
        rounds = -(-total_steps // round_steps)
        limit, most = self.trainer.max_batches, self.trainer.limit_rounds
        if limit is not None and limit < round_steps:
            round_steps, total_steps = limit, rounds * limit
        if most is not None and most < rounds:
            total_steps = min(total_steps, most * round_steps)
        self.round_steps, self.total_steps = round_steps, total_steps

    def limited(self, lengths: list[int]) -> list[int]:
        """At most eval.limit_lengths of `lengths` (sorted), evenly spread, both ends kept."""
        lengths, most = sorted(lengths), self.cfg.eval.get("limit_lengths")
        if most is None or len(lengths) <= most:
            return lengths
        if most == 1:
            return lengths[:1]
        picks = {round(i * (len(lengths) - 1) / (most - 1)) for i in range(most)}
        return [lengths[i] for i in sorted(picks)]

    @property
    def eval_batch_size(self) -> int | None:
        """eval.batch_size: sequences an evaluation pass holds (None: pass_size's rule)."""
        return self.cfg.eval.get("batch_size")

    @property
    def most_sequences(self) -> int | None:
        return self.cfg.eval.get("limit_sequences")

    draws_lengths = False  # True: the training lengths come from the curriculum group
    steps_drawn = 0  # training batches drawn so far (a continued run: its checkpoint's step)

    def check(self) -> None:
        curriculum = str(curriculum_config(self.cfg)["_target_"])
        if not self.draws_lengths and curriculum != UNIFORM:
            raise ConfigError(
                "curriculum",
                f"{curriculum.rpartition('.')[2]} draws a token task's training lengths; "
                f"{self.target or 'this dataset'} has none to draw (use curriculum=uniform)",
            )
        every = self.trainer.checkpoint_every
        check_at_least("trainer.checkpoint_every", every, 1)
        if every is not None and every % self.round_steps:
            raise ConfigError(
                "trainer.checkpoint_every",
                f"{every} must be a multiple of the {self.round_steps} steps of "
                f"{self.round_name}: a checkpoint ends a round, so a continued run repeats none",
            )

    def check_model(self, model: nn.Module) -> None:
        """Refusals of a model this kind cannot train."""
        return None  # a hook: nothing unless the kind adds it

    def labels(self) -> dict[str, Any]:
        """What the data says it is, for metrics.json (columns compare can group by)."""
        return {}

    def prepare(self) -> None:
        """What is made once the config is checked: data on the device, fixed batches."""
        return None  # a hook: nothing unless the kind adds it

    def x_of(self, step: int) -> int:
        """The first history column of the round that ends at `step`."""
        return step

    def model_length(self, length: int) -> int:
        return length

    def after_lengths(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Metrics of all the length rows together (a token task's score)."""
        return {}

    def files(self, run_dir: Path) -> None:
        """Files of this kind's own in the run folder."""
        return None  # a hook: nothing unless the kind adds it

    def show_fit(self, model: nn.Module) -> None:
        """Anything the log shows of the fit after the outcome."""
        return None  # a hook: nothing unless the kind adds it

    def evaluated_lengths(self) -> list[int]:
        """Every length the length evaluation visits as trained."""
        return self.limited(list(self.cfg.eval.lengths))

    # --- the length evaluation ----------------------------------------------------------
    def evaluate_lengths(self, model: nn.Module) -> list[dict[str, Any]]:
        """The trained model at each evaluated length, one row per length; then, for RoPE,
        eval.lengths again under each of eval.rope_scalings, the factor being the length
        over the training length the scaling extends (rows with `scaling`). A scaling acts
        only past that length, so a scaled row at or below it is the as-trained row's numbers."""
        lengths, encoding = self.evaluated_lengths(), model.encoding
        scalings = list(self.cfg.eval.get("rope_scalings") or ())
        scalings = scalings if hasattr(encoding, "rescaled") else []
        scaled = self.limited(list(self.cfg.eval.lengths))
        total = len(lengths) + len(scalings) * len(scaled)
        steps = self.time_steps(model)
        log.info(
            "evaluating at %d length%s (%s)%s%s",
            *(len(lengths), "" if len(lengths) == 1 else "s", span_of(lengths)),
            f", then {len(scalings)} RoPE scaling(s) at eval.lengths" if scalings else "",
            f", {steps:,} time steps in Python" if steps else "",
        )
        bar = progress(total=total, unit="length", desc="evaluating")
        trained: dict[int, dict[str, Any]] = {}
        original = scaled_from(model, self.spec.seq_len)
        with bar, bar_logging(bar):
            rows = []
            for i, length in enumerate(lengths):
                bar.set_postfix(length=f"{length} ({i + 1} of {len(lengths)})")
                rows.append(self.length_row(model, length))
                trained[length] = rows[-1]
                self.log_row(rows[-1])
                bar.update(1)
            for scaling in scalings:
                for length in scaled:
                    bar.set_postfix(length=length, scaling=scaling)
                    same = trained.get(length)
                    same = same if self.model_length(length) <= original else None
                    rows.append(self.scaled_row(model, scaling, length, same))
                    self.log_row(rows[-1])
                    bar.update(1)
        self.forget_evaluation()
        return rows

    def forget_evaluation(self) -> None:
        """Drop what the length evaluation kept between its rows."""
        return None  # a hook: nothing unless the kind adds it

    def log_row(self, row: dict[str, Any]) -> None:
        """A line for one evaluated length, where the kind has few enough to show each."""
        return None  # a hook: nothing unless the kind adds it

    def scaled_row(
        self, model: nn.Module, scaling: str, length: int, same: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The length's row with RoPE's scaling `scaling` at factor length / training length;
        `same`: the as-trained row, where the scaling cannot change it."""
        factor = self.model_length(length) / scaled_from(model, self.spec.seq_len)
        try:
            with model.encoding.rescaled(scaling, factor):
                row = dict(same) if same is not None else self.length_row(model, length)
        except ConfigError as e:
            row = {"length": length, "loss": None, "status": "unsupported", "reason": str(e)}
        return {**row, "scaling": scaling}

    def length_metrics(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """metrics.json's family@L values of the length rows (family_scaling@L for a
        scaling): the families posenc.metrics says this kind records."""
        families = ["test_loss", *(f.name for f in self.declared.families)]
        out = {}
        for row in rows:
            suffix = f"_{row['scaling']}" if row.get("scaling") else ""
            for family in families:
                out[f"{family}{suffix}@{row['length']}"] = self.family_value(family, row)
        return out

    def family_value(self, family: str, row: dict[str, Any]) -> Any:
        return row.get(self.LENGTH_COLUMNS[family])

    def time_steps(self, model: nn.Module) -> int:
        """The Python time steps a step-by-step model's length evaluation takes: one per
        position of each pass (0 for a model that reads a sequence at once)."""
        if not model.stepwise:
            return 0
        steps = 0
        for length in set(self.evaluated_lengths()):
            tokens = self.model_length(length)
            size = pass_size(self.eval_batch_size, tokens, self.device, True)
            sequences = self.per_pass()
            steps += tokens * (1 if sequences >= 1 << 62 else -(-sequences // size))
        return steps

    def check_evaluation(self, model: nn.Module) -> None:
        """A step-by-step model's evaluation within MAX_TIME_STEPS; the attention scores of
        one evaluation pass at each length fit in memory."""
        if (steps := self.time_steps(model)) > MAX_TIME_STEPS:
            listed, ranged = max(self.cfg.eval.lengths, default=0), self.cfg.eval.get("max_length")
            key = "eval.lengths" if listed >= (ranged or 0) else "eval.max_length"
            raise ConfigError(
                key,
                f"{type(model).__name__} steps through time in Python: its length evaluation "
                f"would take {steps:,} steps (one per position of each pass), at most "
                f"{MAX_TIME_STEPS:,} (hours on a CPU core); fewer or shorter lengths",
            )
        if model.attention is None:
            return
        cfg = self.cfg
        for length in self.sized_lengths():
            tokens = self.model_length(length)
            size = pass_size(self.eval_batch_size, tokens, self.device, model.stepwise)
            per_pass = min(self.per_pass(), size)
            scores = 2 * per_pass * model.attention.n_heads * tokens * tokens * FLOAT
            key = "eval.max_length" if length == cfg.eval.get("max_length") else "eval.lengths"
            check_fits(key, f"{length}: attention over {tokens} tokens", scores)

    def sized_lengths(self) -> list[int]:
        """The lengths whose sizes bound the evaluation's (the longest ones included)."""
        return list(self.cfg.eval.lengths)

    def per_pass(self) -> int:
        """Sequences at one evaluated length (the most a pass can hold)."""
        return 1 << 62


def scaled_from(model: nn.Module, seq_len: int) -> int:
    """The training length a RoPE scaling extends: its encoding.original_length (a fine-tune's
    source's length), else this run's."""
    return getattr(model.encoding, "original_length", seq_len)


def span_of(lengths: list[int]) -> str:
    """`21..60` for a run of lengths, `64, 128, 256` otherwise."""
    if len(lengths) > 1 and lengths[-1] - lengths[0] == len(lengths) - 1:
        return f"{lengths[0]}..{lengths[-1]}"
    return ", ".join(map(str, lengths))
