"""Models: shapes, readouts against closed forms, causality, head options, slot checks."""

import functools

import pytest
import torch

from posenc.data import Spec
from posenc.encodings import AttentionBias, NoEncoding, Sinusoidal
from posenc.errors import ConfigError
from posenc.jobs.job import build_job
from posenc.models import LSTM, Linear, TanhFFN

from .conftest import compose_cfg

NONE = NoEncoding


@pytest.mark.parametrize("model", ["linear", "tanh_ffn", "lstm"])
@pytest.mark.parametrize("target", ["sequence", "step"])
@pytest.mark.parametrize("d_model", [None, 8])
def test_output_shapes(model, target, d_model):
    cfg = compose_cfg(
        [
            f"model={model}",
            f"model.d_model={'null' if d_model is None else d_model}",
            "dataset=random",
            f"dataset.target={target}",
            "dataset.seq_len=5",
            "dataset.feature_dim=3",
            "dataset.n_samples=20",
        ]
    )
    m = build_job(cfg).model
    out = m(torch.randn(4, 5, 3))
    assert out.shape == ((4, 5) if target == "step" else (4,))
    assert (m.project is None) == (d_model is None)
    assert m.encoding.dim == (d_model or 3)


@pytest.mark.parametrize(
    "readout, want",
    [
        ("mean", lambda x: x.sum(-1).mean(1)),
        ("last", lambda x: x[:, -1].sum(-1)),
        ("flatten", lambda x: x.sum((1, 2))),
    ],
)
def test_linear_readouts_with_an_all_ones_head(readout, want):
    spec = Spec(seq_len=3, feature_dim=2, per_step=False)
    m = Linear(spec, NONE, readout=readout, head_init=1.0, head_bias=False)
    x = torch.randn(5, 3, 2)
    torch.testing.assert_close(m(x), want(x))


def test_per_step_targets_read_every_position():
    spec = Spec(seq_len=4, feature_dim=5, per_step=True)
    m = Linear(spec, Sinusoidal, head_init=1.0, head_bias=False, freeze_head=True)
    assert m.head.bias is None and not m.head.weight.requires_grad
    x = torch.randn(2, 4, 5)
    torch.testing.assert_close(m(x), (x + m.encoding.table()[:4]).sum(-1))


def test_tanh_ffn_output_is_bounded_and_relu_option():
    spec = Spec(seq_len=10, feature_dim=1, per_step=False)
    m = TanhFFN(spec, NONE, hidden_dim=128, activation="relu")
    assert m.hidden.in_features == 10 and m.head.in_features == 128
    assert isinstance(m.activation, torch.nn.ReLU)
    out = m(100 * torch.randn(7, 10, 1))
    assert out.abs().max() <= 1.0 and out.abs().max() > 0


def test_lstm_is_causal_and_reads_the_last_step():
    torch.manual_seed(0)
    step = LSTM(Spec(seq_len=6, feature_dim=3, per_step=True), NONE)
    seq = LSTM(Spec(seq_len=6, feature_dim=3, per_step=False), NONE)
    seq.load_state_dict(step.state_dict())
    x = torch.randn(2, 6, 3)
    changed = x.clone()
    changed[:, -1] += 1.0
    a, b = step(x), step(changed)
    torch.testing.assert_close(a[:, :-1], b[:, :-1])  # the past cannot see the future
    assert not torch.allclose(a[:, -1], b[:, -1])
    torch.testing.assert_close(seq(x), a[:, -1])


class Bias(AttentionBias):
    """Stands in for an attention-bias encoding (ALiBi-like)."""

    def forward(self, q_positions, k_positions):
        return torch.zeros(self.n_heads, len(q_positions), len(k_positions))


@pytest.mark.parametrize("model", [Linear, TanhFFN, LSTM])
def test_a_model_without_attention_refuses_an_attention_slot_encoding(model):
    with pytest.raises(ConfigError, match="bias slot") as err:
        model(Spec(seq_len=4, feature_dim=2, per_step=False), Bias)
    assert err.value.key == "encoding" and "\n" not in str(err.value)


def test_an_encoding_factory_gets_the_width_after_projection():
    spec = Spec(seq_len=4, feature_dim=2, per_step=False)
    m = LSTM(spec, functools.partial(Sinusoidal, base=100.0), d_model=6)
    assert m.encoding.dim == 6 and m.encoding.base == 100.0 and m.lstm.input_size == 6
