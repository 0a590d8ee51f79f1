"""`hydra/sweeper=posenc` (posenc's default): Hydra's basic sweeper, with every job's config
composed once instead of twice (see caching.ComposeOnce)."""

from dataclasses import dataclass
from typing import Any, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from hydra_plugins.posenc_sweepers.caching import (
    ValidatesOnce,
    compose_once,
    tables_on_interrupt,
)


@dataclass
class PosencSweeperConf:
    _target_: str = "hydra_plugins.posenc_sweepers.basic.PosencSweeper"
    max_batch_size: Optional[int] = None  # noqa: UP045 (Hydra loads plugins outside sys.modules)
    params: Optional[dict[str, str]] = None  # noqa: UP045


ConfigStore.instance().store(
    group="hydra/sweeper", name="posenc", node=PosencSweeperConf, provider="posenc"
)


class PosencSweeper(ValidatesOnce, BasicSweeper):
    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> Any:
        super().setup(
            hydra_context=compose_once(hydra_context), task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        with tables_on_interrupt(self.hydra_context, self.config):
            return super().sweep(arguments)
