"""Models: SequenceModel = optional input projection -> positional encoding -> body.

A body is any nn.Module named by `_target_` in conf/model/*.yaml. It is built with
`in_dim` (width after the encoding), `seq_len` and `per_step` plus its own keys, maps
[batch, seq_len, in_dim] to [batch] (or [batch, seq_len] when per_step), keeps its last
layer as `self.head`, and lists the encoding kinds it can use in `accepts`.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from posenc.config import ConfigError, build, choice_error
from posenc.data import Spec
from posenc.encodings import INPUT, PositionalEncoding

# Keys every model config has that SequenceModel consumes; the rest go to the body.
WRAPPER_KEYS = ("d_model", "head_init", "freeze_head")


class LinearBody(nn.Module):
    """One linear map shared by every position; `readout` turns steps into one value."""

    accepts = frozenset({INPUT})
    READOUTS = ("mean", "last", "flatten")

    def __init__(
        self,
        in_dim: int,
        seq_len: int,
        per_step: bool,
        readout: str = "mean",
        head_bias: bool = True,
    ):
        super().__init__()
        if readout not in self.READOUTS:
            raise choice_error("model.readout", readout, self.READOUTS)
        self.readout = "step" if per_step else readout
        width = seq_len * in_dim if self.readout == "flatten" else in_dim
        self.head = nn.Linear(width, 1, bias=head_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.readout == "flatten":
            return self.head(x.flatten(1)).squeeze(-1)
        out = self.head(x).squeeze(-1)  # [batch, seq_len]
        if self.readout == "mean":
            return out.mean(1)
        if self.readout == "last":
            return out[:, -1]
        return out


class TanhFFNBody(nn.Module):
    """Flattened sequence -> Linear(hidden_dim) -> activation -> Linear -> tanh (optional)."""

    accepts = frozenset({INPUT})
    ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}

    def __init__(
        self,
        in_dim: int,
        seq_len: int,
        per_step: bool,
        hidden_dim: int = 64,
        activation: str = "tanh",
        output_tanh: bool = True,
        head_bias: bool = True,
    ):
        super().__init__()
        if activation not in self.ACTIVATIONS:
            raise choice_error("model.activation", activation, tuple(self.ACTIVATIONS))
        if hidden_dim < 1:
            raise ConfigError("model.hidden_dim", f"{hidden_dim} must be at least 1")
        self.per_step = per_step
        self.hidden = nn.Linear(seq_len * in_dim, hidden_dim)
        self.activation = self.ACTIVATIONS[activation]()
        self.head = nn.Linear(hidden_dim, seq_len if per_step else 1, bias=head_bias)
        self.output_tanh = output_tanh

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.activation(self.hidden(x.flatten(1))))
        if self.output_tanh:
            out = torch.tanh(out)
        return out if self.per_step else out.squeeze(-1)


class LSTMBody(nn.Module):
    """LSTM -> linear readout of the last step (of every step for per-step targets)."""

    accepts = frozenset({INPUT})

    def __init__(
        self,
        in_dim: int,
        seq_len: int,
        per_step: bool,
        hidden_dim: int = 32,
        num_layers: int = 1,
        head_bias: bool = True,
    ):
        super().__init__()
        for key, value in (("model.hidden_dim", hidden_dim), ("model.num_layers", num_layers)):
            if value < 1:
                raise ConfigError(key, f"{value} must be at least 1")
        self.per_step = per_step
        self.lstm = nn.LSTM(in_dim, hidden_dim, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_dim, 1, bias=head_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        if not self.per_step:
            out = out[:, -1]
        return self.head(out).squeeze(-1)


class SequenceModel(nn.Module):
    def __init__(self, encoding: PositionalEncoding, body: nn.Module, project: nn.Module | None):
        super().__init__()
        self.project = project
        self.encoding = encoding
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.project is not None:
            x = self.project(x)
        return self.body(self.encoding(x))


def _as_dict(cfg: DictConfig | dict) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)


def build_model(model_cfg: DictConfig, encoding_cfg: DictConfig, spec: Spec) -> SequenceModel:
    """Instantiate projection, encoding and body for data of this shape; refuse misfits."""
    body_kwargs = _as_dict(model_cfg)
    d_model, head_init, freeze_head = (body_kwargs.pop(k, None) for k in WRAPPER_KEYS)
    project = None
    width = spec.feature_dim
    if d_model is not None:
        project = nn.Linear(spec.feature_dim, d_model)
        width = d_model

    encoding = build(_as_dict(encoding_cfg), dim=width, seq_len=spec.seq_len)
    if not isinstance(encoding, PositionalEncoding):
        raise ConfigError("encoding._target_", "must name a posenc PositionalEncoding subclass")
    body = build(body_kwargs, in_dim=encoding.out_dim, seq_len=spec.seq_len, per_step=spec.per_step)
    accepts = getattr(body, "accepts", frozenset({INPUT}))
    if not encoding.kinds & accepts:
        raise ConfigError(
            "encoding",
            f"{type(encoding).__name__} offers {sorted(encoding.kinds)}, but "
            f"{type(body).__name__} uses only {sorted(accepts)}",
        )
    head = getattr(body, "head", None)
    if (head_init is not None or freeze_head) and not isinstance(head, nn.Linear):
        raise ConfigError("model.head_init", f"{type(body).__name__} has no linear `head`")
    if head_init is not None:
        with torch.no_grad():
            head.weight.fill_(head_init)
            if head.bias is not None:
                head.bias.zero_()
    if freeze_head:
        head.requires_grad_(False)
    return SequenceModel(encoding, body, project)
