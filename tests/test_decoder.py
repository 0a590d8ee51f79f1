"""The decoder-only protocol (Kazemnejad et al. 2023): the prompt layout, exact match read
from one teacher-forced pass (equal to greedy decoding), the loss on the answer alone, the
refusals, and the paper's tasks on hand-worked examples."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import posenc
from posenc.config.compose import compose_job
from posenc.data.decoder_tasks.addition import PLUS, Addition
from posenc.data.decoder_tasks.copy import Copy
from posenc.data.decoder_tasks.lego import MINUS_ONE, NEGATED, PLUS_ONE, SAME, Lego
from posenc.data.decoder_tasks.polynomial import Polynomial
from posenc.data.decoder_tasks.sort import Sort
from posenc.data.decoder_tasks.summation import Summation
from posenc.data.tasks import LEVELS, Prompt, TokenBatch
from posenc.data.tasks.parity_check import ParityCheck
from posenc.data.tasks.reverse_string import ReverseString
from posenc.errors import ConfigError
from posenc.jobs.job import build_job
from posenc.jobs.kinds import tokens


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_the_prompt_layout_is_bos_input_sep_answer_then_eos_as_a_target():
    task = ReverseString(generator(), layout="prompt")
    layout = task.layout
    assert (layout.bos, layout.sep, layout.eos) == (4, 5, 2)  # inputs 0,1; answers 2,3
    batch = layout.batch(torch.tensor([[0, 1, 1]]), task.targets(torch.tensor([[0, 1, 1]])),
                         torch.ones(1, 3, dtype=torch.bool))  # fmt: skip
    assert batch.x.tolist() == [[4, 0, 1, 1, 5, 3, 3, 2]]  # BOS 0 1 1 SEP, answer 1 1 0
    assert batch.y.tolist() == [[1, 1, 0, 2]]  # the answer, then EOS
    assert task.model_length(3) == batch.x.shape[1]
    assert task.spec.vocab_size == 6 and task.spec.n_classes == 3
    assert layout.input_lengths(batch.x).tolist() == [3]  # never the answer's tokens
    assert layout.prompt(batch).tolist() == [[4, 0, 1, 1, 5]]


def test_an_unknown_layout_is_one_line_naming_the_choices():
    with pytest.raises(ConfigError, match="dataset.layout: 'decoder' is not one of blanks, prompt"):
        ParityCheck(generator(), layout="decoder")


class Shifted(nn.Module):
    """Wraps a model; adds noise to its logits at every position but the last `clean`."""

    def __init__(self, inner: nn.Module, clean: int):
        super().__init__()
        self.inner, self.clean = inner, clean

    def forward(self, x):
        logits = self.inner(x)
        noise = torch.randn(logits.shape, generator=generator(7)) * 10
        before = torch.arange(x.shape[1]) < x.shape[1] - self.clean
        return logits + noise * before[None, :, None]


def test_the_loss_falls_on_the_answer_and_eos_alone():
    task = ReverseString(generator(), min_len=4, max_len=4, layout="prompt")
    batch = task.batch(generator(1), 8, 4)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(task.spec.vocab_size, 8), nn.Linear(8, task.spec.n_classes))
    plain = tokens.scores(model, batch)
    # the outputs at BOS and the inputs (every position before SEP) changed: nothing changes
    noisy = tokens.scores(Shifted(model, clean=batch.y.shape[1]), batch)
    assert all(torch.equal(a, b) for a, b in zip(plain, noisy, strict=True))
    # the output at SEP (it predicts the answer's first token) counts
    moved = tokens.scores(Shifted(model, clean=batch.y.shape[1] - 1), batch)
    assert not torch.equal(plain[0], moved[0])


def test_exact_match_counts_a_sequence_only_when_the_answer_and_eos_are_right():
    layout = Prompt(vocab_size=2, n_classes=2)
    y = torch.tensor([[1, 0, 1], [1, 0, 0]])  # answer, answer, EOS (class 2)
    y[:, -1] = layout.eos
    batch = TokenBatch(torch.zeros(2, 6, dtype=torch.long), y, torch.ones(2, 3, dtype=bool),
                       layout)  # fmt: skip
    predicted = torch.tensor([[1, 0, 2], [1, 0, 1]])  # row 1: the answer right, EOS wrong

    class Fixed(nn.Module):
        def forward(self, x):
            logits = torch.zeros(2, 6, 3)
            logits[:, -3:] = nn.functional.one_hot(predicted, 3).float()
            return logits

    loss, accuracy, exact = tokens.evaluate(Fixed(), [batch])
    assert accuracy == pytest.approx(5 / 6) and exact == 0.5


@pytest.mark.parametrize(
    "task, x, answer",
    [
        (Copy(generator(), vocab_size=10), [[3, 1, 4]], [[3, 1, 4]]),
        (Copy(generator(), variant="rsc", vocab_size=10), [[7, 7, 7]], [[7, 7, 7]]),
        (Copy(generator(), variant="rdc", vocab_size=10), [[5, 2, 5, 5, 5]], [[2, 2, 2]]),
        (Addition(generator()), [[3, 7, PLUS, 8, 5]], [[1, 2, 2]]),  # 37 + 85 = 122
        (Addition(generator()), [[1, 2, PLUS, 3, 4]], [[0, 4, 6]]),  # fixed width: 046
        (Addition(generator()), [[9, 9, 9, PLUS, 9, 9, 9]], [[1, 9, 9, 8]]),
        (Sort(generator()), [[3, 1, 4, 1]], [[1, 1, 3, 4]]),
        (Summation(generator()), [[7, 5, 9]], [[1]]),  # 21 mod 10
        # x = 2 (token 15): 1·x^2 (tokens 4, 9) + (-3)·x^0 (tokens 0, 7) = 1
        (Polynomial(generator()), [[15, 4, 9, 0, 7]], [[1]]),
        # x = -2 (token 11): (-1)·x^3 (tokens 2, 10) = 8; 3·x^1 (tokens 6, 8) = -6 -> 2
        (Polynomial(generator()), [[11, 2, 10, 6, 8]], [[2]]),
        # x = 0 (token 13): -3·x^0 = -3 -> 7 (Python's modulo, 0^0 = 1)
        (Polynomial(generator()), [[13, 0, 7]], [[7]]),
        # a = +1; b = - a; c = + b; c? -> -1 (class 0)
        (Lego(generator()), [[0, PLUS_ONE, 1, NEGATED, 0, 2, SAME, 1, 2]], [[0]]),
        # the same chain asked for b, then a chain a = -1; b = - a; c = - b, asked for b: +1
        (Lego(generator()), [[0, PLUS_ONE, 1, NEGATED, 0, 2, SAME, 1, 1]], [[0]]),
        (Lego(generator()), [[0, MINUS_ONE, 1, NEGATED, 0, 2, NEGATED, 1, 1]], [[1]]),
    ],
)
def test_the_papers_tasks_on_hand_worked_examples(task, x, answer):
    assert task.targets(torch.tensor(x)).tolist() == answer


@pytest.mark.parametrize(
    "name", ["copy", "addition", "sort", "summation", "polynomial", "lego", "scan"]
)
def test_each_new_task_draws_what_it_says(name):
    cfg, _ = compose_job(["+experiment=decoder", f"dataset={name}"])
    task = build_job(cfg).kind.data
    for n in (task.min_len, 3, task.max_len):
        batch = task.batch(generator(n), 16, n)
        assert batch.x.shape == (16, task.model_length(n))
        assert (
            int(batch.x.max()) < task.spec.vocab_size and int(batch.y.max()) < task.spec.n_classes
        )
        assert (batch.y[:, -1] == task.layout.eos).all()
    assert task.level in LEVELS


def test_lego_asks_for_a_variable_of_the_chains_second_half():
    task = Lego(generator())
    x = task.inputs(generator(5), 2000, 6)
    names = torch.cat([x[:, :1], x[:, 2:-1:3]], dim=1)
    asked = (names == x[:, -1:]).int().argmax(1)
    assert set(asked.tolist()) == {3, 4, 5}  # ceil(6 / 2) .. 5, as the reference draws
    assert all(len(set(row)) == 6 for row in names.tolist())  # distinct variables


def test_addition_draws_n_digit_operands():
    x = Addition(generator()).inputs(generator(3), 500, 4)
    assert (x[:, 0] > 0).all() and (x[:, 5] > 0).all() and (x[:, 4] == PLUS).all()


def test_a_model_that_reads_later_tokens_is_refused_in_the_prompt_layout():
    cfg, _ = compose_job(["+experiment=decoder", "dataset=copy", "model.causal=false"])
    with pytest.raises(ConfigError, match="model.causal: .*would read the answer it predicts"):
        build_job(cfg)


def test_positions_drawn_per_pass_and_rope_scalings_are_refused_in_the_prompt_layout():
    base = ["+experiment=decoder", "dataset=copy"]
    cfg, _ = compose_job([*base, "encoding=sinusoidal_random"])
    with pytest.raises(ConfigError, match="encoding.random_eval: true draws new positions"):
        build_job(cfg)
    cfg, _ = compose_job([*base, "encoding=rope", "encoding.scaling=ntk"])
    with pytest.raises(ConfigError, match="encoding.scaling: ntk acts only once"):
        build_job(cfg)


def test_a_memory_model_jumps_by_the_input_not_the_answer():
    cfg, _ = compose_job(["+experiment=chomsky_tape_rnn", "dataset=duplicate_string",
                          "dataset.layout=prompt"])  # fmt: skip
    job = build_job(cfg)
    batch = job.kind.data.batch(generator(), 4, 5)  # answer of 10 tokens after the 5 inputs
    assert job.model.input_lengths(batch.x).tolist() == [5] * 4


TOY = ["+experiment=decoder", "dataset=copy", "dataset.vocab_size=4", "dataset.max_len=5",
       "model.d_model=32", "model.n_layers=2", "trainer.steps=300", "trainer.batch_size=32",
       "eval.per_length=64", "plots=false"]  # fmt: skip


@pytest.mark.slow
def test_teacher_forced_exact_match_equals_greedy_decoding_on_a_trained_model(tmp_path):
    result = posenc.run(TOY, output_dir=tmp_path / "run")
    assert result.status == "completed"
    loaded = posenc.load_model(tmp_path / "run")
    model, kind = loaded.model.double(), loaded.kind  # float64: the two paths agree to 1e-12
    right = wrong = 0
    for length in range(1, 11):  # in the training range and past it, to twice its length
        batch = kind.evaluation_batch(length)
        with torch.inference_mode():
            forced = batch.outputs(model(batch.x)).argmax(-1) == batch.y
        decoded = tokens.greedy_answers(model, batch) == batch.y
        assert torch.equal(forced.all(1), decoded.all(1)), length
        right += int(decoded.all(1).sum())
        wrong += int((~decoded.all(1)).sum())
    assert right > 0 and wrong > 0  # both outcomes were tested
    for length in (6, 10):  # the recorded family is the same teacher-forced share
        assert result.metrics[f"exact_match@{length}"] is not None


@pytest.mark.slow
def test_the_decoder_preset_records_exact_match_in_range_and_past_it(tmp_path):
    result = posenc.run([*TOY, "trainer.steps=20"], output_dir=tmp_path / "run")
    metrics = result.metrics
    assert 0 <= metrics["test_exact_match"] <= metrics["test_accuracy"] <= 1
    past = [metrics[f"exact_match@{n}"] for n in range(6, 11)]
    assert metrics["score"] == pytest.approx(sum(past) / len(past))
    assert metrics["score_lengths"] == 5


@pytest.mark.parametrize(
    "command, actions",
    [
        ("jump twice after walk left", "LTURN WALK JUMP JUMP"),
        ("walk", "WALK"),
        ("turn left", "LTURN"),
        ("look right twice", "RTURN LOOK RTURN LOOK"),
        ("run opposite left", "LTURN LTURN RUN"),
        ("turn opposite right thrice", "RTURN RTURN RTURN RTURN RTURN RTURN"),
        ("walk around left", "LTURN WALK LTURN WALK LTURN WALK LTURN WALK"),
        ("turn around right", "RTURN RTURN RTURN RTURN"),
        ("jump and look left", "JUMP LTURN LOOK"),
        ("jump after look left", "LTURN LOOK JUMP"),
        ("walk twice and run opposite right", "WALK WALK RTURN RTURN RUN"),
    ],
)
def test_scans_interpreter_on_hand_worked_commands(command, actions):
    from posenc.data.decoder_tasks.scan import interpret

    assert " ".join(interpret(command)) == actions


def test_scans_grammar_has_its_20910_commands_and_the_split_by_action_length():
    from posenc.data.decoder_tasks.scan import PAD, WORDS, Scan, by_length, commands

    assert len(commands()) == len(set(commands())) == 20_910  # Lake & Baroni's count
    assert max(by_length()) == 48 and 23 not in by_length()
    task = Scan(generator(), max_len=25, layout="prompt")
    assert 23 not in task.train_lengths and task.train_lengths[-1] == 25
    batch = task.batch(generator(), 64, 8)
    assert (batch.y[:, -1] == task.layout.eos).all() and batch.y.shape == (64, 9)
    first = " ".join(WORDS[i] for i in batch.x[0, 1:10].tolist() if i != PAD)
    assert len(first.split()) <= 9 and task.targets(batch.x[:1, 1:10]).shape == (1, 8)


def test_a_length_with_no_sequence_is_drawn_again_and_never_scored():
    cfg, _ = compose_job(["+experiment=decoder", "dataset=scan", "curriculum=uniform"])
    kind = build_job(cfg).kind
    drawn = {kind.next_length() for _ in range(2000)}
    assert 23 not in drawn and drawn == set(kind.data.train_lengths)
    assert kind.evaluated_lengths() == [26, 27, 28, 30, 32, 33, 36, 40, 48]
