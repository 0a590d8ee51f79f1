"""dataset=addition's formats, operand lengths and the positions it chooses, on hand-worked
examples (12 + 345 = 357), and the prompt layout's streams."""

import pytest
import torch

from posenc.data.decoder_tasks.addition import Addition
from posenc.errors import ConfigError

PLUS = 10


def task(**keys):
    return Addition(torch.Generator().manual_seed(0), layout="prompt", max_len=5, **keys)


def worked(t):
    """12 + 345 in the task's format: tokens, answer, streams."""
    x = torch.cat(
        [
            t.written(torch.tensor([[1, 2]])),
            torch.tensor([[PLUS]]),
            t.written(torch.tensor([[3, 4, 5]])),
        ],
        dim=1,
    )
    y = t.targets(x)
    streams = {k: (a[0].tolist(), b[0].tolist()) for k, (a, b) in t.positions(x, y).items()}
    return x[0].tolist(), y[0].tolist(), streams


def test_plain_addition_with_coupled_ids():
    x, y, streams = worked(task(coupled=True))
    assert x == [1, 2, PLUS, 3, 4, 5] and y == [0, 3, 5, 7]  # fixed width: 4 digits
    assert streams["places"] == ([1, 2, 0, 1, 2, 3], [1, 2, 3, 4])  # inside each number
    assert streams["ids"] == ([2, 1, 0, 3, 2, 1], [4, 3, 2, 1])  # significance, shared


def test_reversed_addition_aligns_places_and_ids_with_significance():
    x, y, streams = worked(task(format="reversed", coupled=True))
    assert x == [2, 1, PLUS, 5, 4, 3] and y == [7, 5, 3, 0]
    assert streams["places"] == ([1, 2, 0, 1, 2, 3], [1, 2, 3, 4])
    assert streams["ids"] == streams["places"]  # reversed: place = significance


def test_index_hints_name_every_digits_place_in_operands_and_answer():
    t = task(format="hints", coupled=True)
    x, y, streams = worked(t)
    h = lambda p: PLUS + p  # noqa: E731  (hint token of place p)
    assert x == [h(2), 1, h(1), 2, PLUS, h(3), 3, h(2), 4, h(1), 5]
    c = lambda p: 9 + p  # noqa: E731  (its class)
    assert y == [c(4), 0, c(3), 3, c(2), 5, c(1), 7]
    assert streams["places"][1] == [0, 1, 0, 2, 0, 3, 0, 4]  # hints: 0
    assert streams["ids"][0] == [2, 2, 1, 1, 0, 3, 3, 2, 2, 1, 1]  # a hint: its digit's id
    assert t.vocab_size == 11 + 64 and t.n_classes == 10 + 64


def test_the_prompt_layout_lays_the_streams_beside_the_tokens():
    t = task(format="reversed", coupled=True)
    batch = t.batch(torch.Generator().manual_seed(1), 4, 3)
    assert set(batch.positions) == {"places", "ids"}
    for ids in batch.positions.values():
        assert ids.shape == batch.x.shape
        assert bool((ids[:, 0] == 0).all())  # BOS
    sep = batch.x.shape[1] - batch.y.shape[1]  # SEP's index (EOS is never read)
    assert bool((batch.positions["ids"][:, sep] == 0).all())
    assert batch.positions["ids"][0, sep + 1 :].tolist() == [1, 2, 3, 4]


def test_independent_operands_draw_the_other_length_per_batch():
    t = task(operands="independent")
    seen = set()
    for seed in range(40):
        x = t.inputs(torch.Generator().manual_seed(seed), 3, 5)
        plus = int((x[0] == PLUS).nonzero()[0])
        seen.add((plus, x.shape[1] - plus - 1))
        assert bool((x[:, plus] == PLUS).all())
        y = t.targets(x)
        a = int("".join(map(str, x[0, :plus].tolist())))
        b = int("".join(map(str, x[0, plus + 1 :].tolist())))
        assert int("".join(map(str, y[0].tolist()))) == a + b and y.shape[1] == 6
    assert all(5 in pair for pair in seen) and len(seen) > 4  # one operand is n digits


def test_equal_operands_keep_kazemnejads_draws():
    t = Addition(torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(3)
    digits = torch.randint(10, (2, 2, 4), generator=g)
    digits[:, :, 0] = 1 + torch.randint(9, (2, 2), generator=g)
    expected = torch.cat([digits[:, 0], torch.full((2, 1), PLUS), digits[:, 1]], dim=1)
    assert torch.equal(t.inputs(torch.Generator().manual_seed(3), 2, 4), expected)


def test_hints_past_their_tokens_are_refused_naming_the_key():
    with pytest.raises(ConfigError, match="dataset.max_places"):
        Addition(torch.Generator(), format="hints", max_len=64, max_places=64)
    assert "dataset.max_places" in task(format="hints").too_long(64)
    with pytest.raises(ConfigError, match="dataset.format"):
        task(format="backwards")


ADDITION = ["+experiment=addition", "dataset.max_len=3", "model.d_model=32",
            "trainer.steps=150", "trainer.batch_size=32", "eval.per_length=48",
            "eval.max_length=8", "plots=false"]  # fmt: skip


@pytest.mark.slow
def test_supplied_positions_decode_greedily_as_one_pass_reads_them(tmp_path):
    import posenc
    from posenc.jobs.kinds import tokens

    overrides = [*ADDITION, "encoding=abacus", "+encoding@beside=fire", "dataset.coupled=true"]
    result = posenc.run(overrides, output_dir=tmp_path / "run")
    assert result.status == "completed"
    loaded = posenc.load_model(tmp_path / "run")
    model, kind = loaded.model.double(), loaded.kind
    for length in (2, 3, 6):
        batch = kind.evaluation_batch(length)
        with torch.inference_mode():
            forced = batch.outputs(model(batch.x, batch.positions)).argmax(-1) == batch.y
        decoded = tokens.greedy_answers(model, batch) == batch.y
        assert torch.equal(forced.all(1), decoded.all(1)), length
        assert torch.equal(forced.all(1).float().mean(), decoded.all(1).float().mean())


@pytest.mark.slow
def test_places_past_the_table_are_refused_at_their_length_naming_the_key(tmp_path):
    import posenc

    # 3-digit training: 13 tokens, so 13 + 1 rows; a 12-digit sum has places up to 13
    overrides = [*ADDITION, "trainer.steps=5", "encoding=abacus", "encoding.max_offset=1",
                 "eval.max_length=14"]  # fmt: skip
    metrics = posenc.run(overrides, output_dir=tmp_path / "run").metrics
    assert metrics["exact_match@12"] is not None
    assert metrics["exact_match@13"] is None and metrics["exact_match@14"] is None
    assert metrics["score_unsupported"].endswith(
        "position id 14 is past a learned table of 14 rows (encoding.max_len)"
    )
