"""kind=tokens: the sampled token tasks (posenc.data.tasks), trained by steps.

A round is `trainer.eval_every` steps, each a batch at a length drawn by the task from its
own stream (the paper's curriculum); cross-entropy over the target positions, accuracy
masked to the positions the task scores. Validation and test are fixed batches at every
training length, drawn from a stream of their own, the same for every encoding. Scored at
the unseen lengths max_len + 1 .. eval.max_length (the paper's score: their mean accuracy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from posenc.config.compose import build
from posenc.data.tasks import BYTES_PER_TOKEN, MAX_LENGTHS, PROMPT, Task, TokenBatch
from posenc.errors import ConfigError, check_at_least
from posenc.jobs.kinds.base import (
    Kind,
    RoundStats,
    Step,
    curriculum_config,
    length_seed,
    log,
    pass_size,
    span_of,
)
from posenc.jobs.kinds.declared import TOKENS
from posenc.memory import check_fits

DEFAULT_STEPS = 10_000  # the reference's experiments/example.py
# Token positions one run's length evaluation may read (sequences × their tokens, over every
# evaluated length): the papers' range test (500 lengths, about 1.3e8 positions) many times
# over, and more than an hour of forward passes for posenc's small models on a CPU core.
MAX_EVAL_TOKENS = 2_000_000_000
MAX_REDRAWS = 10_000  # lengths drawn again in a row before a curriculum is said to miss


@dataclass
class RoundRecord:
    """One round: the last `trainer.eval_every` steps (their loss per target position and
    accuracy per scored position, pooled like the validation set's) and the validation set."""

    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


@dataclass(frozen=True)
class LossReading:
    """How a kind states its losses, held by the kind (Text holds its own): the record a
    round keeps, and the label of the done line's losses."""

    record: type
    label: str


IN_NATS = LossReading(RoundRecord, "loss: ")


def read(model: nn.Module, x: torch.Tensor, positions: dict | None) -> torch.Tensor:
    """The model's logits for tokens x, given the task's position streams where it has any
    (any module reading tokens alone serves a task that supplies none)."""
    return model(x) if positions is None else model(x, positions)


def scores(model: nn.Module, batch: TokenBatch) -> tuple[torch.Tensor, ...]:
    """(mean cross-entropy over every target position, correct predictions at the scored
    positions, scored positions, sequences right at every scored position); the model's
    logits are read at the targets only (the blanks; the answer and EOS)."""
    logits = batch.outputs(read(model, batch.x, batch.positions))
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), batch.y.flatten())
    right = logits.argmax(-1) == batch.y
    exact = (right | ~batch.mask).all(1)  # exact match: every scored position right
    return loss, (right & batch.mask).sum(), batch.mask.sum(), exact.sum()


def greedy_answers(model: nn.Module, batch: TokenBatch) -> torch.Tensor:
    """Token-by-token greedy decoding of a prompt-layout batch: the prompt (up to SEP), then
    the model's own most likely class fed back, for at most the answer's length + 1 steps;
    the classes it produced [batch, T + 1], EOS repeated once a sequence has stopped. A
    sequence is decoded right exactly when this equals `batch.y`."""
    layout = batch.layout
    tokens, produced = layout.prompt(batch), []
    stopped = torch.zeros(len(batch), dtype=torch.bool, device=batch.x.device)
    with torch.inference_mode():
        for _ in range(batch.y.shape[1]):
            chosen = read(model, tokens, batch.streams(tokens.shape[1]))[:, -1].argmax(-1)
            chosen = torch.where(stopped, layout.eos, chosen)
            produced.append(chosen)
            stopped |= chosen == layout.eos
            fed = layout.token(chosen.clamp(max=layout.eos - 1))  # after EOS: never read
            tokens = torch.cat([tokens, fed[:, None]], dim=1)
    return torch.stack(produced, dim=1)


def evaluate(
    model: nn.Module, batches: Sequence[TokenBatch], batch_size: int | None = None
) -> tuple[float, float, float]:
    """(loss, accuracy, exact match) over fixed batches: the loss per target position, the
    accuracy per scored position, pooled over every sequence, and the share of sequences
    right at every scored position; `batch_size` sequences a forward pass (None:
    base.pass_size's rule for the device)."""
    was_training = model.training
    model.eval()
    device = batches[0].x.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    counted = torch.zeros((), device=device, dtype=torch.long)
    exact = torch.zeros((), device=device, dtype=torch.long)
    targets = sequences = 0
    with torch.inference_mode():
        for whole in batches:
            stepwise = getattr(model, "stepwise", False)
            size = pass_size(batch_size, whole.x.shape[1], device, stepwise)
            for start in range(0, len(whole), size):
                cut_at = slice(start, start + size)
                part = whole.take(cut_at)
                loss, right, scored, whole_right = scores(model, part)
                loss_sum += loss * part.y.numel()
                correct += right
                counted += scored
                exact += whole_right
                targets += part.y.numel()
                sequences += len(part)
    model.train(was_training)
    accuracy = correct.item() / max(counted.item(), 1)
    return loss_sum.item() / targets, accuracy, exact.item() / sequences


def first_sequences(batch: TokenBatch, most: int | None, device) -> TokenBatch:
    """At most `most` sequences of the batch (eval.limit_sequences), on the device."""
    if most is not None and len(batch) > most:
        batch = batch.take(slice(0, most))
    return batch.to(device)


def range_lengths(task: Task, max_length: int | None, extra: Sequence[int] = ()) -> list[int]:
    """The unseen lengths a task is scored on: max_len + 1 .. max_length (the paper's range;
    the reference example.py starts one later) that the task has sequences of, plus any
    extra lengths."""
    unseen = range(task.max_len + 1, (max_length or task.max_len) + 1)
    return sorted({*(n for n in unseen if task.has_length(n)), *extra})


def score(
    rows: Sequence[dict], task: Task, max_length: int, column: str = "accuracy"
) -> tuple[float | None, str | None]:
    """The paper's network score: the mean of `column` (accuracy; exact match in the prompt
    layout) over the lengths max_len + 1 .. max_length; (None, reason) when one of them could
    not run, never a mean over fewer lengths."""
    unseen = [r for r in rows if task.max_len < r["length"] <= max_length]
    if not unseen:
        return None, None
    missing = [r for r in unseen if r["status"] != "ok"]
    if missing:
        first = missing[0]
        return None, f"unsupported at length {first['length']}: {first['reason']}"
    return sum(r[column] for r in unseen) / len(unseen), None


def check_one_pass_is_greedy(model: nn.Module, cfg) -> None:
    """The prompt layout reads exact match from one teacher-forced pass, which equals greedy
    decoding only when an output depends on the earlier tokens alone, the same in a full
    pass and in a shorter one: no positions drawn afresh per pass, no RoPE scaling that
    switches on with the pass's length (in the encoding or the one beside it)."""
    encodings = getattr(model, "encodings", (model.encoding,))
    for group, encoding in zip(("encoding", "beside"), encodings, strict=False):
        random = getattr(encoding, "random", None)
        if random is not None and random.random_eval:
            raise ConfigError(
                f"{group}.random_eval",
                "true draws new positions at every forward pass, so one teacher-forced pass is "
                "not what greedy decoding reads (dataset.layout=prompt); set "
                f"{group}.random_eval=false",
            )
        scaling = getattr(encoding, "scaling", "none")
        check_no_scaling(f"{group}.scaling", scaling)
    check_no_scaling("eval.rope_scalings", cfg.eval.get("rope_scalings"))


def check_no_scaling(key: str, value) -> None:
    if value and value != "none":
        raise ConfigError(
            key,
            f"{value} acts only once a pass is longer than encoding.original_length, so "
            "a full pass and token-by-token decoding would differ (dataset.layout=prompt)",
        )


class Tokens(Kind):
    declared = TOKENS  # what the rest of posenc reads of it
    name = declared.name
    draws_lengths = True
    columns = declared.history
    round_name = "a round (trainer.eval_every)"
    bar_unit = "step"
    losses = IN_NATS

    def __init__(self, data: Task, cfg, trainer, device, seeds):
        super().__init__(data, cfg, trainer, device, seeds)
        self.stream = data.generator  # the task draws lengths and batches from it
        self.data_seed = seeds[0]
        self.set_budget(trainer.eval_every, trainer.steps or DEFAULT_STEPS)
        self.unit = f"rounds of {self.round_steps} steps"
        self.val: list[TokenBatch] = []
        self.test: list[TokenBatch] = []
        self.replayed: list[TokenBatch] = []  # trainer.overfit_batches: the same every round
        self.drawn: dict[int, TokenBatch] = {}  # the length evaluation's sequences, per length
        if self.draws_lengths:
            self.curriculum = build(
                curriculum_config(cfg), "curriculum", min_len=data.min_len, max_len=data.max_len
            )

    @property
    def max_length(self) -> int | None:
        return self.cfg.eval.get("max_length")

    @property
    def scored_by(self) -> str:
        """The length rows' column the score averages: exact match in the prompt layout (the
        decoder-only papers' metric), accuracy in the blanks (DeepMind's)."""
        return "exact_match" if getattr(self.spec.layout, "name", None) == PROMPT else "accuracy"

    @property
    def score_name(self) -> str:
        return self.scored_by.replace("_", " ")

    def check(self) -> None:
        super().check()
        check_at_least("eval.per_length", self.cfg.eval.get("per_length"), 1)
        max_length = self.max_length
        if max_length is not None and max_length <= self.data.max_len:
            raise ConfigError(
                "eval.max_length",
                f"{max_length} must exceed dataset.max_len {self.data.max_len}: the score is "
                "the mean accuracy over the lengths past the training range",
            )

    def labels(self) -> dict[str, Any]:
        """A token task's level in the Chomsky hierarchy (`level`: regular, context-free,
        context-sensitive)."""
        level = getattr(self.data, "level", None)
        return {"level": level} if level is not None else {}

    def check_model(self, model: nn.Module) -> None:
        """A layout whose targets are later tokens (the prompt's answer, text's next
        character) needs a causal model: one that reads them would be told the answer."""
        causal = getattr(self.spec.layout, "causal", True)  # no layout: every position's next
        if causal and (found := model.sees_future()) is not None:
            key, why = found
            raise ConfigError(key, f"{why} ({self.layout_says})")
        if self.scored_by == "exact_match":
            check_one_pass_is_greedy(model, self.cfg)

    @property
    def layout_says(self) -> str:
        return "dataset.layout=prompt: an output would read the answer it predicts"

    def check_evaluation(self, model: nn.Module) -> None:
        """At most MAX_LENGTHS lengths and MAX_EVAL_TOKENS token positions; each length's
        batch fits in memory; then the attention's sizes."""
        task, per_length = self.data, self.cfg.eval.get("per_length", 1)
        lengths = self.sized_lengths()
        if self.max_length is not None:
            unseen = self.max_length - task.max_len
            if unseen + len(lengths) - 1 > MAX_LENGTHS:
                raise ConfigError(
                    "eval.max_length",
                    f"{self.max_length} scores {unseen} lengths past dataset.max_len "
                    f"{task.max_len}; at most {MAX_LENGTHS} lengths are evaluated (the papers "
                    "score 460)",
                )
        if len(lengths) > MAX_LENGTHS:
            raise ConfigError("eval.lengths", f"{len(lengths)} lengths; at most {MAX_LENGTHS}")
        self.check_positions(per_length)
        for length in lengths:
            tokens = task.model_length(length)
            batch = per_length * tokens * BYTES_PER_TOKEN
            check_fits("eval.per_length", f"{per_length} sequences of {tokens} tokens", batch)
        super().check_evaluation(model)

    def check_positions(self, per_length: int) -> None:
        evaluated = set(self.evaluated_lengths())
        positions = per_length * sum(self.data.model_length(n) for n in evaluated)
        if positions > MAX_EVAL_TOKENS:
            key = "eval.per_length" if per_length > len(evaluated) else "eval.max_length"
            raise ConfigError(
                key,
                f"the length evaluation would read {positions:.3g} token positions "
                f"({per_length} sequences at each of {len(evaluated)} lengths); at most "
                f"{MAX_EVAL_TOKENS:.0e}: fewer sequences or lengths",
            )

    def sized_lengths(self) -> list[int]:
        lengths = list(self.cfg.eval.lengths)
        return lengths + [self.max_length] if self.max_length is not None else lengths

    def evaluated_lengths(self) -> list[int]:
        return self.limited(range_lengths(self.data, self.max_length, self.cfg.eval.lengths))

    def per_pass(self) -> int:
        return self.cfg.eval.get("per_length", 1)

    def prepare(self) -> None:
        """The fixed validation and test batches, from a stream of their own."""
        self.data.check_fixed_sizes()
        fixed = torch.Generator().manual_seed(length_seed(self.data_seed, 0))
        self.val = [
            first_sequences(b, self.most_sequences, self.device)
            for b in self.data.validation(fixed)
        ]
        self.test = [
            first_sequences(b, self.most_sequences, self.device) for b in self.data.testing(fixed)
        ]
        for _ in range(self.trainer.overfit_batches or 0):
            self.replayed.append(self.next_batch())

    # --- training -----------------------------------------------------------------------
    def train_round(self, model: nn.Module, step: Step, n: int) -> RoundStats:
        """`n` steps, each a batch at the task's next length; the loss per target position
        and the accuracy per scored position over the round."""
        losses, correct, counted, targets = [], [], [], []
        for i in range(n):
            batch = self.replayed[i] if self.replayed else self.next_batch()
            loss, right, scored, _ = scores(model, batch)
            step(loss)
            losses.append(loss.detach() * batch.y.numel())  # summed over its targets
            targets.append(batch.y.numel())
            correct.append(right)
            counted.append(scored)
        loss = torch.stack(losses).sum().item() / sum(targets)
        accuracy = torch.stack(correct).sum().item() / max(torch.stack(counted).sum().item(), 1)
        return RoundStats(loss, accuracy)

    def next_batch(self) -> TokenBatch:
        """A training batch at the curriculum's next length, from the task's stream."""
        task = self.data
        n = self.next_length()
        self.steps_drawn += 1
        return task.batch(task.generator, self.trainer.batch_size, n).to(self.device)

    def next_length(self) -> int:
        """The curriculum's next length; a length the task has no sequence of is drawn
        again (SCAN's holes), so the draw is the curriculum's over the lengths it has."""
        for _ in range(MAX_REDRAWS):
            n = self.curriculum.length(self.steps_drawn, self.data.generator)
            if self.data.has_length(n):
                return n
        raise ConfigError(
            "curriculum", f"drew {MAX_REDRAWS} lengths in a row that the task has no sequence of"
        )

    def validate(self, model: nn.Module) -> tuple[float, float]:
        return evaluate(model, self.val, self.eval_batch_size)[:2]

    # --- the history ----------------------------------------------------------------------
    def record(self, step: int, stats: RoundStats, val: tuple, seconds: float):
        return self.losses.record(step, stats.loss, stats.accuracy, *val, seconds)

    def record_from_row(self, row: dict[str, float]):
        fields = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")
        return self.losses.record(int(row["step"]), *(row[k] for k in fields))

    def round_line(self, r: RoundRecord) -> str:
        return (
            f"step {r.step}/{self.total_steps}  train_loss {r.train_loss:.6f}  "
            f"train_accuracy {r.train_accuracy:.4f}  val_loss {r.val_loss:.6f}  "
            f"val_accuracy {r.val_accuracy:.4f}  ({r.seconds:.2f}s)"
        )

    def postfix(self, r: RoundRecord) -> dict[str, str]:
        return {"val_loss": f"{r.val_loss:.4g}", "val_accuracy": f"{r.val_accuracy:.3f}"}

    # --- results ------------------------------------------------------------------------
    def outcome(self, model: nn.Module, history: Any, completed: bool) -> dict[str, Any]:
        last = history.records[-1] if history.records else None
        accuracies = [r.val_accuracy for r in history.records if math.isfinite(r.val_accuracy)]
        test = evaluate(model, self.test, self.eval_batch_size) if completed else (None,) * 3
        return {
            "final_train_accuracy": last.train_accuracy if last else None,
            "final_val_accuracy": last.val_accuracy if last else None,
            "best_val_accuracy": max(accuracies) if accuracies else None,
            "test_loss": test[0],
            "test_accuracy": test[1],
            "test_exact_match": test[2],
        }

    def model_length(self, length: int) -> int:
        return self.data.model_length(length)

    def length_row(self, model: nn.Module, length: int) -> dict[str, Any]:
        """The task's test batch at one length (fresh seeded sequences): loss and accuracy;
        `unsupported` with the reason where it cannot run."""
        task = self.data
        row: dict[str, Any] = {"length": length, "loss": None, "accuracy": None}
        row["exact_match"] = None
        tokens = task.model_length(length)
        reason = model.unsupported(tokens) or task.too_long(length)
        if reason is None and task.supplies:  # the task's own ids, past a table's rows?
            reason = model.unsupported_positions(self.evaluation_batch(length).positions)
        if reason is not None:
            where = (
                f"{tokens} tokens at length {length}" if tokens != length else f"length {length}"
            )
            return {**row, "status": "unsupported", "reason": f"{where}: {reason}"}
        loss, accuracy, exact = self.score_length(model, length)
        row.update(loss=loss, accuracy=accuracy, exact_match=exact, status="ok", reason="")
        log.debug("length %d: test loss %.6f, accuracy %.4f", length, loss, accuracy)
        return row

    def score_length(self, model: nn.Module, length: int) -> tuple[float, float, float]:
        """(loss, accuracy, exact match) on the seeded test sequences at one length."""
        return evaluate(model, [self.evaluation_batch(length)], self.eval_batch_size)

    def evaluation_batch(self, length: int) -> TokenBatch:
        """The seeded test sequences at one length, drawn once for every scaling's row."""
        if length not in self.drawn:
            cfg, task = self.cfg, self.data
            generator = torch.Generator().manual_seed(length_seed(cfg.seed, length))
            count = min(cfg.eval.per_length, self.most_sequences or cfg.eval.per_length)
            batch = task.evaluation(generator, length, count)
            self.drawn[length] = first_sequences(batch, self.most_sequences, self.device)
        return self.drawn[length]

    def forget_evaluation(self) -> None:
        self.drawn.clear()

    def after_lengths(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """The score over the unseen lengths (eval.max_length), as trained."""
        if self.max_length is None:
            return {}
        as_trained = [r for r in rows if not r.get("scaling")]
        value, reason = score(as_trained, self.data, self.max_length, self.scored_by)
        if reason:
            log.warning("score unsupported: %s", reason)
            return {"score": value, "score_unsupported": reason}
        if value is None:  # no length past training was evaluated
            return {"score": None}
        unseen = range(self.data.max_len + 1, self.max_length + 1)
        averaged = [r["length"] for r in as_trained if r["length"] in unseen]
        log.info("score (mean %s at lengths %s): %.4f", self.score_name, span_of(averaged), value)
        return {"score": value, "score_lengths": len(averaged)}  # eval.limit_lengths cuts it

    # --- the log ------------------------------------------------------------------------
    def describe(self) -> str:
        task, spec = self.data, self.spec
        return (
            f"data: {type(task).__name__} sampled at input lengths {task.min_len}.."
            f"{task.max_len} (up to {spec.seq_len} tokens), {task.vocab_size} symbols, "
            f"{task.n_classes} classes"
        )

    def rounds_done(self, metrics: dict[str, Any]) -> str:
        return f"{metrics['steps']} steps"

    def headline(self, metrics: dict[str, Any]) -> str:
        """The score past the training lengths (with eval.max_length) and test accuracy."""
        headline = f"test accuracy {metrics['test_accuracy']:.4f}"
        if self.scored_by == "exact_match":
            headline += f", test exact match {metrics['test_exact_match']:.4f}"
        if self.max_length is None:
            return headline
        score = metrics.get("score")
        value = "unsupported" if score is None else f"{score:.4f}"
        unseen = [n for n in self.evaluated_lengths() if self.data.max_len < n <= self.max_length]
        return f"score {value} (mean {self.score_name} at lengths {span_of(unseen)}), {headline}"

    def done(self, metrics: dict[str, Any]) -> list[str]:
        """The headline, then the losses and accuracies."""
        losses = ("final_train_loss", "final_val_loss", "test_loss", "best_val_loss")
        accuracies = ("final_train_accuracy", "final_val_accuracy", "test_accuracy")
        return [
            self.headline(metrics),
            "{}final train {:.6f}, val {:.6f}, test {:.6f}, best val {:.6f}".format(
                self.losses.label, *(metrics[k] for k in losses)
            ),
            "accuracy: final train {:.4f}, val {:.4f}, test {:.4f}".format(
                *(metrics[k] for k in accuracies)
            ),
        ]
