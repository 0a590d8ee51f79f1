"""dataset=missing_duplicate_string (context-sensitive): the symbol hidden in a string ww."""

from __future__ import annotations

import torch

from posenc.data.tasks import CONTEXT_SENSITIVE, Task, bits

HIDDEN, PAD = 2, 3


class MissingDuplicateString(Task):
    """A binary string w of length n // 2 written twice, one symbol replaced by 2; predict
    it. An odd n ends with the pad token 3. 01100210 -> 1 (w = 0110); 1011213 -> 0. At n = 1
    the input is 1 and the answer 1 (the reference's convention). Vocabulary {0, 1, 2, 3};
    classes {0, 1}."""

    level = CONTEXT_SENSITIVE

    vocab_size, n_classes = 4, 2

    def inputs(self, generator, batch, n):
        if n == 1:
            return torch.ones(batch, 1, dtype=torch.long)
        w = bits(generator, batch, n // 2)
        ww = torch.cat([w, w], dim=1)
        hidden = torch.randint(ww.shape[1], (batch, 1), generator=generator)
        pad = torch.full((batch, n % 2), PAD, dtype=torch.long)
        return torch.cat([ww.scatter(1, hidden, HIDDEN), pad], dim=1)

    def targets(self, x):
        n = x.shape[1]
        if n == 1:
            return torch.ones_like(x)
        half = n // 2
        hidden = (x == HIDDEN).int().argmax(1, keepdim=True)
        twin = torch.where(hidden < half, hidden + half, hidden - half)
        return x.gather(1, twin)
