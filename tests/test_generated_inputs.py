"""Generated inputs (hypothesis): every key of every group with right and wrong types,
out-of-range numbers, NaN/inf, empty and huge lists, unknown options and keys, combinations
of groups. posenc must either train (one tiny epoch) or refuse before training with one line
that names a key, and touch no file outside the run folder."""

import math
import os
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import posenc
from posenc.config.compose import compose_config, config_dir
from posenc.errors import ConfigError

pytestmark = pytest.mark.slow

GROUPS = ("dataset", "encoding", "model", "optimizer")
# Small and fast whatever else is drawn; drawn values come after these and win.
TINY = [
    "dataset.n_samples=24",
    "dataset.seq_len=5",
    "trainer.epochs=1",
    "trainer.batch_size=8",
    "eval.batch_size=64",
]
SIZE_KEYS = {"n_samples", "seq_len", "series_len", "vocab_size", "max_len", "max_position"}
BIG = {"hidden_dim", "d_model", "d_ff", "num_buckets", "max_distance", "n_layers", "num_layers"}


def options(group):
    return sorted(p.stem for p in Path(config_dir(), group).glob("*.yaml"))


@cache
def keys_of(group, option):
    """Every key of one option, with its default."""
    cfg = compose_config([f"{group}={option}"])[group]
    return {k: cfg[k] for k in cfg if k != "_target_"}


def values_for(name, default):
    ints = ["-1", "0", "1", "2", "7", "1.5", "x", "null", "nan"]
    if name in SIZE_KEYS:
        ints = ["-3", "0", "1", "3", "64", "x", "null"]
    if name in BIG:
        ints = ["-1", "0", "1", "2", "16", "x", "null"]
    if isinstance(default, bool):
        return ["true", "false", "maybe", "1", "null"]
    if isinstance(default, int):
        return ints
    if isinstance(default, float):
        return ["-1.0", "0", "0.5", "2.0", "nan", "inf", "-inf", "1e30", "x", "null"]
    if isinstance(default, str) or default is None:
        return ["x", "''", "add", "none", "mean", "causal", "1", "null", "[]"]
    return ["[]", "[1,2]", "[0.5,0.5]", "[a]", "[" + ",".join(["3"] * 200) + "]", "null", "3"]


@st.composite
def overrides(draw):
    picked = {
        g: "bogus" if draw(st.integers(0, 19)) == 0 else draw(st.sampled_from(options(g)))
        for g in GROUPS
    }
    chosen = [f"{g}={o}" for g, o in picked.items()]
    keys = []
    for group, option in picked.items():
        if option == "bogus":
            continue
        for key, default in keys_of(group, option).items():
            keys.append((f"{group}.{key}", values_for(key, default)))
    keys += [
        ("trainer.device", ["cpu", "tpu", "cuda:x", "auto"]),
        ("trainer.num_threads", ["-1", "0", "1", "null", "x"]),
        ("seed", ["-1", "0", "3", "x", "1e3"]),
        ("eval.lengths", ["[]", "[7]", "[0]", "[3,9]", "[x]", "5"]),
        ("trainer.epochs", ["0", "1", "-2", "x"]),
        ("model.no_such_key", ["1"]),
        ("nokey", ["1"]),
    ]
    picks = draw(st.lists(st.sampled_from(keys), min_size=0, max_size=4, unique_by=lambda k: k[0]))
    return chosen + [f"{k}={draw(st.sampled_from(v))}" for k, v in picks]


@settings(
    max_examples=int(os.environ.get("POSENC_GENERATED_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(drawn=overrides())
def test_every_input_trains_or_is_refused_in_one_line(tmp_path, drawn, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    run_dir = tmp_path / f"run{len(before)}"
    try:
        result = posenc.run([*TINY, *drawn], output_dir=run_dir, plots=False)
    except ConfigError as e:
        message = str(e)
        assert "\n" not in message and e.key and message.startswith(e.key), message
        if run_dir.exists():  # a refusal inside the job: recorded, nothing trained
            assert not (run_dir / "history.csv").exists()
    else:
        assert result.status in ("completed", "diverged"), (drawn, result.metrics)
        if result.status == "completed":
            assert math.isfinite(result.metrics["final_train_loss"])
    outside = {p for p in set(tmp_path.rglob("*")) - before if run_dir not in (p, *p.parents)}
    assert not outside, outside
