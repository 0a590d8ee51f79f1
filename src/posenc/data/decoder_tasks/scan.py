"""dataset=scan (Lake & Baroni 2018), the length split Kazemnejad et al. 2023 use: every
command of SCAN's grammar, generated here (nothing is downloaded; 20,910 commands), its
action sequence given by SCAN's interpretation; split by the actions' length (train ≤ 25,
the paper's test 26..48).

Grammar: C → S and S | S after S | S; S → V twice | V thrice | V; V → U opposite W | U
around W | U W | turn W | U, where U is a primitive (walk, look, run, jump) or `turn` in
`opposite` / `around`, and W left or right. Interpretation: a primitive is its action,
`x left` is LTURN then x (`turn left` LTURN alone), `x opposite left` two turns then x,
`x around left` (LTURN x) four times, twice / thrice repeat, `x and y` x then y, `x after y`
y then x.

"Length" n here is the answer's (the actions), as the split is: a batch at length n draws
commands uniformly among those whose actions number n; every command is padded to the
longest (9 words) with a PAD token, so one batch has one shape. Lengths with no command
(23, 29, 31, 34, 35, 37..39, 41..47) are neither trained (the curriculum draws again) nor
scored.
"""

from __future__ import annotations

import functools
import itertools

import torch

from posenc.data.tasks import CONTEXT_FREE, PROMPT, Task
from posenc.errors import ConfigError

PRIMITIVES = {"walk": "WALK", "look": "LOOK", "run": "RUN", "jump": "JUMP"}
TURNS = {"left": "LTURN", "right": "RTURN"}
WORDS = (*PRIMITIVES, "turn", *TURNS, "opposite", "around", "twice", "thrice", "and", "after")
ACTIONS = (*PRIMITIVES.values(), *TURNS.values())
PAD = len(WORDS)  # the last input id
WIDTH = 9  # words of the longest command: "jump around left thrice and walk opposite right twice"


def interpret(command: str) -> list[str]:
    """The action sequence of a SCAN command."""
    words = command.split()
    for joiner, first in (("and", 0), ("after", 1)):
        if joiner in words:
            i = words.index(joiner)
            parts = [" ".join(words[:i]), " ".join(words[i + 1 :])]
            return interpret(parts[first]) + interpret(parts[1 - first])
    if words and words[-1] in ("twice", "thrice"):
        return interpret(" ".join(words[:-1])) * (2 if words[-1] == "twice" else 3)
    return _verb(words)


def _verb(words: list[str]) -> list[str]:
    action = [] if words[0] == "turn" else [PRIMITIVES[words[0]]]
    if len(words) == 1:
        return action
    turn = [TURNS[words[-1]]]
    if words[1] == "opposite":
        return turn * 2 + action
    if words[1] == "around":
        return (turn + action) * 4
    return turn + action


def commands() -> list[str]:
    """Every command of the grammar, in a fixed order."""
    verbs = list(PRIMITIVES)
    for u, w in itertools.product([*PRIMITIVES, "turn"], TURNS):
        verbs += [f"{u} {w}", f"{u} opposite {w}", f"{u} around {w}"]
    simple = [f"{v}{r}" for v in verbs for r in ("", " twice", " thrice")]
    joined = [f"{a} {j} {b}" for j in ("and", "after") for a in simple for b in simple]
    return simple + joined


@functools.cache
def by_length() -> dict[int, torch.Tensor]:
    """The commands' word ids [count, WIDTH] (PAD after the last word), per action length."""
    groups: dict[int, list[list[int]]] = {}
    for command in commands():
        ids = [WORDS.index(w) for w in command.split()]
        groups.setdefault(len(interpret(command)), []).append(ids + [PAD] * (WIDTH - len(ids)))
    return {n: torch.tensor(rows) for n, rows in sorted(groups.items())}


class Scan(Task):
    """`jump twice after walk left` -> LTURN WALK JUMP JUMP. Vocabulary SCAN's 13 words and
    PAD; classes its 6 actions. Length: the actions' (1..48, not every length has a command:
    `lengths` says which)."""

    level = CONTEXT_FREE  # its grammar as written (a finite language: 20,910 commands)

    vocab_size, n_classes = len(WORDS) + 1, len(ACTIONS)

    def __init__(self, generator, **common):
        super().__init__(generator, **common)
        if not self.train_lengths:
            raise ConfigError(
                "dataset.min_len",
                f"SCAN's commands have action lengths {_spans(list(by_length()))}; "
                f"{self.min_len}..{self.max_len} holds none",
            )

    def has_length(self, n):
        return n in by_length()  # 23, 29, 31, ... have no command

    def input_length(self, n):
        return WIDTH

    def model_length(self, n):
        return WIDTH + n + (2 if self.layout_name == PROMPT else 0)

    def inputs(self, generator, batch, n):
        pool = by_length().get(n)
        if pool is None:
            raise ConfigError("eval.max_length", f"no SCAN command has {n} actions")
        return pool[torch.randint(len(pool), (batch,), generator=generator)]

    def targets(self, x):
        rows = []
        for ids in x.tolist():
            command = " ".join(WORDS[i] for i in ids if i != PAD)
            rows.append([ACTIONS.index(a) for a in interpret(command)])
        return torch.tensor(rows, dtype=torch.long)

    def too_long(self, length):
        if length not in by_length():
            return f"no SCAN command has {length} actions"
        return None


def _spans(lengths: list[int]) -> str:
    out, start = [], lengths[0]
    for a, b in itertools.pairwise([*lengths, None]):
        if b != a + 1:
            out.append(f"{start}..{a}" if start != a else str(a))
            start = b
    return ", ".join(out)
