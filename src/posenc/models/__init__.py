"""Models: the `model` config group.

Contract: a model is a subclass of `Model`, named by `_target_` in conf/model/<option>.yaml.
It is built with the data's `spec` (seq_len, feature_dim, per_step) and an `encoding`
factory, plus its own keyword arguments; its `**common` reach `Model`'s keys, which every
model has: `d_model` (a linear projection of the features first), `head_bias`, `head_init`,
`freeze_head`. It maps x [batch, seq_len, feature_dim] to [batch] (per-sequence targets) or
[batch, seq_len] (per-step targets).

Inside, `Model.forward` projects, adds the input-slot encoding, and calls `body(x,
positions)`; a model lists the encoding slots it has in `slots` (see posenc.encodings) and
an encoding for a slot it lacks is refused with one line. Members: `linear`, `tanh_ffn`,
`lstm`, `transformer` (the only one with the attention slots), and the memory-augmented RNNs
`stack_rnn` and `tape_rnn` (posenc.models.memory_rnn), which take no positional encoding.
"""

from posenc.models.base import Model
from posenc.models.linear import Linear
from posenc.models.lstm import LSTM
from posenc.models.stack_rnn import StackRNN
from posenc.models.tanh_ffn import TanhFFN
from posenc.models.tape_rnn import TapeRNN

__all__ = ["LSTM", "Linear", "Model", "StackRNN", "TanhFFN", "TapeRNN"]
