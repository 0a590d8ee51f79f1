"""What posenc's sweepers share: each job's config composed once, and the sweep's tables
written when Ctrl-C or SIGTERM ends it."""

import contextlib
from collections.abc import Iterator
from typing import Any


class ComposeOnce:
    """A config loader that hands the launcher the config the sweeper already composed.

    A sweeper validates a batch by composing every job (so a bad override stops the sweep
    before any job runs), then the launcher composes each job again: the same work twice,
    most of a short job's overhead. The first composition of a job's overrides is kept and
    given, once, to the second call; everything else goes to Hydra's own loader.
    """

    def __init__(self, loader: Any):
        self._loader = loader
        self._composed: dict[tuple[str, ...], Any] = {}

    def load_sweep_config(self, master_config: Any, sweep_overrides: list) -> Any:
        key = tuple(sweep_overrides)
        if key in self._composed:
            return self._composed.pop(key)
        config = self._loader.load_sweep_config(master_config, sweep_overrides)
        self._composed[key] = config  # validation only reads it
        return config

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # unpickling in a launcher's worker looks these up first
            raise AttributeError(name)
        return getattr(self._loader, name)


def compose_once(hydra_context: Any) -> Any:
    """The same HydraContext with a ComposeOnce config loader."""
    from hydra.types import HydraContext

    if isinstance(hydra_context.config_loader, ComposeOnce):
        return hydra_context
    return HydraContext(
        config_loader=ComposeOnce(hydra_context.config_loader), callbacks=hydra_context.callbacks
    )


@contextlib.contextmanager
def tables_on_interrupt(hydra_context: Any, config: Any) -> Iterator[None]:
    """Hydra calls no callback when a sweep is interrupted or refused: tell the callbacks
    that listen (posenc's SweepEnd writes the tables of the finished jobs, or releases the
    folder of a sweep refused before its first job), then let it end the sweep."""
    from posenc.errors import ConfigError

    try:
        yield
    except (KeyboardInterrupt, ConfigError) as e:
        name = (
            "on_multirun_interrupted" if isinstance(e, KeyboardInterrupt) else "on_multirun_refused"
        )
        for callback in getattr(hydra_context.callbacks, "callbacks", []):
            hook = getattr(callback, name, None)
            if hook is not None:
                hook(config=config)
        raise
