"""The Chomsky-hierarchy token tasks against hand-worked examples from their definitions
(Delétang et al. 2023 and the reference's docstrings), sampled at several lengths including 1."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from posenc.data.tasks import Task
from posenc.data.tasks.binary_addition import BinaryAddition
from posenc.data.tasks.bucket_sort import BucketSort
from posenc.data.tasks.cycle_navigation import CycleNavigation
from posenc.data.tasks.duplicate_string import DuplicateString
from posenc.data.tasks.even_pairs import EvenPairs
from posenc.data.tasks.missing_duplicate_string import MissingDuplicateString
from posenc.data.tasks.modular_arithmetic import ModularArithmetic
from posenc.data.tasks.odds_first import OddsFirst
from posenc.data.tasks.parity_check import ParityCheck
from posenc.data.tasks.reverse_string import ReverseString
from posenc.data.tasks.stack_manipulation import StackManipulation
from posenc.errors import ConfigError


def token_tasks() -> tuple[type[Task], ...]:
    """Every token task conf/dataset offers: a new task's YAML puts it under these tests."""
    from posenc.config.compose import config_dir
    from posenc.signatures import locate

    found = []
    for path in sorted(Path(config_dir(), "dataset").glob("*.yaml")):
        target = locate(yaml.safe_load(path.read_text())["_target_"])
        if isinstance(target, type) and issubclass(target, Task) and target.kind == "tokens":
            found.append(target)
    return tuple(found)


ALL = token_tasks()
PLUS, MINUS, TIMES = 5, 6, 7  # modular_arithmetic's operator tokens (modulus 5)
POP, PUSH0, PUSH1 = 2, 3, 4


def make(cls, **keys):
    return cls(torch.Generator().manual_seed(0), **keys)


def digits(text: str) -> list[int]:
    return [int(c) for c in text.replace(" ", "")]


def targets(cls, tokens: list[int], **keys) -> list[int]:
    return make(cls, **keys).targets(torch.tensor([tokens])).tolist()[0]


@pytest.mark.parametrize(
    "cls, tokens, expected",
    [
        (ParityCheck, "0110", "0"),
        (ParityCheck, "111", "1"),
        (ParityCheck, "1", "1"),
        (EvenPairs, "001110", "0"),  # one 01, one 10
        (EvenPairs, "0101001", "1"),  # two 10, three 01
        (EvenPairs, "0", "0"),
        (CycleNavigation, "20100", "3"),  # +1 -1 0 -1 -1 = -2 -> 3
        (CycleNavigation, "2221", "3"),  # +3 -> 3
        (CycleNavigation, "0", "4"),  # -1 -> 4
        (ReverseString, "0111", "1110"),
        (ReverseString, "1", "1"),
        (DuplicateString, "101", "101101"),
        (DuplicateString, "0", "00"),
        (OddsFirst, "00110101", "01000111"),
        (OddsFirst, "110", "101"),
        (OddsFirst, "1", "1"),
        (BucketSort, "10204112", "00111224"),
        (BucketSort, "3", "3"),
        (MissingDuplicateString, "01100210", "1"),  # w = 0110
        (MissingDuplicateString, "1011213", "0"),  # w = 101, padded by 3
        (MissingDuplicateString, "2101", "0"),  # the hidden symbol in the first copy
        (MissingDuplicateString, "1", "1"),  # the reference's convention at length 1
    ],
)
def test_tasks_follow_their_definitions(cls, tokens, expected):
    assert targets(cls, digits(tokens)) == digits(expected)


@pytest.mark.parametrize(
    "tokens, expected",
    [
        ([1, PLUS, 2, TIMES, 3], 2),  # 1 + 6 = 7
        ([1, MINUS, 1, MINUS, 1], 4),  # -1
        ([0, TIMES, 1, PLUS, 4, TIMES, 3, MINUS, 2], 0),  # 0 + 12 - 2 = 10
        ([3, MINUS, 2, TIMES, 4], 0),  # 3 - 8 = -5: × before −
        ([4], 4),
    ],
)
def test_modular_arithmetic_reduces_with_precedence(tokens, expected):
    assert targets(ModularArithmetic, tokens) == [expected]


def test_modular_arithmetic_inputs_have_odd_length():
    task = make(ModularArithmetic)
    g = torch.Generator().manual_seed(1)
    for n, odd in ((1, 1), (2, 1), (5, 5), (6, 5)):
        x = task.inputs(g, 8, n)
        assert x.shape == (8, odd)
        assert (x[:, ::2] < 5).all() and (x[:, 1::2] >= 5).all()
    assert task.model_length(6) == 6  # 5 inputs and one blank


@pytest.mark.parametrize(
    "tokens, expected",
    [
        ([0, 1, 1, 0, PUSH1, POP, POP], "11020000"),  # the reference's first example
        ([1, 1, 0, POP, POP, POP], "2000000"),  # emptied
        ([1, POP, POP, PUSH0], "02000"),  # a POP on an empty stack is ignored
        ([1], "12"),  # length 1: the bit, then the end token
    ],
)
def test_stack_manipulation(tokens, expected):
    assert targets(StackManipulation, tokens) == digits(expected)


@pytest.mark.parametrize(
    "tokens, expected",
    [
        # n + 1 outputs, as the reference's code pads (its docstring shows one 0 fewer)
        ("001 2 01101", "01011 2 0000"),  # 4 + 22 = 26
        ("1001 2 000001", "100101 2 00000"),  # 9 + 32 = 41
        ("1 2 1", "01 2 0"),  # 1 + 1 = 2
        ("0", "0 2"),  # length 1: the number 0, written as one digit
        ("01", "01 2"),  # length 2, no +: the number 2
    ],
)
def test_binary_addition(tokens, expected):
    assert targets(BinaryAddition, digits(tokens)) == digits(expected)


def test_binary_addition_handles_numbers_past_64_bits():
    n = 150  # a + b with 74 and 75 digits
    a, b = 2**73 + 12345, 2**74 + 3
    left = [int(c) for c in f"{a:b}"[::-1]]
    right = [int(c) for c in f"{b:b}"[::-1]]
    out = targets(BinaryAddition, [*left, 2, *right])
    total = a + b
    assert out[: total.bit_length()] == [int(c) for c in f"{total:b}"[::-1]]
    assert out[total.bit_length()] == 2 and len(out) == n + 1


def test_every_token_task_module_has_its_yaml():
    """conf/dataset and the token tasks' packages agree: a task module without its YAML (or
    the reverse) would drop out of these tests unseen."""
    import importlib
    import pkgutil

    import posenc.data.decoder_tasks as decoder_tasks
    import posenc.data.tasks as tasks

    modules = [
        f"{package.__name__}.{m.name}"
        for package in (tasks, decoder_tasks)
        for m in pkgutil.iter_modules(package.__path__)
    ]
    found = {c.__module__ for c in ALL}
    assert sorted(found) == sorted(modules) and ParityCheck in ALL
    for name in modules:  # each module defines its task
        assert any(c.__module__ == name for c in ALL), name
        importlib.import_module(name)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("n", [1, 2, 3, 7, 20])
def test_sampled_batches_are_consistent(cls, n):
    """Every task at several lengths: shapes, vocabulary, classes, and the blanks layout."""
    task = make(cls)
    n = max(n, task.min_len)  # lego: a chain of at least two variables
    batch = task.batch(torch.Generator().manual_seed(n), 16, n)
    m = task.input_length(n)
    t = task.model_length(n) - m  # output_length(m), or SCAN's n: its length is the answer's
    assert batch.x.shape == (16, m + t) and batch.y.shape == (16, t) == batch.mask.shape
    assert (batch.x[:, m:] == task.vocab_size).all()  # the blanks
    assert (batch.x[:, :m] < task.vocab_size).all() and (batch.x[:, :m] >= 0).all()
    assert (batch.y >= 0).all() and (batch.y < task.n_classes).all()
    assert torch.equal(task.targets(batch.x[:, :m]), batch.y)
    assert task.spec.vocab_size == task.vocab_size + 1


def test_binary_addition_samples_match_integer_sums():
    task = make(BinaryAddition)
    x = task.inputs(torch.Generator().manual_seed(3), 64, 12)
    y = task.targets(x)
    for row, out in zip(x.tolist(), y.tolist(), strict=True):
        k = row.index(2)
        a = sum(d << i for i, d in enumerate(row[:k]))
        b = sum(d << i for i, d in enumerate(row[k + 1 :]))
        assert a > 0 and b > 0  # both numbers are non-zero
        end = out.index(2)
        assert sum(d << i for i, d in enumerate(out[:end])) == a + b
        assert end == max(1, (a + b).bit_length())


def test_accuracy_mask_stops_at_the_end_token():
    y = torch.tensor([[1, 1, 0, 2, 0, 0], [2, 0, 0, 0, 0, 0]])
    mask = make(StackManipulation).accuracy_mask(y)
    assert mask.tolist() == [[True] * 4 + [False] * 2, [True] + [False] * 5]
    assert make(ReverseString).accuracy_mask(y).all()


def test_sampling_is_seeded():
    task = make(BucketSort)
    a = task.batch(torch.Generator().manual_seed(5), 8, 9)
    b = task.batch(torch.Generator().manual_seed(5), 8, 9)
    c = task.batch(torch.Generator().manual_seed(6), 8, 9)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)


def test_curriculum_is_seeded_and_inside_its_range():
    lengths = [make(ParityCheck, min_len=3, max_len=7).next_length() for _ in range(1)]
    first = make(ParityCheck, min_len=3, max_len=7)
    second = make(ParityCheck, min_len=3, max_len=7)
    drawn = [first.next_length() for _ in range(500)]
    assert drawn == [second.next_length() for _ in range(500)]
    assert set(drawn) == {3, 4, 5, 6, 7} and lengths[0] == drawn[0]


@pytest.mark.parametrize(
    "keys, key",
    [
        ({"min_len": 0}, "dataset.min_len"),
        ({"min_len": 5, "max_len": 4}, "dataset.max_len"),
        ({"val_per_length": 0}, "dataset.val_per_length"),
    ],
)
def test_bad_sizes_are_refused(keys, key):
    with pytest.raises(ConfigError, match=key):
        make(ParityCheck, **keys)


def test_modular_arithmetic_refuses_unknown_operators():
    with pytest.raises(ConfigError, match="dataset.operators"):
        make(ModularArithmetic, operators=["/"])


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_task_runs_in_the_prompt_layout(cls):
    """[BOS] input [SEP] answer, the answer's tokens after the inputs' ids; targets the
    answer then EOS; the task's own targets read back from the tokens."""
    task = cls(torch.Generator().manual_seed(0), layout="prompt")
    n = max(5, task.min_len)
    batch = task.batch(torch.Generator().manual_seed(1), 8, n)
    layout, m = task.layout, task.input_length(n)
    t = batch.y.shape[1] - 1  # the answer; EOS last
    assert batch.x.shape == (8, task.model_length(n)) == (8, m + t + 2)
    assert (batch.x[:, 0] == layout.bos).all() and (batch.x[:, m + 1] == layout.sep).all()
    assert torch.equal(task.targets(batch.x[:, 1 : m + 1]), batch.y[:, :-1])
    assert torch.equal(batch.x[:, m + 2 :], batch.y[:, :-1] + task.vocab_size)
    assert (batch.y[:, -1] == layout.eos).all() and batch.mask[:, -1].all()
    assert task.spec.vocab_size == task.vocab_size + task.n_classes + 2
    assert task.spec.n_classes == task.n_classes + 1
    assert layout.input_lengths(batch.x).tolist() == [m] * 8
