"""What posenc's sweepers share: each job's config composed once, and the sweep's tables
written when Ctrl-C or SIGTERM ends it."""

import contextlib
from collections.abc import Iterator
from typing import Any


class ComposeOnce:
    """A config loader that hands the launcher the config the sweeper already composed.

    A sweeper validates a batch by composing every job (so a bad override stops the sweep
    before any job runs), then the launcher composes each job again: the same work twice,
    most of a short job's overhead. What is composed while validating (`keeping`) is kept,
    one config per job, and each is given to one later call with the same overrides (two
    trials of a search may sample the same values: each job gets a config of its own, as
    the launcher makes each read-only once it runs); everything else goes to Hydra's own
    loader.
    """

    def __init__(self, loader: Any):
        self._loader = loader
        self._composed: dict[tuple[str, ...], list[Any]] = {}
        self._keeping = False

    @contextlib.contextmanager
    def keeping(self) -> Iterator[None]:
        self._keeping = True
        try:
            yield
        finally:
            self._keeping = False

    def load_sweep_config(self, master_config: Any, sweep_overrides: list) -> Any:
        key = tuple(sweep_overrides)
        if not self._keeping and self._composed.get(key):
            config = self._composed[key].pop(0)
            if not self._composed[key]:
                del self._composed[key]
            return config
        config = self._loader.load_sweep_config(master_config, sweep_overrides)
        if self._keeping:  # validation only reads it
            self._composed.setdefault(key, []).append(config)
        return config

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # unpickling in a launcher's worker looks these up first
            raise AttributeError(name)
        return getattr(self._loader, name)


class ValidatesOnce:
    """A sweeper whose batch validation keeps each composed config for its job."""

    def validate_batch_is_legal(self, batch: Any) -> None:
        loader = self.hydra_context.config_loader
        keeping = loader.keeping() if isinstance(loader, ComposeOnce) else contextlib.nullcontext()
        with keeping:
            super().validate_batch_is_legal(batch)


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
    """Hydra calls no callback when a sweep is interrupted, refused or ended by an error
    (a job's folder Hydra cannot make): tell the callbacks that listen (posenc's SweepEnd
    writes the tables of the finished jobs, or releases the folder of a sweep refused
    before its first job), then let it end the sweep."""
    from posenc.errors import ConfigError

    try:
        yield
    except (KeyboardInterrupt, Exception) as e:
        name = "on_multirun_refused" if isinstance(e, ConfigError) else "on_multirun_interrupted"
        for callback in getattr(hydra_context.callbacks, "callbacks", []):
            hook = getattr(callback, name, None)
            if hook is not None:
                hook(config=config)
        raise
