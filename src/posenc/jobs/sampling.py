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

from posenc.config.compose import build
from posenc.data import Spec
from posenc.models import Model
from posenc.store import checkpoint
from posenc.store import run_folder as rf

MAX_LENGTH = 1_000_000  # characters one call draws: minutes on a CPU, a megabyte printed


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
    vocabulary = rf.read_vocabulary(run_dir)
    symbols = vocabulary.get("symbols") if isinstance(vocabulary, dict) else None
    if not (isinstance(symbols, list) and symbols and all(isinstance(c, str) for c in symbols)):
        raise rf.RunFolderError(
            f"{run_dir / rf.VOCABULARY} is broken: it has no list of symbols (the characters "
            "in id order)"
        )
    path = run_dir / rf.CHECKPOINT
    status = rf.read_metrics(run_dir)["status"]
    if not path.is_file():
        why = (
            "the run completed but its checkpoint was removed; sampling needs the trained weights"
            if status == "completed"
            else f"the run is {status} and has not finished a round yet"
        )
        raise rf.RunFolderError(f"{path}: no such file; {why}")
    config = OmegaConf.create(record["config"])
    seq_len = int(config.dataset.seq_len)
    v = len(symbols)
    spec = Spec(seq_len, feature_dim=v, per_step=True, vocab_size=v, n_classes=v)
    encoding = build(config.encoding, "encoding", _partial_=True)
    model = build(config.model, "model", spec=spec, encoding=encoding)
    payload = checkpoint.load(path)  # CheckpointError: one line naming the file
    checkpoint.load_weights(payload, model, path)
    model.eval()
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
    if not 0 <= length <= MAX_LENGTH:
        raise ValueError(
            f"--length: {length} must be between 0 and {MAX_LENGTH} (one forward pass a "
            "character, printed at the end)"
        )
    if not temperature >= 0:
        raise ValueError(f"--temperature: {temperature} must be at least 0")
    if not 0 <= seed < 2**64:
        raise ValueError(f"--seed: {seed} must be between 0 and 2**64 - 1")
    context = text_model.seq_len if context is None else context
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
            # the best logit at 0 first: a tiny temperature gives -inf elsewhere, never nan
            probabilities = torch.softmax((logits - logits.max()) / temperature, dim=-1)
            ids.append(int(torch.multinomial(probabilities, 1, generator=generator)))
    return "".join(text_model.symbols[i] for i in ids)
