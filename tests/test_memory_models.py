"""The memory-augmented RNNs: with one-hot actions the differentiable stack and tape do
exactly what the discrete machines do on hand-worked sequences; the models run at any
length, are deterministic, read each sequence's own input length, and take no encoding."""

from __future__ import annotations

import pytest
import torch

from posenc.config.compose import compose_job
from posenc.data.tasks.reverse_string import ReverseString
from posenc.errors import ConfigError
from posenc.jobs.job import build_job
from posenc.models.stack_rnn import NO_OP, POP, PUSH, StackRNN, stack_step
from posenc.models.tape_rnn import (
    JUMP_LEFT,
    JUMP_RIGHT,
    LEFT,
    RIGHT,
    STAY,
    TapeRNN,
    move_index,
    tape_step,
)


def one_hot(action: int, n: int, batch: int = 1) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.full((batch,), action), n).float()


def cell(value: float, size: int = 2) -> torch.Tensor:
    return torch.full((1, size), value)


def test_the_stack_pushes_pops_and_waits_like_a_list():
    # push 1, push 2, no-op, pop, push 3, pop, pop, pop (one past empty): a list alongside
    program = [(PUSH, 1.0), (PUSH, 2.0), (NO_OP, 9.0), (POP, 9.0), (PUSH, 3.0)]
    program += [(POP, 9.0)] * 3
    stack, reference = torch.zeros(1, 4, 2), []
    for action, value in program:
        stack = stack_step(stack, one_hot(action, 3), cell(value))
        if action == PUSH:
            reference.insert(0, value)
        elif action == POP and reference:
            reference.pop(0)
        expected = (reference + [0.0] * 4)[:4]
        assert stack[0, :, 0].tolist() == expected, (action, value)
        assert torch.equal(stack[0, :, 0], stack[0, :, 1])


def test_a_push_on_a_full_stack_drops_the_bottom_cell():
    stack = torch.zeros(1, 3, 1)
    for value in (1.0, 2.0, 3.0, 4.0):
        stack = stack_step(stack, one_hot(PUSH, 3), cell(value, 1))
    assert stack[0, :, 0].tolist() == [4.0, 3.0, 2.0]


def test_mixed_actions_mix_the_outcomes():
    stack = stack_step(torch.zeros(1, 3, 1), one_hot(PUSH, 3), cell(1.0, 1))
    mixed = stack_step(stack, torch.tensor([[0.25, 0.5, 0.25]]), cell(2.0, 1))
    # push: [2, 1, 0]; pop: [0, 0, 0]; no-op: [1, 0, 0]
    assert mixed[0, :, 0].tolist() == [0.25 * 2 + 0.25 * 1, 0.25 * 1, 0.0]


def discrete_tape(tape: list[float], value: float, move: int, n: int) -> list[float]:
    """Write into cell 0, then shift the tape by the reference's roll: LEFT brings cell 1 to
    cell 0; a jump moves by the input length n."""
    tape = [value, *tape[1:]]
    shift = {STAY: 0, LEFT: -1, RIGHT: 1, JUMP_LEFT: -n, JUMP_RIGHT: n}[move]
    size = len(tape)
    return [tape[(m - shift) % size] for m in range(size)]


def test_the_tape_writes_moves_and_jumps_like_a_list_per_sequence():
    size, lengths = 7, torch.tensor([2, 3])  # two sequences with their own input lengths
    index = move_index(size, lengths)
    program = [(STAY, 1.0), (RIGHT, 2.0), (JUMP_RIGHT, 3.0), (LEFT, 4.0), (JUMP_LEFT, 5.0)]
    program += [(RIGHT, 6.0), (JUMP_LEFT, 7.0), (LEFT, 8.0)]
    tape = torch.zeros(2, size, 1)
    reference = [[0.0] * size, [0.0] * size]
    for move, value in program:
        tape = tape_step(tape, one_hot(move, 5, 2), torch.full((2, 1), value), index)
        for b in range(2):
            reference[b] = discrete_tape(reference[b], value, move, int(lengths[b]))
            assert tape[b, :, 0].tolist() == reference[b], (move, value, b)
    assert reference[0] != reference[1]  # the jumps did differ between the sequences


def test_the_tape_reads_back_what_it_wrote_after_moving_away_and_back():
    size, index = 5, move_index(5, torch.tensor([2]))
    tape = torch.zeros(1, size, 1)
    tape = tape_step(tape, one_hot(RIGHT, 5), cell(7.0, 1), index)  # write 7, move right
    tape = tape_step(tape, one_hot(LEFT, 5), tape[:, 0], index)  # rewrite cell 0 as it was
    assert tape[0, 0, 0].item() == 7.0


def task_spec():
    return ReverseString(torch.Generator().manual_seed(0), min_len=1, max_len=5).spec


def build(cls, encoding=None, **keys):
    from posenc.encodings.none import NoEncoding

    torch.manual_seed(0)
    return cls(task_spec(), encoding or NoEncoding, hidden_dim=16, **keys)


@pytest.mark.parametrize("cls", [StackRNN, TapeRNN])
def test_shapes_at_length_one_and_far_past_training_and_determinism(cls):
    task = ReverseString(torch.Generator().manual_seed(1), min_len=1, max_len=5)
    model = build(cls)
    for n in (1, 5, 40):
        batch = task.batch(torch.Generator().manual_seed(n), 3, n)
        logits = model(batch.x)
        assert logits.shape == (3, batch.x.shape[1], task.n_classes)
        assert torch.isfinite(logits).all()
    batch = task.batch(torch.Generator().manual_seed(2), 4, 6)
    assert torch.equal(build(cls)(batch.x), build(cls)(batch.x))


@pytest.mark.parametrize("cls", [StackRNN, TapeRNN])
def test_gradients_reach_every_parameter_through_the_memory(cls):
    task = ReverseString(torch.Generator().manual_seed(1), min_len=1, max_len=5)
    model = build(cls)
    batch = task.batch(torch.Generator().manual_seed(3), 4, 5)
    model(batch.x).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_the_tape_jumps_by_each_sequences_input_length_read_from_the_blanks():
    task = ReverseString(torch.Generator().manual_seed(1), min_len=1, max_len=5)
    model = build(TapeRNN)
    x = torch.cat([task.batch(torch.Generator().manual_seed(0), 1, n).x for n in (3, 3)])
    assert model.input_lengths(x).tolist() == [3, 3]
    assert model.input_lengths(task.batch(torch.Generator(), 2, 7).x).tolist() == [7, 7]


@pytest.mark.parametrize("model", ["stack_rnn", "tape_rnn"])
@pytest.mark.parametrize("encoding", ["sinusoidal", "learnable", "rope"])
def test_a_positional_encoding_is_refused_in_one_line(model, encoding):
    cfg, _ = compose_job(
        [f"+experiment=chomsky_{model}", f"encoding={encoding}", "trainer.device=cpu"]
    )
    with pytest.raises(ConfigError) as e:
        build_job(cfg)
    assert e.value.key == "encoding" and "\n" not in str(e.value)
    assert "no positional encoding" in str(e.value)
