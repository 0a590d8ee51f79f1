"""The curriculum group: which input length each training batch of a token task has,
following Delétang et al.'s Curriculum classes; checked on hand-worked schedules and on the
batches a real job draws."""

from __future__ import annotations

import collections

import pytest
import torch

from posenc.config.compose import compose_job
from posenc.data.curricula.fixed import Fixed
from posenc.data.curricula.regular_increase import RegularIncrease
from posenc.data.curricula.reverse_exponential import ReverseExponential
from posenc.data.curricula.uniform import Uniform
from posenc.errors import ConfigError
from posenc.jobs.job import build_job


def lengths(curriculum, steps: int, seed: int = 0) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return [curriculum.length(step, generator) for step in range(steps)]


def test_regular_increase_grows_by_its_amount_every_frequency_steps_then_holds():
    grown = lengths(RegularIncrease(1, 7, initial_length=2, increase_frequency=3,
                                    increase_amount=2), 12)  # fmt: skip
    assert grown == [2, 2, 2, 4, 4, 4, 6, 6, 6, 7, 7, 7]  # held at max_len 7


def test_regular_increase_sampling_all_lengths_draws_among_those_reached():
    curriculum = RegularIncrease(1, 20, initial_length=3, increase_frequency=10,
                                 increase_amount=1, sample_all_length=True)  # fmt: skip
    drawn = lengths(curriculum, 40)
    for step, n in enumerate(drawn):
        assert 3 <= n <= 3 + step // 10
    assert set(drawn[30:]) > {3}  # not stuck at the start


def test_reverse_exponential_weighs_length_l_by_tau_to_the_l():
    curriculum = ReverseExponential(1, 3, tau=0.5)
    assert curriculum.probabilities.tolist() == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    counts = collections.Counter(lengths(curriculum, 7000))
    assert counts[1] > counts[2] > counts[3] > 0


def test_uniform_draws_every_training_length_about_equally_and_repeats_with_the_seed():
    drawn = lengths(Uniform(3, 7), 5000)
    counts = collections.Counter(drawn)
    assert set(counts) == {3, 4, 5, 6, 7}
    assert all(abs(c - 1000) < 150 for c in counts.values())  # 4.7 standard deviations
    assert drawn == lengths(Uniform(3, 7), 5000)


def test_fixed_gives_one_length_and_refuses_one_outside_training():
    assert set(lengths(Fixed(1, 9, length=4), 10)) == {4}
    assert set(lengths(Fixed(1, 9), 3)) == {9}  # null: the longest training length
    with pytest.raises(ConfigError, match=r"^curriculum.length: 12 is outside .*\(1\.\.9\)"):
        Fixed(1, 9, length=12)


TASK = ["dataset=parity_check", "dataset.max_len=9", "trainer.steps=4", "trainer.eval_every=2"]


@pytest.mark.parametrize(
    "choice, expected",
    [
        (["curriculum=fixed", "curriculum.length=5"], [5, 5, 5, 5]),
        (["curriculum=regular_increase", "curriculum.increase_frequency=2"], [1, 1, 2, 2]),
    ],
)
def test_a_jobs_training_batches_follow_the_curriculum(choice, expected):
    cfg, _ = compose_job([*TASK, *choice])
    kind = build_job(cfg).kind
    drawn = [kind.next_batch().x.shape[1] - 1 for _ in expected]  # the inputs, then one blank
    assert drawn == expected


def test_the_default_is_uniform_and_draws_from_the_tasks_own_stream():
    cfg, _ = compose_job(TASK)
    assert cfg.curriculum._target_.endswith("uniform.Uniform")
    kind = build_job(cfg).kind
    same = torch.Generator().manual_seed(0)
    same.set_state(kind.data.generator.get_state())
    expected = [Uniform(1, 9).length(0, same) for _ in range(6)]
    assert [kind.next_length() for _ in range(6)] == expected


def test_a_curriculum_other_than_uniform_is_refused_where_nothing_draws_lengths():
    cfg, _ = compose_job(["curriculum=fixed"])  # a regression dataset: fixed splits
    with pytest.raises(ConfigError, match=r"^curriculum: Fixed draws a token task's training"):
        build_job(cfg)


# ------------------------------------------------------------------ tasks that say their level

# Delétang et al. 2023, Table 1 (the reference's tasks/regular, tasks/dcf, tasks/cs)
PAPER_LEVELS = {
    "even_pairs": "regular",
    "modular_arithmetic": "regular",
    "parity_check": "regular",
    "cycle_navigation": "regular",
    "stack_manipulation": "context-free",
    "reverse_string": "context-free",
    "duplicate_string": "context-sensitive",
    "missing_duplicate_string": "context-sensitive",
    "odds_first": "context-sensitive",
    "binary_addition": "context-sensitive",
    "bucket_sort": "context-sensitive",
}


def test_every_token_task_declares_the_papers_level_and_the_readme_agrees():
    import importlib
    import re
    from pathlib import Path

    from posenc.data.tasks import LEVELS, Task

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name, level in PAPER_LEVELS.items():
        module = importlib.import_module(f"posenc.data.tasks.{name}")
        (task,) = [c for c in vars(module).values() if isinstance(c, type)
                   and issubclass(c, Task) and c is not Task]  # fmt: skip
        assert task.level == level and level in LEVELS, name
        row = re.search(rf"^\| `{name}` \| ([\w-]+) \|", readme, re.M)
        assert row and row.group(1) == level, name


def test_compare_by_level_gives_one_row_per_level(tmp_path, capsys):
    from posenc.cli.compare import main as compare
    from tests.conftest import run_inprocess

    for task in ("parity_check", "even_pairs", "reverse_string", "duplicate_string"):
        metrics = run_inprocess(
            tmp_path / "sweep" / task,
            [f"dataset={task}", "dataset.max_len=3", "trainer.steps=2", "trainer.eval_every=2",
             "eval.max_length=4", "eval.per_length=4", "dataset.val_per_length=4"],
        )  # fmt: skip
        assert metrics["level"] == PAPER_LEVELS[task]
    assert compare([str(tmp_path / "sweep"), "--by", "level"]) == 0
    import pandas as pd

    summary = pd.read_csv(tmp_path / "sweep" / "comparisons" / "by=level" / "summary.csv")
    assert sorted(summary["level"]) == ["context-free", "context-sensitive", "regular"]
    assert summary.set_index("level")["n"].to_dict() == {
        "regular": 2, "context-free": 1, "context-sensitive": 1
    }  # fmt: skip
