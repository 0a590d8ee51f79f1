"""A trained run's model rebuilt from its folder (`load_model`, every kind: run.yaml's
config built again as the job built it, then checkpoint.pt's weights), and text from a
trained text run: one character at a time drawn from its predicted distribution, from a
seeded generator.

Context: the model reads at most the last `context` characters, by default the training
length `seq_len`: a sliding window, the only context every encoding was trained on (an
absolute table cannot read more, and the length evaluation shows what longer windows cost
the others). A longer `context` is taken where the model can run at that length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from posenc.errors import ConfigError
from posenc.jobs.kinds import Kind
from posenc.models import Model
from posenc.store import checkpoint
from posenc.store import run_folder as rf

MAX_LENGTH = 1_000_000  # characters one call draws: minutes on a CPU, a megabyte printed


@dataclass
class LoadedModel:
    """A trained run, rebuilt for inference: its model (eval mode), the composed config it
    was trained with, its kind (the data: `spec`, the test set) and where it came from."""

    path: Path
    model: Model
    config: DictConfig
    kind: Kind
    step: int  # the training step its checkpoint holds
    status: str

    @property
    def spec(self):
        return self.kind.spec

    def test_metrics(self) -> dict[str, Any]:
        """The run's test metrics computed again, with its own evaluation settings."""
        from posenc.jobs.loop import History

        out = self.kind.outcome(self.model, History(), completed=True)
        return {k: v for k, v in out.items() if k.startswith("test_")}


def load_model(run_dir: Path | str, device: str = "cpu") -> LoadedModel:
    """The trained model of any run folder that kept its checkpoint.pt, on `device`.
    Raises RunFolderError naming the file when it cannot be rebuilt (no checkpoint, a
    run.yaml this posenc cannot build, a text whose symbols changed)."""
    from posenc.jobs.job import build_job

    run_dir = Path(run_dir)
    record = rf.read_record(run_dir)
    status = rf.read_metrics(run_dir)["status"]
    path = run_dir / rf.CHECKPOINT
    if not path.is_file():
        why = (
            "the run completed but its checkpoint was removed (or was written before posenc "
            "kept one); the model needs its trained weights"
            if status == "completed"
            else f"the run is {status} and has not finished a round yet"
        )
        raise rf.RunFolderError(f"{path}: no such file; {why}")
    cfg = trained_config(run_dir, record["config"], device)
    try:
        job = build_job(cfg)
    except ConfigError as e:
        raise rf.RunFolderError(f"{run_dir / rf.RUN}: cannot be built again: {e}") from None
    check_symbols(run_dir, job.kind.data)
    payload = checkpoint.load(path, device)  # CheckpointError: one line naming the file
    checkpoint.load_weights(payload, job.model, path)
    job.model.eval()
    return LoadedModel(run_dir, job.model, cfg, job.kind, int(payload["step"]), status)


def trained_config(run_dir: Path, config: dict, device: str) -> DictConfig:
    """run.yaml's config in the schema, as the job had it, for inference on `device`: no
    source to start from (the weights come from this run), nothing tracked."""
    from posenc.config.schemas import Config

    try:
        cfg = OmegaConf.merge(OmegaConf.structured(Config), config)
    except Exception as e:  # a key this posenc does not know (another version's)
        first = str(e).splitlines()[0]
        raise rf.RunFolderError(
            f"{run_dir / rf.RUN}: not a config this posenc can build: {first}"
        ) from None
    cfg.init_from, cfg.tracking, cfg.trainer.device = None, None, device
    return cfg


def check_symbols(run_dir: Path, data: Any) -> None:
    """A text run: the text read again gives the symbols its embeddings were trained on."""
    vocabulary = getattr(data, "vocabulary", None)
    if vocabulary is None or not (run_dir / rf.VOCABULARY).is_file():
        return
    if rf.read_vocabulary(run_dir).get("symbols") != vocabulary().get("symbols"):
        raise rf.RunFolderError(
            f"{run_dir / rf.VOCABULARY}: the text now gives other symbols than the run was "
            "trained on; its embeddings would read other characters"
        )


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
    """The trained model of a text run folder (load_model) with its symbols. Raises
    RunFolderError naming the file that is missing or broken."""
    run_dir = Path(run_dir)
    rf.read_record(run_dir)
    vocabulary = rf.read_vocabulary(run_dir)
    symbols = vocabulary.get("symbols") if isinstance(vocabulary, dict) else None
    if not (isinstance(symbols, list) and symbols and all(isinstance(c, str) for c in symbols)):
        raise rf.RunFolderError(
            f"{run_dir / rf.VOCABULARY} is broken: it has no list of symbols (the characters "
            "in id order)"
        )
    loaded = load_model(run_dir)
    seq_len = int(loaded.config.dataset.seq_len)
    return TextModel(loaded.model, symbols, seq_len, loaded.step, loaded.status)


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
