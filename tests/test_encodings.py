"""Each encoding against its closed form."""

import math

import pytest
import torch

from posenc.encodings import (
    INPUT,
    Learnable,
    LinearPosition,
    NoEncoding,
    Sinusoidal,
    sinusoidal_table,
    sinusoidal_vectors,
)
from posenc.errors import ConfigError


def ids(n):
    return torch.arange(n)


def test_sinusoidal_known_values():
    pe = sinusoidal_table(2, 4)
    assert pe[0].tolist() == [0.0, 1.0, 0.0, 1.0]
    expected = torch.tensor([0.841471, 0.540302, 0.0099998, 0.999950])
    torch.testing.assert_close(pe[1], expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("dim", [1, 2, 5, 16, 33])
def test_sinusoidal_matches_formula_for_any_dim(dim):
    base, positions = 10000.0, 7
    pe = sinusoidal_table(positions, dim, base)
    for p in range(positions):
        for j in range(dim):
            i2 = j - (j % 2)
            angle = p / base ** (i2 / dim)
            want = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert pe[p, j].item() == pytest.approx(want, abs=1e-6)


@pytest.mark.parametrize("dim", [4, 7])
def test_concat_layout_is_a_channel_permutation(dim):
    inter = sinusoidal_table(9, dim)
    concat = sinusoidal_table(9, dim, layout="concat")
    n_sin = (dim + 1) // 2
    torch.testing.assert_close(concat[:, :n_sin], inter[:, 0::2])
    torch.testing.assert_close(concat[:, n_sin:], inter[:, 1::2])


def test_sinusoidal_base_changes_frequencies():
    assert not torch.allclose(sinusoidal_table(5, 4, base=100.0), sinusoidal_table(5, 4))


def test_sinusoidal_has_no_gradient_and_extrapolates():
    enc = Sinusoidal(dim=6, seq_len=4)
    assert list(enc.parameters()) == []
    x = torch.zeros(2, 10, 6)  # longer than max_len: computed on the fly
    torch.testing.assert_close(enc(x, ids(x.shape[1]))[0], sinusoidal_table(10, 6))


def test_add_and_concat():
    x = torch.randn(3, 5, 4)
    add = Sinusoidal(dim=4, seq_len=5)
    torch.testing.assert_close(add(x, ids(x.shape[1])), x + sinusoidal_table(5, 4))
    cat = Sinusoidal(dim=4, seq_len=5, combine="concat")
    out = cat(x, ids(x.shape[1]))
    assert out.shape == (3, 5, 8) and cat.out_dim == 8
    torch.testing.assert_close(out[..., :4], x)
    torch.testing.assert_close(out[1, :, 4:], sinusoidal_table(5, 4))


@pytest.mark.parametrize("init", ["zeros", "normal", "sinusoidal"])
def test_learnable_inits(init):
    torch.manual_seed(0)
    enc = Learnable(dim=8, seq_len=5, max_len=6, init=init, std=0.5)
    table = enc.table()
    assert table.shape == (6, 8) and table.requires_grad
    if init == "zeros":
        assert torch.count_nonzero(table) == 0
    elif init == "sinusoidal":
        torch.testing.assert_close(table.detach(), sinusoidal_table(6, 8))
    else:
        assert 0.3 < table.std().item() < 0.7


def test_learnable_adds_its_rows_and_learns():
    enc = Learnable(dim=3, seq_len=4, init="zeros")
    x = torch.randn(2, 4, 3)
    torch.testing.assert_close(enc(x, ids(x.shape[1])), x)
    enc(x, ids(x.shape[1])).sum().backward()
    assert torch.all(enc.weight.grad == 2.0)  # each row is used once per sequence


def test_learnable_refuses_sequences_past_max_len():
    with pytest.raises(ConfigError, match="encoding.max_len"):
        Learnable(dim=3, seq_len=10, max_len=5)
    enc = Learnable(dim=3, seq_len=4)
    with pytest.raises(ConfigError, match="encoding.max_len"):
        enc(torch.zeros(1, 5, 3), ids(5))


@pytest.mark.parametrize("normalize", [True, False])
def test_linear_position_is_w_pos_plus_b(normalize):
    enc = LinearPosition(dim=5, seq_len=6, max_len=11, normalize=normalize)
    w, b = enc.proj.weight[:, 0], enc.proj.bias
    pos = torch.arange(11, dtype=torch.float32)
    if normalize:
        pos = pos / 10
    want = pos[:, None] * w[None, :] + b[None, :]
    torch.testing.assert_close(enc.table(), want)
    torch.testing.assert_close(enc.encode(ids(6)), want[:6])


def test_none_is_identity_without_table():
    enc = NoEncoding(dim=3, seq_len=4)
    x = torch.randn(2, 4, 3)
    assert torch.equal(enc(x, ids(x.shape[1])), x) and enc.table() is None and enc.slot == INPUT


@pytest.mark.parametrize(
    "make, key",
    [
        (lambda: Sinusoidal(4, 5, combine="mul"), "encoding.combine"),
        (lambda: Learnable(4, 5, init="uniform"), "encoding.init"),
        (lambda: Sinusoidal(4, 5, layout="split"), "encoding.layout"),
        (lambda: LinearPosition(4, 5, max_len=3), "encoding.max_len"),
    ],
)
def test_bad_values_name_the_key(make, key):
    with pytest.raises(ConfigError) as err:
        make()
    assert err.value.key == key


def test_position_ids_any_offset_or_per_sequence():
    """An encoding reads position ids, not a length: offsets and per-sequence ids work."""
    enc = Sinusoidal(dim=6, seq_len=8, max_len=32)
    table = sinusoidal_table(32, 6)
    torch.testing.assert_close(enc.encode(torch.arange(5, 9)), table[5:9])
    batch = torch.tensor([[0, 3, 7], [2, 4, 30]])
    torch.testing.assert_close(enc.encode(batch), table[batch])
    torch.testing.assert_close(sinusoidal_vectors(batch, 6), table[batch])
    learn = Learnable(dim=6, seq_len=8)
    torch.testing.assert_close(learn.encode(batch[:, :2] % 8), learn.weight[batch[:, :2] % 8])


def test_scale_multiplies_the_added_vectors():
    x = torch.randn(2, 5, 4)
    enc = Sinusoidal(dim=4, seq_len=5, scale=0.25)
    torch.testing.assert_close(enc(x, ids(5)), x + 0.25 * sinusoidal_table(5, 4))


@pytest.mark.parametrize("std", [-0.1, float("nan"), float("inf")])
def test_relative_refuses_a_bad_std(std):
    from posenc.encodings.relative import RelativeBias

    with pytest.raises(ConfigError, match="encoding.std"):
        RelativeBias(n_heads=2, seq_len=8, std=std)
