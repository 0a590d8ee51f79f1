import pytest
import torch
from omegaconf import OmegaConf

from posenc.config import ConfigError
from posenc.data import Spec
from posenc.encodings import ATTENTION_BIAS, PositionalEncoding
from posenc.models import LinearBody, LSTMBody, TanhFFNBody, build_model

from .conftest import compose_cfg


@pytest.mark.parametrize("model", ["linear", "tanh_ffn", "lstm"])
@pytest.mark.parametrize("per_step", [False, True])
@pytest.mark.parametrize("d_model", [None, 8])
def test_output_shapes(model, per_step, d_model):
    cfg = compose_cfg([f"model={model}", f"model.d_model={'null' if d_model is None else d_model}"])
    m = build_model(cfg.model, cfg.encoding, Spec(seq_len=5, feature_dim=3, per_step=per_step))
    out = m(torch.randn(4, 5, 3))
    assert out.shape == ((4, 5) if per_step else (4,))
    assert (m.project is None) == (d_model is None)
    if d_model:
        assert m.encoding.dim == d_model


@pytest.mark.parametrize("readout", ["mean", "last", "flatten"])
def test_linear_readouts(readout):
    body = LinearBody(in_dim=2, seq_len=3, per_step=False, readout=readout)
    x = torch.randn(5, 3, 2)
    if readout == "flatten":
        want = body.head(x.flatten(1))[:, 0]
    else:
        steps = body.head(x)[..., 0]
        want = steps.mean(1) if readout == "mean" else steps[:, -1]
    torch.testing.assert_close(body(x), want)


def test_tanh_ffn_output_is_bounded_and_relu_option():
    body = TanhFFNBody(in_dim=1, seq_len=10, per_step=False, hidden_dim=128, activation="relu")
    assert body.hidden.in_features == 10 and body.head.in_features == 128
    assert isinstance(body.activation, torch.nn.ReLU)
    out = body(100 * torch.randn(7, 10, 1))
    assert out.abs().max() <= 1.0


def test_lstm_reads_the_last_step():
    body = LSTMBody(in_dim=3, seq_len=4, per_step=False)
    x = torch.randn(2, 4, 3)
    out, _ = body.lstm(x)
    torch.testing.assert_close(body(x), body.head(out[:, -1])[:, 0])


def test_head_init_and_freeze():
    cfg = compose_cfg(
        ["model=linear", "model.head_bias=false", "model.head_init=1.0", "model.freeze_head=true"]
    )
    m = build_model(cfg.model, cfg.encoding, Spec(seq_len=4, feature_dim=5, per_step=True))
    head = m.body.head
    assert head.bias is None and torch.all(head.weight == 1.0)
    assert not head.weight.requires_grad
    x = torch.randn(2, 4, 5)
    expected = (x + m.encoding.table()[:4]).sum(-1)
    torch.testing.assert_close(m(x), expected)


class BiasEncoding(PositionalEncoding):
    """Stands in for an attention-bias encoding (ALiBi-like): no input table."""

    kinds = frozenset({ATTENTION_BIAS})


def test_body_refuses_an_encoding_kind_it_cannot_use():
    encoding_cfg = OmegaConf.create({"_target_": f"{__name__}.BiasEncoding"})
    cfg = compose_cfg(["model=lstm"])
    with pytest.raises(ConfigError, match="uses only"):
        build_model(cfg.model, encoding_cfg, Spec(seq_len=4, feature_dim=2, per_step=False))
