"""model=transformer and the encodings that act inside attention, against their closed forms
and defining properties."""

import math

import pytest
import torch

from posenc.data import Spec
from posenc.encodings import NoEncoding, Sinusoidal
from posenc.encodings.alibi import ALiBi, alibi_slopes
from posenc.encodings.relative import RelativeBias, t5_bucket
from posenc.encodings.rope import RoPE
from posenc.errors import ConfigError
from posenc.jobs.job import build_job
from posenc.models.transformer import Transformer

from .conftest import compose_cfg

TINY = ["dataset.n_samples=20", "dataset.seq_len=6", "dataset.feature_dim=3"]


def transformer(encoding, per_step=True, seq_len=7, **kwargs):
    torch.manual_seed(0)
    spec = Spec(seq_len=seq_len, feature_dim=3, per_step=per_step)
    return Transformer(spec, encoding, d_model=16, n_heads=4, **kwargs).eval()


# ---------------------------------------------------------------- RoPE


@pytest.mark.parametrize("layout", ["half", "interleaved"])
@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_rope_score_depends_on_the_offset_only(layout, fraction):
    rope = RoPE(dim=8, seq_len=16, layout=layout, fraction=fraction)
    q, k = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)

    def score(m, n):
        qm, _ = rope(q.expand(1, 1, 1, 8).float(), q.expand(1, 1, 1, 8).float(), torch.tensor([m]))
        _, kn = rope(k.expand(1, 1, 1, 8).float(), k.expand(1, 1, 1, 8).float(), torch.tensor([n]))
        return (qm * kn).sum().item()

    for offset in (0, 2, 5):
        scores = [score(m, m - offset) for m in (offset, offset + 3, offset + 9)]
        assert max(scores) - min(scores) < 1e-4, scores
    assert abs(score(5, 3) - score(5, 1)) > 1e-3  # and the offset matters


def test_rope_rotates_the_first_pair_by_the_position_angle():
    """dim 2: one pair, θ = base^0 = 1, so position p turns (1, 0) into (cos p, sin p)."""
    rope = RoPE(dim=2, seq_len=4)
    x = torch.tensor([1.0, 0.0]).expand(1, 1, 4, 2)
    q, _ = rope(x, x, torch.arange(4))
    p = torch.arange(4.0)
    torch.testing.assert_close(q[0, 0], torch.stack([p.cos(), p.sin()], dim=1))
    torch.testing.assert_close(rope.table()[:, 0], p)
    assert RoPE(dim=8, seq_len=5).table().shape == (5, 4)  # [seq_len, rotated / 2]


def test_rope_layouts_are_a_fixed_permutation_of_each_other():
    half, inter = RoPE(dim=8, seq_len=6, layout="half"), RoPE(dim=8, seq_len=6)
    inter.layout = "interleaved"
    perm = torch.tensor([0, 2, 4, 6, 1, 3, 5, 7])  # interleaved pair (2i, 2i+1) -> (i, i + 4)
    x = torch.randn(2, 3, 6, 8)
    positions = torch.arange(6)
    rotated_half, _ = half(x[..., perm], x[..., perm], positions)
    rotated_inter, _ = inter(x, x, positions)
    torch.testing.assert_close(rotated_half, rotated_inter[..., perm])
    assert not torch.allclose(half(x, x, positions)[0], rotated_inter)  # different numbers


def test_rope_leaves_the_unrotated_share_alone():
    rope = RoPE(dim=8, seq_len=6, fraction=0.5)
    x = torch.randn(1, 1, 6, 8)
    q, _ = rope(x, x, torch.arange(6))
    torch.testing.assert_close(q[..., 4:], x[..., 4:])
    assert not torch.allclose(q[..., :4], x[..., :4])


# ---------------------------------------------------------------- ALiBi


def test_alibi_slopes_for_8_and_6_heads():
    assert alibi_slopes(8) == [2.0**-h for h in range(1, 9)]
    assert alibi_slopes(6) == [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]


def test_alibi_bias_is_minus_slope_times_distance():
    alibi = ALiBi(n_heads=4, seq_len=5)
    bias = alibi(torch.arange(5), torch.arange(5))
    i, j = torch.arange(5)[:, None], torch.arange(5)[None, :]
    for h, slope in enumerate(alibi_slopes(4)):
        torch.testing.assert_close(bias[h], -slope * (i - j).abs().float())
    table = alibi.table()  # [heads, 2L - 1], column L - 1 + (j - i)
    assert table.shape == (4, 9)
    torch.testing.assert_close(table[:, 4 + 3], bias[:, 0, 3])
    torch.testing.assert_close(table[:, 4 - 2], bias[:, 2, 0])


def test_alibi_asymmetric_tells_left_from_right_and_causal_only_looks_back():
    sym = ALiBi(n_heads=4, seq_len=5).table()
    asym = ALiBi(n_heads=4, seq_len=5, mode="asymmetric").table()
    torch.testing.assert_close(sym[:, 4 - 2], sym[:, 4 + 2])  # blind to direction
    assert (asym[:, 4 - 2] != asym[:, 4 + 2]).all()
    torch.testing.assert_close(asym[:, :4], sym[:, :4])  # left slopes are the standard ones
    causal = ALiBi(n_heads=4, seq_len=5, causal=True)
    assert causal.mode == "causal" and (causal.table()[:, 5:] == 0).all()


# ---------------------------------------------------------------- T5 relative bias


@pytest.mark.parametrize(
    "relative, bidirectional, bucket",
    [
        (0, True, 0),
        (-1, True, 1),
        (1, True, 17),
        (-7, True, 7),
        (-8, True, 8),
        (-20, True, 10),  # 8 + floor(ln(20/8) / ln(128/8) * 8)
        (20, True, 26),
        (-200, True, 15),  # past max_distance: the last bucket of its side
        (200, True, 31),
        (-20, False, 17),  # 16 + floor(ln(20/16) / ln(128/16) * 16)
        (5, False, 0),  # a key after the query: distance 0 when unidirectional
        (-3, False, 3),
    ],
)
def test_t5_bucket_of_a_few_distances(relative, bidirectional, bucket):
    assert t5_bucket(torch.tensor([relative]), bidirectional).item() == bucket


def test_relative_bias_reads_its_learned_table_by_bucket():
    rel = RelativeBias(n_heads=2, seq_len=6)
    with torch.no_grad():
        rel.bias.weight.copy_(torch.arange(64.0).view(32, 2))
    bias = rel(torch.arange(6), torch.arange(6))
    assert bias.shape == (2, 6, 6)
    assert bias[1, 4, 1].item() == t5_bucket(torch.tensor([-3])).item() * 2 + 1
    assert bias[0, 1, 4].item() == t5_bucket(torch.tensor([3])).item() * 2
    assert rel.table().shape == (2, 11)


# ---------------------------------------------------------------- the transformer


def test_without_encoding_or_causal_mask_attention_is_permutation_equivariant():
    model = transformer(NoEncoding)
    x, perm = torch.randn(2, 7, 3), torch.randperm(7)
    torch.testing.assert_close(model(x)[:, perm], model(x[:, perm]), atol=1e-5, rtol=1e-5)
    ordered = transformer(Sinusoidal)
    assert not torch.allclose(ordered(x)[:, perm], ordered(x[:, perm]), atol=1e-3)
    pooled = transformer(NoEncoding, per_step=False)
    torch.testing.assert_close(pooled(x), pooled(x[:, perm]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("encoding", [NoEncoding, Sinusoidal, RoPE, ALiBi, RelativeBias])
def test_causal_means_no_position_sees_a_later_one(encoding):
    model = transformer(encoding, causal=True)
    x = torch.randn(2, 7, 3)
    later = x.clone()
    later[:, 4:] += 1.0
    a, b = model(x), model(later)
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])
    open_model = transformer(encoding, causal=False)
    assert not torch.allclose(open_model(x)[:, :4], open_model(later)[:, :4])


@pytest.mark.parametrize("causal", [False, True])
def test_the_mask_is_the_bias_merged_with_the_causal_mask(causal):
    model = transformer(ALiBi, causal=causal)
    positions = torch.arange(5)
    mask = model.attention_mask(positions)
    bias = model.encoding(positions, positions)
    upper = torch.ones(5, 5, dtype=torch.bool).triu(1)
    torch.testing.assert_close(mask[:, ~upper], bias[:, ~upper])
    if causal:
        assert torch.isneginf(mask[:, upper]).all()
    else:
        torch.testing.assert_close(mask, bias)
    assert model.attention_mask(positions) is mask  # a static bias is built once per length
    assert transformer(NoEncoding, causal=True).attention_mask(positions) is None  # SDPA's own


def test_the_mask_reaches_attention():
    """With huge ALiBi slopes every position attends to itself alone: changing the other
    positions leaves position 0's output as it was; without the bias it does not."""
    model = transformer(ALiBi)
    model.encoding.left.fill_(1e4)
    model.encoding.right.fill_(1e4)
    model._masks.clear()
    plain = transformer(NoEncoding)
    x = torch.randn(2, 7, 3)
    others = x.clone()
    others[:, 1:] += 1.0
    torch.testing.assert_close(model(x)[:, 0], model(others)[:, 0])
    assert not torch.allclose(plain(x)[:, 0], plain(others)[:, 0])


@pytest.mark.parametrize(
    "readout, pick",
    [("mean", lambda y: y.mean(1)), ("last", lambda y: y[:, -1]), ("first", lambda y: y[:, 0])],
)
def test_readouts_against_the_per_step_outputs(readout, pick):
    """The head is linear, so reading the mean of the positions is the mean of per-position
    outputs; last and first read one position."""
    model = transformer(NoEncoding, per_step=False, readout=readout)
    step = transformer(NoEncoding, per_step=True)
    step.load_state_dict(model.state_dict())
    x = torch.randn(3, 7, 3)
    torch.testing.assert_close(model(x), pick(step(x)))


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("model", ["linear", "tanh_ffn", "lstm"])
@pytest.mark.parametrize("encoding", ["rope", "alibi", "relative"])
def test_attention_encodings_need_an_attention_model(model, encoding):
    with pytest.raises(ConfigError, match="model=transformer") as err:
        build_job(compose_cfg([f"model={model}", f"encoding={encoding}", *TINY]))
    assert err.value.key == "encoding"


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["model.n_heads=5"], "model.n_heads"),  # 32 / 5
        (["model.n_heads=0"], "model.n_heads"),
        (["model.d_model=null"], "model.n_heads"),  # width 3 with 4 heads
        (["encoding=rope", "model.n_heads=32"], "encoding.fraction"),  # one dim per head
        (["encoding=rope", "encoding.fraction=0.4"], "encoding.fraction"),  # 3 of 8: odd
        (["encoding=alibi", "encoding.mode=causal"], "encoding.mode"),
        (["encoding=alibi", "encoding.mode=both"], "encoding.mode"),
        (["encoding=relative", "encoding.num_buckets=2"], "encoding.num_buckets"),
        (["model.dropout=1"], "model.dropout"),
        (["model.readout=max"], "model.readout"),
    ],
)
def test_transformer_refusals_name_the_key(overrides, key):
    with pytest.raises(ConfigError) as err:
        build_job(compose_cfg(["model=transformer", *TINY, *overrides]))
    assert err.value.key == key and "\n" not in str(err.value)


def test_nope_causal_with_no_encoding_trains(tmp_path):
    import posenc

    result = posenc.run(
        ["model=transformer", "model.causal=true", "encoding=none", "trainer.epochs=2", *TINY],
        output_dir=tmp_path / "nope",
        plots=False,
    )
    assert result.status == "completed" and math.isfinite(result.metrics["test_loss"])
    assert result.encoding_final is None


@pytest.mark.parametrize(
    "encoding, shape", [("rope", (6, 4)), ("alibi", (4, 11)), ("relative", (4, 11))]
)
def test_each_attention_encoding_saves_its_table_through_posenc_run(tmp_path, encoding, shape):
    import posenc

    result = posenc.run(
        ["model=transformer", f"encoding={encoding}", "trainer.epochs=2", *TINY],
        output_dir=tmp_path / encoding,
        plots=True,
    )
    assert result.status == "completed" and result.metrics["encoding_slot"] != "input"
    assert result.encoding_initial.shape == result.encoding_final.shape == shape
    changed = (result.encoding_initial != result.encoding_final).any()
    assert changed == (encoding == "relative")  # the only one with parameters
    assert (result.path / "encoding.png").stat().st_size > 5_000


@pytest.mark.parametrize("scaling", ["linear", "ntk", "yarn"])
def test_a_scaling_extends_its_original_length_at_any_training_length(scaling):
    """A fine-tune at 64 of a model trained at 16 (original_length 16) rotates every window
    longer than 16 as the source rotates it under that scaling; 16 or shorter, as trained."""
    source = RoPE(dim=8, seq_len=16)
    tuned = RoPE(dim=8, seq_len=64, scaling=scaling, scaling_factor=4.0, original_length=16)
    for length in (17, 40, 64, 256):
        positions = torch.arange(length)
        with source.rescaled(scaling, 4.0):
            expected = source.rotation(positions)
        for ours, theirs in zip(tuned.rotation(positions), expected, strict=True):
            torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    short = torch.arange(16)
    for ours, theirs in zip(tuned.rotation(short), source.rotation(short), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    plain = RoPE(dim=8, seq_len=64, scaling=scaling, scaling_factor=4.0)  # its own 64
    assert not torch.equal(plain.rotation(torch.arange(40))[0], tuned.rotation(torch.arange(40))[0])
