"""posenc: a config-driven experiment runner for positional encodings.

`from posenc import run, load_run, load_sweep, load_model` for notebooks;
`python -m posenc.train` on the command line.
"""

import importlib.metadata

# The kinds of run posenc has declare what they record (plain data, no torch): registered in
# posenc.metrics before any module reads it, however posenc is entered.
import posenc.jobs.kinds.declared  # noqa: F401

__version__ = importlib.metadata.version("posenc")
__all__ = ["load_model", "load_run", "load_sweep", "run"]


def __getattr__(name: str):
    # Imported on first use: `python -m posenc.train` should not pay for pandas up front.
    if name in __all__:
        from posenc import api

        return getattr(api, name)
    raise AttributeError(f"module 'posenc' has no attribute {name!r}")
