"""Metrics known once: every number a run records in metrics.json that tables, figures,
exports (and statistics and search) read, whether lower or higher is better, and the
length-indexed families (`test_loss@40`: the family `test_loss` at evaluation length 40).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LOWER, HIGHER = "lower", "higher"
# the kinds of run (a dataset's kind): real values (MSE), token tasks, text
REGRESSION, TOKENS, TEXT = "regression", "tokens", "text"
KINDS = (REGRESSION, TOKENS, TEXT)
CLASSES = frozenset({TOKENS, TEXT})  # runs of class targets
ONLY_TOKENS, ONLY_TEXT = frozenset({TOKENS}), frozenset({TEXT})


def run_kind(metrics: dict) -> str:
    """The kind of run metrics.json records; a folder written before posenc recorded it is
    read by what only that kind records."""
    if metrics.get("kind") in KINDS:
        return metrics["kind"]
    if metrics.get("test_bpc") is not None:
        return TEXT
    return TOKENS if metrics.get("test_accuracy") is not None else REGRESSION


def kinds_in(table) -> set[str]:
    """The kinds of run among a results table's rows (posenc.analysis.comparison.load_results)."""
    return {run_kind(row) for row in table.to_dict("records")}


@dataclass(frozen=True)
class Metric:
    name: str
    better: str  # LOWER or HIGHER
    meaning: str
    kinds: frozenset[str] = frozenset(KINDS)  # the kinds of run that record it

    @property
    def always(self) -> bool:
        return self.kinds == frozenset(KINDS)


_ALL = (
    Metric("final_train_loss", LOWER, "training loss of the last epoch"),
    Metric("final_val_loss", LOWER, "validation loss after the last epoch"),
    Metric("test_loss", LOWER, "loss on the held-out test split"),
    Metric("best_val_loss", LOWER, "lowest validation loss of any epoch"),
    Metric("train_seconds", LOWER, "wall-clock seconds of training"),
    # only with eval.max_length (posenc.metrics.recorded)
    Metric("score", HIGHER, "mean accuracy at the lengths past training", ONLY_TOKENS),
    Metric("test_accuracy", HIGHER, "accuracy on test sequences at training lengths", CLASSES),
    Metric("final_val_accuracy", HIGHER, "validation accuracy after the last round", CLASSES),
    Metric("final_train_accuracy", HIGHER, "training accuracy of the last round", CLASSES),
    Metric("best_val_accuracy", HIGHER, "highest validation accuracy of any round", CLASSES),
    Metric("test_bpc", LOWER, "bits per character on the held-out test text", ONLY_TEXT),
    Metric(
        "final_val_bpc",
        LOWER,
        "validation bits per character after the last round",
        ONLY_TEXT,
    ),
    Metric("test_perplexity", LOWER, "perplexity per character on the test text", ONLY_TEXT),
)
METRICS = {m.name: m for m in _ALL}
SUMMARY = tuple(METRICS)  # summarised over seeds, in this order
# metrics on one bounded scale, [0, 1]: comparable across tasks (analysis.ranks aggregates)
BOUNDED = frozenset(
    {"score", "test_accuracy", "final_val_accuracy", "final_train_accuracy", "best_val_accuracy"}
)
HEADLINE = "final_val_loss"  # what a sweep sorts by and a search optimises by default
TASK_HEADLINE = "score"  # ... when its runs are token tasks scored past their lengths
LENGTH_FAMILIES = {  # recorded per length as family@L
    "test_loss": METRICS["test_loss"],
    "accuracy": Metric("accuracy", HIGHER, "accuracy at one evaluation length", ONLY_TOKENS),
    "bpc": Metric("bpc", LOWER, "bits per character at one evaluation length", ONLY_TEXT),
    "perplexity": Metric("perplexity", LOWER, "perplexity at one evaluation length", ONLY_TEXT),
}
BASE_FAMILIES = tuple(LENGTH_FAMILIES)
# eval.rope_scalings: the same trained RoPE run evaluated under another scaling, as
# family_scaling@L (bpc_ntk@512)
SCALINGS = ("none", "linear", "ntk", "yarn")
for _family in tuple(LENGTH_FAMILIES):
    for _scaling in SCALINGS:
        _m = LENGTH_FAMILIES[_family]
        LENGTH_FAMILIES[f"{_family}_{_scaling}"] = Metric(
            f"{_family}_{_scaling}", _m.better, f"{_m.meaning}, RoPE scaling {_scaling}", _m.kinds
        )
SEP = "@"


def at_length(family: str, length: int) -> str:
    return f"{family}{SEP}{length}"


def split_length(name: str) -> tuple[str, int] | None:
    """`test_loss@40` -> ("test_loss", 40); None for a name that is not family@L."""
    family, sep, length = str(name).partition(SEP)
    if not sep or family not in LENGTH_FAMILIES or not length.isdigit():
        return None
    return family, int(length)


def split_scaling(family: str) -> tuple[str, str]:
    """`bpc_ntk` -> ("bpc", "ntk"); a base family -> (family, "")."""
    for base in BASE_FAMILIES:
        rest = family.removeprefix(f"{base}_")
        if rest != family and rest in SCALINGS:
            return base, rest
    return family, ""


def is_metric(name: str) -> bool:
    return name in METRICS or split_length(name) is not None


def better(name: str) -> str:
    """LOWER or HIGHER for a known metric; KeyError naming the known ones otherwise."""
    if name in METRICS:
        return METRICS[name].better
    if (parsed := split_length(name)) is not None:
        return LENGTH_FAMILIES[parsed[0]].better
    raise KeyError(
        f"{name!r} is not a metric posenc knows: {', '.join(METRICS)}, or family@L for "
        f"{', '.join(BASE_FAMILIES)} (family_<scaling>@L under eval.rope_scalings)"
    )


def length_metrics(names: Iterable[str]) -> list[str]:
    """The family@L names among `names`, by family then increasing L."""
    found = [(split_length(n), n) for n in names]
    return [n for parsed, n in sorted((p, n) for p, n in found if p is not None)]


def summary_metrics(names: Iterable[str]) -> list[str]:
    """What a summary covers: the known metrics (those of token tasks when present), then
    the length metrics present."""
    names = list(names)
    return [*(m for m in SUMMARY if METRICS[m].always or m in names), *length_metrics(names)]


def headline(names: Iterable[str]) -> str:
    """What a table of these columns is sorted by when no metric is asked for: the score
    of token tasks, else the final validation loss."""
    return TASK_HEADLINE if TASK_HEADLINE in set(names) else HEADLINE


def recorded(
    kind: str,
    lengths: Iterable[int] = (),
    scalings: Iterable[str] = (),
    scaled_lengths: Iterable[int] = (),
    scored: bool = False,
) -> frozenset[str]:
    """The metric names a completed run of this kind writes to metrics.json: its kind's
    metrics (`score` only when `scored`: a token task with eval.max_length), its kind's
    families at the evaluation `lengths`, and as family_scaling@L under each RoPE scaling
    at `scaled_lengths`."""
    names = {m.name for m in _ALL if kind in m.kinds and (m.name != TASK_HEADLINE or scored)}
    families = [f for f in BASE_FAMILIES if kind in LENGTH_FAMILIES[f].kinds]
    names.update(at_length(f, n) for f in families for n in lengths)
    names.update(
        at_length(f"{f}_{s}", n) for f in families for s in scalings for n in scaled_lengths
    )
    return frozenset(names)
