"""Text from a trained text run (dataset=text): the model rebuilt from its run folder
(run.yaml's config, vocabulary.json, checkpoint.pt), then one character at a time drawn
from its predicted distribution, from a seeded generator.

Context: the model reads at most the last `context` characters, by default the training
length `seq_len`: a sliding window, the only context every encoding was trained on (an
absolute table cannot read more, and the length evaluation shows what longer windows cost
the others). A longer `context` is taken where the model can run at that length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from posenc import checkpoint
from posenc import run_folder as rf
from posenc.compose import build
from posenc.data import Spec
from posenc.models import Model


@dataclass
class TextModel:
    model: Model
    symbols: list[str]
    seq_len: int
    step: int  # the training step its checkpoint holds
    status: str

    def encode(self, text: str) -> list[int]:
        index = {s: i for i, s in enumerate(self.symbols)}
        unknown = sorted({c for c in text if c not in index})
        if unknown:
            raise ValueError(
                f"--prompt: {''.join(unknown)!r} not in the run's vocabulary of "
                f"{len(self.symbols)} characters (vocabulary.json)"
            )
        return [index[c] for c in text]


def load_text_model(run_dir: Path | str) -> TextModel:
    """The trained model of a text run folder. Raises RunFolderError naming the file that
    is missing or broken."""
    run_dir = Path(run_dir)
    record = rf.read_record(run_dir)
    symbols = rf.read_vocabulary(run_dir)["symbols"]
    path = run_dir / rf.CHECKPOINT
    if not path.is_file():
        raise rf.RunFolderError(f"{path}: no such file; the run has not finished a round yet")
    config = OmegaConf.create(record["config"])
    seq_len = int(config.dataset.seq_len)
    v = len(symbols)
    spec = Spec(seq_len, feature_dim=v, per_step=True, vocab_size=v, n_classes=v)
    encoding = build(config.encoding, "encoding", _partial_=True)
    model = build(config.model, "model", spec=spec, encoding=encoding)
    try:
        payload = checkpoint.load(path)
        model.load_state_dict(payload["model"])
    except Exception as e:  # a torn or foreign file: said as the file's fault
        raise rf.RunFolderError(f"{path} is broken: {e}") from None
    model.eval()
    status = rf.read_metrics(run_dir)["status"]
    return TextModel(model, symbols, seq_len, int(payload["step"]), status)


def generate(
    text_model: TextModel,
    prompt: str,
    length: int,
    seed: int = 0,
    temperature: float = 1.0,
    context: int | None = None,
) -> str:
    """`length` characters after `prompt`, each drawn from the model's distribution at
    `temperature` (0: the most likely) given the last `context` characters."""
    if not prompt:
        raise ValueError("--prompt: give at least one character to start from")
    if length < 0:
        raise ValueError(f"--length: {length} must be at least 0")
    if not temperature >= 0:
        raise ValueError(f"--temperature: {temperature} must be at least 0")
    context = context or text_model.seq_len
    if context < 1:
        raise ValueError(f"--context: {context} must be at least 1")
    if (reason := text_model.model.unsupported(context)) is not None:
        raise ValueError(f"--context: the model cannot read {context} characters: {reason}")
    ids = text_model.encode(prompt)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _ in range(length):
            window = torch.tensor([ids[-context:]])
            logits = text_model.model(window)[0, -1].double()
            if temperature == 0:
                ids.append(int(logits.argmax()))
                continue
            probabilities = torch.softmax(logits / temperature, dim=-1)
            ids.append(int(torch.multinomial(probabilities, 1, generator=generator)))
    return "".join(text_model.symbols[i] for i in ids)
