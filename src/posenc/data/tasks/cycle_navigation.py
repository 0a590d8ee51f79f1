"""dataset=cycle_navigation (regular): where a walk on a cycle of 5 ends."""

from __future__ import annotations

from posenc.data.tasks import REGULAR, Task, bits

CYCLE = 5


class CycleNavigation(Task):
    """Tokens 0, 1, 2 move −1, 0, +1 on a cycle of 5 states, starting at 0 (the reference
    code's encoding); the class is the final state. 2 0 1 0 0 -> +1 −1 0 −1 −1 = −2 -> 3."""

    level = REGULAR

    vocab_size, n_classes = 3, CYCLE

    def inputs(self, generator, batch, n):
        return bits(generator, batch, n, high=3)

    def targets(self, x):
        return (x - 1).sum(1, keepdim=True) % CYCLE
