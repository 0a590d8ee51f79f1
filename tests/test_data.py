import pytest
import torch

from posenc.data.random import random_dataset
from posenc.data.weighted_sum import weighted_sum_dataset
from posenc.errors import ConfigError


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("target, y_shape", [("sequence", ()), ("step", (7,))])
def test_random_iid_shapes_and_split_fractions(target, y_shape):
    s = random_dataset(gen(), seq_len=7, n_samples=200, feature_dim=3, target=target)
    assert (len(s.train), len(s.val), len(s.test)) == (160, 20, 20)
    assert s.train.x.shape == (160, 7, 3) and s.train.y.shape == (160, *y_shape)
    assert s.spec.per_step == (target == "step")
    assert s.train.x.dtype == torch.float32


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (weighted_sum_dataset(gen(seed), n_samples=50) for seed in (1, 1, 2))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x, c.train.x)


def test_weighted_sum_target_is_the_standardised_weighted_sum():
    s = weighted_sum_dataset(gen(), seq_len=5, n_samples=300, feature_dim=4)
    x = torch.cat([s.train.x, s.val.x, s.test.x])
    y = torch.cat([s.train.y, s.val.y, s.test.y])
    raw = (torch.linspace(0.1, 0.5, 5) * x.sum(-1)).sum(-1)
    want = (raw - raw.mean()) / raw.std()
    torch.testing.assert_close(y, want, atol=1e-5, rtol=1e-5)
    assert abs(y.mean().item()) < 1e-5 and abs(y.std().item() - 1) < 1e-5
    assert 0.4 < x.std().item() < 0.6  # inputs are 0.5 * N(0, 1)


def test_weighted_sum_targets_weigh_later_positions_more():
    """Least squares of the dataset's own targets on the per-position feature sums recovers
    weights proportional to linspace(0.1, 0.5): position decides how much a step counts."""
    s = weighted_sum_dataset(gen(), seq_len=6, n_samples=400, feature_dim=2)
    sums = s.train.x.sum(-1).double()  # [n, seq_len]
    design = torch.cat([sums, torch.ones(len(sums), 1, dtype=torch.float64)], dim=1)
    coef = torch.linalg.lstsq(design, s.train.y.double().unsqueeze(1)).solution[:-1, 0]
    ratio = coef / coef[0]
    torch.testing.assert_close(ratio, torch.linspace(0.1, 0.5, 6, dtype=torch.float64) / 0.1)


def test_windows_mode_targets_are_the_next_value():
    seq = random_dataset(gen(), mode="windows", n_samples=90, seq_len=10, feature_dim=1)
    step = random_dataset(
        gen(), mode="windows", n_samples=90, seq_len=10, feature_dim=1, target="step"
    )
    assert len(seq.train) + len(seq.val) + len(seq.test) == 90
    assert seq.train.x.shape[1:] == (10, 1)
    # per step: the value after each position is the next position's input
    assert torch.equal(step.train.y[:, :-1], step.train.x[:, 1:, 0])
    # per sequence: the value after the window, i.e. the last per-step target
    assert torch.equal(seq.train.x, step.train.x)
    assert torch.equal(seq.train.y, step.train.y[:, -1])
    assert not torch.equal(seq.train.y, seq.train.x[:, -1, 0])


def test_empty_split_is_refused_with_the_key():
    with pytest.raises(ConfigError, match="dataset.val_fraction"):
        random_dataset(gen(), n_samples=10, val_fraction=0.01)
    with pytest.raises(ConfigError, match="dataset.n_samples"):
        random_dataset(gen(), n_samples=4, val_fraction=0.45, test_fraction=0.45)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"target": "bogus"}, "dataset.target"),
        ({"mode": "bogus"}, "dataset.mode"),
        ({"mode": "windows", "feature_dim": 3}, "dataset.feature_dim"),
    ],
)
def test_bad_dataset_values(kwargs, key):
    with pytest.raises(ConfigError) as err:
        random_dataset(gen(), **kwargs)
    assert err.value.key == key


def test_fractions_that_leave_no_training_data_name_the_fractions():
    with pytest.raises(ConfigError, match="test_fraction") as err:
        random_dataset(gen(), val_fraction=0.6, test_fraction=0.6)
    assert err.value.key == "dataset.val_fraction"
