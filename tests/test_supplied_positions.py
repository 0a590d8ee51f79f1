"""Positions a task supplies ([batch, L] ids) in every encoding slot, Abacus's places, and
an encoding beside another."""

import pytest
import torch

from posenc.data import Spec
from posenc.encodings.abacus import Abacus
from posenc.encodings.alibi import ALiBi
from posenc.encodings.fire import FIRE
from posenc.encodings.learnable import Learnable
from posenc.encodings.relative import RelativeBias
from posenc.encodings.rope import RoPE
from posenc.encodings.sinusoidal import Sinusoidal
from posenc.errors import ConfigError
from posenc.models.transformer import Transformer

B, L, H = 3, 7, 4


def arange_ids() -> torch.Tensor:
    return torch.arange(L).expand(B, L)


@pytest.mark.parametrize("make", [lambda: Sinusoidal(8, 32), lambda: Learnable(8, 32)])
def test_input_tables_read_supplied_ids_bit_for_bit_and_change_when_shifted(make):
    torch.manual_seed(0)
    enc = make()
    x = torch.randn(B, L, 8)
    plain = enc(x, torch.arange(L))
    assert torch.equal(enc(x, arange_ids()), plain)
    assert not torch.allclose(enc(x, arange_ids() + 5), plain)  # absolute: a shift shows


@pytest.mark.parametrize("make", [lambda: ALiBi(H, 32), lambda: RelativeBias(H, 32)])
def test_relative_biases_are_unchanged_bit_for_bit_by_a_shift_of_supplied_ids(make):
    torch.manual_seed(0)
    enc = make()
    plain = enc(torch.arange(L), torch.arange(L))  # [heads, L, L]
    ids = arange_ids()
    given = enc(ids, ids)  # [batch, heads, L, L]
    assert given.shape == (B, H, L, L)
    assert torch.equal(given, plain.expand(B, -1, -1, -1))
    shifted = ids + torch.tensor([[0], [3], [11]])  # a different shift per sequence
    assert torch.equal(enc(shifted, shifted), given)


def test_alibi_on_supplied_ids_is_minus_slope_times_the_id_distance():
    ids = torch.tensor([[0, 2, 2, 5]])  # shared ids, gaps: what coupling supplies
    bias = ALiBi(2, 8)(ids, ids)[0]
    slopes = torch.tensor([2**-4, 2**-8])  # 2^(−8h/n), n = 2
    distance = (ids[0][None, :] - ids[0][:, None]).abs().float()
    assert torch.equal(bias, -slopes[:, None, None] * distance)


def test_rope_scores_are_shift_invariant_within_float32_on_supplied_ids():
    torch.manual_seed(0)
    rope = RoPE(8, 32)
    q, k = torch.randn(B, 2, L, 8), torch.randn(B, 2, L, 8)
    ids = arange_ids()
    same = rope.rotate(q, k, rope.rotation(ids))
    plain = rope.rotate(q, k, rope.rotation(torch.arange(L)))
    assert all(torch.equal(a, b) for a, b in zip(same, plain, strict=True))
    qs, ks = rope.rotate(q, k, rope.rotation(ids + 9))
    scores, shifted = plain[0] @ plain[1].transpose(-1, -2), qs @ ks.transpose(-1, -2)
    assert torch.allclose(scores, shifted, atol=1e-5)
    assert not torch.allclose(plain[0], qs)  # the rotated vectors themselves moved


def test_fire_is_shift_invariant_only_while_every_query_is_below_its_threshold():
    # FIRE divides ψ(i − j) by ψ(max(i, L_thr)): below the threshold the divisor is ψ(L_thr)
    # for every query, so a shift keeps the bias; past it the divisor grows with i.
    torch.manual_seed(0)
    fire = FIRE(H, 64)  # threshold: 64
    ids = arange_ids()
    plain = fire(ids, ids)
    assert torch.equal(fire(ids + 20, ids + 20), plain)  # queries ≤ 26 < 64
    far = fire(ids + 200, ids + 200)
    assert not torch.allclose(far, plain)
    i = (ids + 200).float()[0]
    c = fire.log_c.exp()
    expected = torch.log1p(c * (i[:, None] - i[None, :]).abs()) / torch.log1p(c * i[:, None])
    assert torch.allclose(fire.normalized(ids + 200, ids + 200)[0], expected)


def spec(seq_len=16, vocab=5):
    return Spec(seq_len=seq_len, feature_dim=vocab, per_step=True, vocab_size=vocab, n_classes=3)


def transformer(encoding, **kw):
    torch.manual_seed(0)
    return Transformer(spec(), encoding, d_model=16, n_heads=2, n_layers=1, causal=True, **kw)


@pytest.mark.parametrize("encoding", [Sinusoidal, RoPE, ALiBi, RelativeBias, FIRE])
def test_a_model_given_arange_ids_is_bit_identical_to_one_given_none(encoding):
    model = transformer(encoding).eval()
    x = torch.randint(5, (B, L))
    assert torch.equal(model(x, {"ids": arange_ids()}), model(x))


def test_per_batch_ids_never_reuse_a_cached_mask():
    model = transformer(ALiBi).eval()
    x = torch.randint(5, (B, L))
    model(x)  # caches the mask of length L
    assert len(model._masks) == 1
    coupled = torch.tensor([[0, 1, 1, 2, 2, 3, 3]]).expand(B, L)
    out = model(x, {"ids": coupled})
    assert len(model._masks) == 1  # nothing cached for the batch's own ids
    assert not torch.allclose(out, model(x))


def test_abacus_ids_on_a_hand_worked_sequence_with_no_offset_and_a_fixed_one():
    enc = Abacus(4, 10, max_offset=5)
    places = torch.tensor([[0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3, 4]])  # BOS 12 + 345 SEP 7530
    enc.eval()
    assert torch.equal(enc.position_ids(1, 12, "cpu", places), places)  # no offset
    enc.train()
    torch.manual_seed(3)
    k = int(torch.randint(5, ()))
    torch.manual_seed(3)
    got = enc.position_ids(1, 12, "cpu", places)
    assert torch.equal(got, torch.where(places > 0, places + k, 0))
    assert k > 0  # this seed's offset shows
    x = torch.zeros(1, 12, 4)
    assert torch.equal(enc(x, got)[0, 0], enc.weight[0])  # non-digits: row 0


def test_abacus_refuses_a_place_past_its_rows_naming_the_key():
    enc = Abacus(4, 10, max_offset=5)  # rows: 10 + 5
    assert enc.unsupported_ids(14) is None
    assert "encoding.max_len" in enc.unsupported_ids(15)
    with pytest.raises(ConfigError, match="encoding.max_len"):
        enc(torch.zeros(1, 2, 4), torch.tensor([[0, 15]]))


def test_an_encoding_beside_another_acts_in_its_own_slot():
    model = transformer(Abacus, beside=FIRE).eval()
    assert model.in_slot("input") is model.encoding and model.in_slot("bias") is model.beside
    x = torch.randint(5, (B, L))
    places = torch.tensor([[0, 1, 2, 0, 1, 2, 0]]).expand(B, L)
    with_fire = model(x, {"places": places})
    torch.nn.init.zeros_(model.beside.mlp[2].weight)  # FIRE's output: its bias gone
    torch.nn.init.zeros_(model.beside.mlp[2].bias)
    assert not torch.allclose(with_fire, model(x, {"places": places}))


def test_two_encodings_in_one_slot_are_refused_naming_beside():
    with pytest.raises(ConfigError, match="^beside: .*bias slot"):
        transformer(ALiBi, beside=FIRE)


def test_randomized_positions_are_drawn_within_the_tasks_ids():
    rope = RoPE(8, 16, randomize=True, max_position=64).train()
    coupled = torch.tensor([[0, 3, 2, 1, 0, 3, 2, 1]]).expand(50, 8)
    drawn = rope.position_ids(50, 8, "cpu", coupled)
    assert torch.equal(drawn[:, 1], drawn[:, 5]) and torch.equal(drawn[:, 3], drawn[:, 7])
    assert bool((drawn[:, 0] < drawn[:, 3]).all() and (drawn[:, 3] < drawn[:, 2]).all())
    assert int(drawn.max()) < 64 and len(set(drawn[:, 1].tolist())) > 5  # really drawn
    rope.eval()  # random_eval=true: drawn at evaluation too, below max_position
    assert rope.unsupported_ids(64) is not None and rope.unsupported_ids(63) is None


def test_an_encoding_beside_is_held_to_the_prompt_layouts_one_pass_rule():
    from posenc.config.compose import compose_job
    from posenc.jobs.job import build_job

    cfg, _ = compose_job(
        ["+experiment=addition", "encoding=abacus", "+encoding@beside=rope_random"]
    )
    with pytest.raises(ConfigError, match="^beside.random_eval: true draws new positions"):
        build_job(cfg)


def test_abacus_on_a_task_without_places_is_one_line_naming_the_key():
    from posenc.config.compose import compose_job
    from posenc.jobs.job import build_job

    cfg, _ = compose_job(["+experiment=decoder", "dataset=copy", "encoding=abacus"])
    with pytest.raises(ConfigError, match="^encoding: Abacus reads the 'places'.*supplies none"):
        build_job(cfg)
