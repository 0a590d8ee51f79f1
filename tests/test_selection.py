"""compare --select: the papers' best-of protocol, one run per cell over seeds and learning
rates, chosen by validation (honest) or by the score itself (the papers' reading)."""

from __future__ import annotations

import pandas as pd

from posenc.analysis.comparison import load_results
from posenc.analysis.selection import select
from tests.test_compare import compare_cli, write_run

# (model, seed, lr) -> (final_val_accuracy, score): the best validation is never the best score
RUNS = {
    ("lstm", 0, 0.001): (0.90, 0.60),
    ("lstm", 1, 0.001): (0.95, 0.55),
    ("lstm", 0, 0.01): (0.80, 0.70),
    ("lstm", 1, 0.01): (0.85, 0.65),
    ("stack_rnn", 0, 0.001): (0.99, 0.90),
    ("stack_rnn", 1, 0.001): (0.70, 0.95),
    ("stack_rnn", 0, 0.01): (0.60, 0.50),
    ("stack_rnn", 1, 0.01): (0.97, 0.85),
}


def make_sweep(root):
    for i, ((model, seed, lr), (val, score)) in enumerate(RUNS.items()):
        metrics = {
            "status": "completed",
            "kind": "tokens",
            "final_val_accuracy": val,
            "final_val_loss": 1 - val,
            "score": score,
            "test_accuracy": val,
            "test_loss": 1 - val,
        }
        write_run(
            root / str(i),
            [f"model={model}", f"seed={seed}", f"optimizer.lr={lr}"],
            metrics,
            history={
                "step": [10, 20],
                "train_loss": [1.0, 1 - val],
                "train_accuracy": [0.5, val],
                "val_loss": [1.0, 1 - val],
                "val_accuracy": [0.5, val],
                "seconds": [0.1, 0.1],
            },
            config={"seed": seed, "optimizer": {"lr": lr}},
        )
    return root


def test_each_cell_gets_the_run_its_reading_chooses(tmp_path):
    results = load_results([make_sweep(tmp_path)])
    by_validation = select(results, "score", "validation").set_index("model")
    assert by_validation.loc["lstm", "score"] == 0.55  # val 0.95: seed 1, lr 0.001
    assert by_validation.loc["stack_rnn", "score"] == 0.90  # val 0.99
    assert by_validation.loc["stack_rnn", "optimizer.lr"] == 0.001
    assert (by_validation["candidates"] == 4).all()
    assert (by_validation["selected_by"] == "final_val_accuracy").all()
    by_score = select(results, "score", "score").set_index("model")
    assert by_score["score"].to_dict() == {"lstm": 0.70, "stack_rnn": 0.95}
    # the papers' reading is the maximum: never below the validation-chosen run
    assert (by_score["score"] >= by_validation.loc[by_score.index, "score"]).all()


def test_equal_validation_accuracies_are_told_apart_by_validation_loss(tmp_path):
    for seed, (loss, score) in enumerate([(0.02, 0.6), (0.01, 0.9)]):
        metrics = {"status": "completed", "kind": "tokens", "final_val_accuracy": 1.0}
        metrics.update(final_val_loss=loss, score=score)
        write_run(tmp_path / str(seed), ["model=lstm", f"seed={seed}"], metrics)
    table = select(load_results([tmp_path]), "score", "validation")
    assert table["score"].tolist() == [0.9] and table["seed"].tolist() == [1]


def test_a_run_that_did_not_complete_is_never_selected(tmp_path):
    make_sweep(tmp_path)
    write_run(
        tmp_path / "9",
        ["model=lstm", "seed=2", "optimizer.lr=0.001"],
        {"status": "failed", "kind": "tokens", "final_val_accuracy": 1.0, "score": 1.0},
        config={"seed": 2, "optimizer": {"lr": 0.001}},
    )
    table = select(load_results([tmp_path]), "score", "score").set_index("model")
    assert table.loc["lstm", "score"] == 0.70 and table.loc["lstm", "candidates"] == 4


def test_compare_select_writes_its_table_and_heatmap_in_a_folder_of_its_own(tmp_path):
    make_sweep(tmp_path)
    done = compare_cli(tmp_path, "--select", "score", "--plots")
    assert done.returncode == 0, done.stderr
    assert "the papers' reading" in done.stdout
    out = tmp_path / "comparisons" / "select=score"
    table = pd.read_csv(out / "selection_by_score.csv")
    assert dict(zip(table["model"], table["score"], strict=True)) == {
        "stack_rnn": 0.95,
        "lstm": 0.70,
    }
    assert (out / "scores_selected_by_score.png").stat().st_size > 0
    summary = pd.read_csv(out / "summary.csv")  # the means stay per learning rate
    assert len(summary) == 4 and "score_mean" in summary
    assert not (tmp_path / "selection_by_score.csv").exists()


def test_an_unknown_reading_is_refused_by_the_parser(tmp_path):
    make_sweep(tmp_path)
    done = compare_cli(tmp_path, "--select", "best")
    assert done.returncode == 2 and "--select" in done.stderr
