"""kind=text: character-level language modelling (posenc.data.text), trained by steps like
a token task, with a target at every position; the metric is bits per character.

Validation, test and the length evaluation read the held-out text in non-overlapping
windows (Press et al. 2022). history.csv carries the losses in nats and in bpc;
vocabulary.json records the symbols, so a trained run can be sampled from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from posenc.data.text import bits_per_character, perplexity
from posenc.errors import ConfigError
from posenc.jobs.kinds.base import log
from posenc.jobs.kinds.declared import TEXT
from posenc.jobs.kinds.tokens import LossReading, RoundRecord, Tokens
from posenc.store import run_folder as rf


@dataclass
class TextRecord(RoundRecord):
    @property
    def train_bpc(self) -> float:  # nats -> bits per character
        return bits_per_character(self.train_loss)

    @property
    def val_bpc(self) -> float:
        return bits_per_character(self.val_loss)


class Text(Tokens):
    declared = TEXT  # what the rest of posenc reads of it
    name = declared.name
    draws_lengths = False  # every training window is dataset.seq_len long
    columns = declared.history
    losses = LossReading(TextRecord, "loss in nats: ")
    tested: tuple[float, float] | None = None  # the test set's (loss, accuracy), once scored

    def next_length(self) -> int:
        return self.data.seq_len

    def describe(self) -> str:
        text = self.data
        return (
            f"data: {text.source}, windows of {text.seq_len} characters, "
            f"{self.spec.vocab_size} symbols; {len(text.train):,} characters to train on, "
            f"{len(text.val):,} to validate, {len(text.test):,} to test"
        )

    def round_line(self, r: TextRecord) -> str:
        return (
            f"step {r.step}/{self.total_steps}  train_loss {r.train_loss:.6f} "
            f"(bpc {r.train_bpc:.4f})  val_loss {r.val_loss:.6f} (bpc {r.val_bpc:.4f})  "
            f"val_accuracy {r.val_accuracy:.4f}  ({r.seconds:.2f}s)"
        )

    def check(self) -> None:
        if self.max_length is not None:
            raise ConfigError(
                "eval.max_length",
                "scores a token task's unseen lengths; for text list the lengths in eval.lengths",
            )
        super().check()

    layout_says = "dataset=text: the target is the next character"

    def family_value(self, family: str, row: dict[str, Any]) -> Any:
        if family == "perplexity":
            return perplexity(row.get("loss"))
        return row.get(self.LENGTH_COLUMNS[family])

    def outcome(self, model: nn.Module, history: Any, completed: bool) -> dict[str, Any]:
        out = super().outcome(model, history, completed)
        exact = out.pop("test_exact_match")  # a whole window right: not a text metric
        self.tested = (out["test_loss"], out["test_accuracy"], exact) if completed else None
        last = history.records[-1] if history.records else None
        out["final_val_bpc"] = bits_per_character(last.val_loss if last else None)
        out["test_bpc"] = bits_per_character(out["test_loss"])
        out["test_perplexity"] = perplexity(out["test_loss"])
        return out

    def score_length(self, model: nn.Module, length: int) -> tuple[float, float, float]:
        """At the training length the test windows are the test set's, scored already."""
        if length == self.spec.seq_len and self.tested is not None:
            return self.tested
        return super().score_length(model, length)

    def length_row(self, model: nn.Module, length: int) -> dict[str, Any]:
        row = super().length_row(model, length)
        row.pop("exact_match")
        if row["status"] == "ok":
            row["bpc"] = bits_per_character(row["loss"])
        return row

    def log_row(self, row: dict[str, Any]) -> None:
        scaling = f" ({row['scaling']} scaling)" if row.get("scaling") else ""
        if row["status"] == "ok":
            log.info("length %d%s: bpc %.4f", row["length"], scaling, row["bpc"])
        else:
            log.info("length %d%s: %s", row["length"], scaling, row["reason"])

    def headline(self, metrics: dict[str, Any]) -> str:
        """Bits per character on the test text, and at the longest evaluated length."""
        longest = max((int(k.split("@")[1]) for k in metrics if k.startswith("bpc@")), default=None)
        at = f", bpc@{longest} {four_places(metrics.get(f'bpc@{longest}'))}" if longest else ""
        return f"test bpc {metrics['test_bpc']:.4f}{at}"

    def files(self, run_dir: Path) -> None:
        rf.write_json(Path(run_dir) / rf.VOCABULARY, self.data.vocabulary())


def four_places(value: float | None) -> str:
    return "unsupported" if value is None else f"{value:.4f}"
