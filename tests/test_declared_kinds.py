"""A kind of run defined here, in the test, with a metric of its own: trained, compared,
drawn and exported with no edit to posenc's source. What the tables, figures and the export
know of it they read from its declaration (posenc.metrics.KindSpec), never from its name."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import posenc
from posenc import metrics as known
from posenc.data import Splits
from posenc.data.random import random_dataset
from posenc.jobs.kinds import registry
from posenc.jobs.kinds.regression import Regression

TOY = known.KindSpec(
    name="toy",
    label="a toy dataset",
    plural="toy datasets",
    history=("epoch", "train_loss", "val_loss", "seconds"),
    metrics=(known.Metric("test_max_error", known.LOWER, "largest error on the test split"),),
    printed=("test_max_error", "final_val_loss"),
    curve=("val_loss", "toy loss"),
    length_figure=("loss", "toy loss"),
)


@dataclasses.dataclass
class ToySplits(Splits):
    kind = "toy"


def toy_dataset(**keys) -> ToySplits:
    """random's data, as a kind of its own."""
    made = random_dataset(**keys)
    return ToySplits(made.train, made.val, made.test)


toy_dataset.kind = "toy"  # what the config declares before anything is built


class Toy(Regression):
    declared = TOY
    name = TOY.name

    def outcome(self, model, history, completed):
        out = super().outcome(model, history, completed)
        with torch.inference_mode():
            error = (model(self.data.test.x) - self.data.test.y).abs().max().item()
        return {**out, "test_max_error": error if completed else None}


@pytest.fixture
def toy_kind():
    """The toy kind declared and registered for one test, posenc's registries as they were
    afterwards."""
    saved = {
        name: getattr(known, name).copy()
        for name in ("KINDS", "METRICS", "SUMMARY", "BOUNDED", "LENGTH_FAMILIES", "BASE_FAMILIES")
    }
    owners = {k: set(v) for k, v in known._METRIC_KINDS.items()}
    kinds = dict(registry.KINDS)
    known.declare(TOY)
    registry.register(Toy)
    yield
    for name, value in saved.items():
        target = getattr(known, name)
        target.clear()
        target.update(value) if isinstance(target, dict | set) else target.extend(value)
    known._METRIC_KINDS.clear()
    known._METRIC_KINDS.update(owners)
    registry.KINDS.clear()
    registry.KINDS.update(kinds)


TOY_RUN = [
    "dataset=random",
    f"dataset._target_={__name__}.toy_dataset",
    "dataset.n_samples=64",
    "dataset.seq_len=5",
    "dataset.feature_dim=3",
    "trainer.epochs=2",
]


@pytest.mark.slow
def test_a_kind_defined_in_a_test_runs_through_train_compare_figures_and_export(
    tmp_path, toy_kind, capsys
):
    from posenc.analysis import tables
    from posenc.store.tracking import export_mlflow

    for seed in (0, 1):
        result = posenc.run([*TOY_RUN, f"seed={seed}"], output_dir=tmp_path / "sweep" / f"s{seed}")
        assert result.metrics["kind"] == "toy" and result.metrics["test_max_error"] > 0
        assert list(result.history.columns) == list(TOY.history)  # read by its declared header
    made = tables.make([tmp_path / "sweep"])
    printed = tables.describe(made)
    assert "test_max_error" in printed.splitlines()[1]  # its metric, as declared, printed
    written = {p.name for p in tables.write(made, figures=True, report=True)}
    assert {"results.csv", "summary.csv", "loss_curves.png", "report.html"} <= written
    assert made.summary["test_max_error_n"].tolist() == [2]
    assert "test_max_error" in (tmp_path / "sweep" / "report.html").read_text()
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert export_mlflow([tmp_path / "sweep"], uri)["created"] == 2
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    (experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
    runs = client.search_runs([experiment.experiment_id])
    assert all("test_max_error" in r.data.metrics for r in runs)
    saved = json.loads((tmp_path / "sweep" / "s0" / "metrics.json").read_text())
    assert saved["test_max_error"] == pytest.approx(runs[0].data.metrics["test_max_error"]) or (
        saved["test_max_error"] == pytest.approx(runs[1].data.metrics["test_max_error"])
    )


def test_the_registry_is_built_from_the_declarations_alone(toy_kind):
    assert known.better("test_max_error") == known.LOWER
    assert "test_max_error" in known.SUMMARY
    assert known.run_kind({"kind": "toy"}) == "toy"
    assert known.recorded("toy") >= {"test_max_error", "final_val_loss"}
    assert "test_max_error" not in known.recorded(known.default_kind().name)


def test_folders_written_before_kind_existed_read_as_before():
    assert known.run_kind({"test_bpc": 1.2, "test_accuracy": 0.5}) == "text"
    assert known.run_kind({"test_accuracy": 0.5}) == "tokens"
    assert known.run_kind({"test_loss": 0.5}) == "regression"
