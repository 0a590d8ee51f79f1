"""Metrics known once: every number a run records in metrics.json that tables, figures,
exports (and statistics and search) read, whether lower or higher is better, and the
length-indexed families (`test_loss@40`: the family `test_loss` at evaluation length 40).

The metrics every run records are here; each kind of run declares its own (`KindSpec`,
`declare`: posenc.jobs.kinds.declared, which importing posenc registers), and the registry
below is built from those declarations, so nothing here, or in what reads it, names a kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LOWER, HIGHER = "lower", "higher"


@dataclass(frozen=True)
class Metric:
    name: str
    better: str  # LOWER or HIGHER
    meaning: str
    bounded: bool = False  # on one scale, [0, 1]: comparable across tasks (analysis.ranks)


@dataclass(frozen=True)
class KindSpec:
    """What a kind of run declares: its name (metrics.json's `kind`), words for messages,
    the metrics and length families it records beyond every run's, its history.csv columns
    (the first is the x axis: epoch or step), its headline (recorded only when it scores a
    range past training, `scores_range` with eval.max_length), what compare prints
    (after the headline, `printed`; of the lengths, `printed_family`'s: every length, or
    only when few), what the figures
    draw (`curve`: the history column and its words; `length_figure`: the length_eval.csv
    column and its words), and `markers`: the metrics that tell an older folder without a
    `kind` as this one (more markers: checked first). `default`: the kind of a dataset
    that declares none."""

    name: str
    label: str
    plural: str
    history: tuple[str, ...]
    metrics: tuple[Metric, ...] = ()
    families: tuple[Metric, ...] = ()
    headline: str | None = None
    scores_range: bool = False
    printed: tuple[str, ...] = ()
    printed_family: str | None = None  # None: every length metric the runs have
    printed_family_when_few: bool = False
    curve: tuple[str, str] = ("val_loss", "loss")
    length_figure: tuple[str, str] = ("loss", "test loss")
    markers: tuple[str, ...] = ()
    default: bool = False


COMMON = (  # every run records these
    Metric("final_train_loss", LOWER, "training loss of the last epoch"),
    Metric("final_val_loss", LOWER, "validation loss after the last epoch"),
    Metric("test_loss", LOWER, "loss on the held-out test split"),
    Metric("best_val_loss", LOWER, "lowest validation loss of any epoch"),
    Metric("train_seconds", LOWER, "wall-clock seconds of training"),
)
HEADLINE = "final_val_loss"  # what a sweep sorts by and a search optimises by default
TASK_HEADLINE = "score"  # ... when its runs score a range past their training lengths
# eval.rope_scalings: the same trained RoPE run evaluated under another scaling, as
# family_scaling@L (bpc_ntk@512)
SCALINGS = ("none", "linear", "ntk", "yarn")
SEP = "@"

# The registry, filled by `declare` (lists and dicts changed in place: importers see it).
KINDS: dict[str, KindSpec] = {}
METRICS: dict[str, Metric] = {m.name: m for m in COMMON}
SUMMARY: list[str] = list(METRICS)  # summarised over seeds, in this order
BOUNDED: set[str] = set()
LENGTH_FAMILIES: dict[str, Metric] = {"test_loss": METRICS["test_loss"]}  # family@L
BASE_FAMILIES: list[str] = ["test_loss"]
_FAMILY_KINDS: dict[str, set[str]] = {}  # a family: the kinds that record it (none: all)
_METRIC_KINDS: dict[str, set[str]] = {}  # a kind's own metric: the kinds that record it


def _add_family(metric: Metric) -> None:
    LENGTH_FAMILIES[metric.name] = metric
    if metric.name not in BASE_FAMILIES:
        BASE_FAMILIES.append(metric.name)
    for scaling in SCALINGS:
        LENGTH_FAMILIES[f"{metric.name}_{scaling}"] = Metric(
            f"{metric.name}_{scaling}",
            metric.better,
            f"{metric.meaning}, RoPE scaling {scaling}",
            metric.bounded,
        )


_add_family(METRICS["test_loss"])


def declare(spec: KindSpec) -> KindSpec:
    """Register a kind's declaration (again under the same name: replaced)."""
    KINDS[spec.name] = spec
    for metric in spec.metrics:
        METRICS.setdefault(metric.name, metric)
        _METRIC_KINDS.setdefault(metric.name, set()).add(spec.name)
        if metric.name not in SUMMARY:
            SUMMARY.append(metric.name)
        if metric.bounded:
            BOUNDED.add(metric.name)
    for family in spec.families:
        _add_family(family)
        _FAMILY_KINDS.setdefault(family.name, set()).add(spec.name)
    return spec


def kind_spec(name: str | None) -> KindSpec:
    """The declaration of the kind `name`; the default kind's for None."""
    if name in KINDS:
        return KINDS[name]
    return default_kind()


def default_kind() -> KindSpec:
    return next(s for s in KINDS.values() if s.default)


def recorded_by(name: str) -> list[KindSpec]:
    """The kinds that record the metric or length family `name`."""
    base = split_scaling(name)[0]
    owners = _FAMILY_KINDS.get(base) if base in LENGTH_FAMILIES else _METRIC_KINDS.get(name)
    return list(KINDS.values()) if owners is None else [KINDS[k] for k in owners]


def run_kind(metrics: dict) -> str:
    """The kind of run metrics.json records; a folder written before posenc recorded it is
    told by the metrics only its kind records (its declaration's `markers`)."""
    if metrics.get("kind") in KINDS:
        return metrics["kind"]
    if metrics.get("kind") is not None:
        return str(metrics["kind"])  # a kind this process has not declared
    by_markers = sorted(KINDS.values(), key=lambda s: -len(s.markers))
    for spec in by_markers:
        if spec.markers and all(metrics.get(k) is not None for k in spec.markers):
            return spec.name
    return default_kind().name


def kinds_in(table) -> set[str]:
    """The kinds of run among a results table's rows (posenc.analysis.comparison.load_results)."""
    return {run_kind(row) for row in table.to_dict("records")}


def specs_in(table) -> list[KindSpec]:
    """The declarations of the kinds among a table's rows, in declaration order (a kind not
    declared here reads as the default)."""
    present = kinds_in(table)
    found = [s for s in KINDS.values() if s.name in present]
    return found or [default_kind()]


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
    always = {m.name for m in COMMON}
    return [*(m for m in SUMMARY if m in always or m in names), *length_metrics(names)]


def headline(names: Iterable[str]) -> str:
    """What a table of these columns is sorted by when no metric is asked for: a kind's
    declared headline where present (the score of token tasks), else the final validation
    loss."""
    names = set(names)
    return next((s.headline for s in KINDS.values() if s.headline in names), HEADLINE)


def recorded(
    kind: str,
    lengths: Iterable[int] = (),
    scalings: Iterable[str] = (),
    scaled_lengths: Iterable[int] = (),
    scored: bool = False,
) -> frozenset[str]:
    """The metric names a completed run of this kind writes to metrics.json: every run's,
    its kind's declared metrics (its headline only when `scored`: a range scored past
    training), its kind's families at the evaluation `lengths`, and as family_scaling@L
    under each RoPE scaling at `scaled_lengths`."""
    spec = kind_spec(kind)
    own = [m.name for m in spec.metrics if m.name != spec.headline or scored]
    names = {m.name for m in COMMON} | set(own)
    families = ["test_loss", *(f.name for f in spec.families)]
    names.update(at_length(f, n) for f in families for n in lengths)
    names.update(
        at_length(f"{f}_{s}", n) for f in families for s in scalings for n in scaled_lengths
    )
    return frozenset(names)
