"""`hydra/sweeper=optuna`: hyperparameter search with current Optuna, as a Hydra sweeper.

Keeps the config keys and search-space syntax of the official hydra-optuna-sweeper 1.3
(`n_trials`, `n_jobs`, `direction`, `storage`, `study_name`, `sampler`, `params` with
`interval(...)`, `tag(log, interval(...))`, `choice(...)`, `range(...)`), which pins
optuna < 3 and whose SQLite storage fails with SQLAlchemy 2. Trials run through whatever
launcher is configured, `n_jobs` at a time. Each trial minimises (or maximises) the value the
task function returns: posenc returns the final validation loss; a job that failed or
diverged returns None and is told to Optuna as a failed trial, so the study goes on.

The study lives in SQLite under the sweep folder unless `storage` says otherwise, with
`load_if_exists`: running the same command again resumes it (trials left running by Ctrl-C
are marked failed) until it holds `n_trials` finished trials.
"""

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.posenc_sweepers.caching import compose_once, tables_on_interrupt
from posenc.errors import ConfigError

log = logging.getLogger("posenc")


@dataclass
class SamplerConf:
    _target_: str = "optuna.samplers.TPESampler"
    seed: Any = None


DIRECTIONS = ("minimize", "maximize")
STORAGE_SCHEMES = ("sqlite", "postgresql", "mysql")  # Optuna's RDB storage (SQLAlchemy)


def distribution(override: Override) -> Any:
    """The Optuna distribution of one sweep override (the official plugin's mapping).
    Raises ConfigError, naming the key, for what is not a search space Optuna can sample."""
    import optuna.distributions as d

    key, value = override.get_key_element(), override.value()
    if isinstance(value, ChoiceSweep):
        choices = [x for x in override.sweep_iterator(transformer=Transformer.encode)]
        return d.CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise ConfigError(key, f"{override.input_line}: the range holds no value")
        return d.CategoricalDistribution(values)
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        start, end = value.start, value.end
        if not start <= end:
            raise ConfigError(key, f"interval({start}, {end}) is reversed: give the low end first")
        if log_scale and start <= 0:
            raise ConfigError(key, f"a log interval must start above 0, not at {start}")
        if isinstance(start, int) and isinstance(end, int):
            return d.IntDistribution(int(start), int(end), log=log_scale)
        return d.FloatDistribution(start, end, log=log_scale)
    raise ConfigError(
        key,
        f"{override.input_line} is not a search space; use choice(...), range(...) or "
        "interval(...), optionally tag(log, interval(...))",
    )


def check_storage(storage: str) -> None:
    """An RDB URL Optuna can open; for SQLite a folder that exists and can be written, and
    a file, if any, that is a SQLite database. Said in one line, before the study."""
    scheme = storage.partition(":")[0].partition("+")[0]
    if scheme not in STORAGE_SCHEMES or "://" not in storage:
        raise ConfigError(
            "hydra.sweeper.storage",
            f"{storage!r} is not a storage Optuna can use; give an RDB URL "
            f"({', '.join(s + '://' for s in STORAGE_SCHEMES)}...) or null for "
            "sqlite:///<sweep folder>/optuna.db",
        )
    if scheme != "sqlite":
        return
    path = Path(storage.partition(":///")[2])
    if path.exists():
        if not path.is_file():
            raise ConfigError("hydra.sweeper.storage", f"{path} is not a regular file")
        with open(path, "rb") as f:
            header = f.read(16)
        if header and header != b"SQLite format 3\x00":
            raise ConfigError(
                "hydra.sweeper.storage",
                f"{path} is not a SQLite database (an Optuna study's optuna.db); remove it "
                "or choose another storage",
            )
        if not os.access(path, os.R_OK | os.W_OK):
            raise ConfigError("hydra.sweeper.storage", f"{path} cannot be read and written")
    folder = path.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            "hydra.sweeper.storage", f"{folder} is not a folder this process can write"
        )


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        sampler: Any = None,  # null: TPE (SamplerConf)
        direction: Any = "minimize",
        storage: Optional[str] = None,  # noqa: UP045 null: sqlite:///<sweep dir>/optuna.db
        study_name: Optional[str] = None,  # noqa: UP045 null: "posenc"
        n_trials: int = 20,
        n_jobs: int = 2,  # trials launched together (a launcher batch)
        max_failure_rate: float = 1.0,  # stop once more than this share of trials failed
        params: Optional[DictConfig] = None,  # noqa: UP045
        custom_search_space: Any = None,  # not supported: refused with a clear error
    ):
        if custom_search_space:
            raise ValueError("hydra.sweeper.custom_search_space is not supported by posenc")
        self.sampler_conf, self.direction = sampler, direction
        self.storage, self.study_name = storage, study_name
        self.n_trials, self.n_jobs = n_trials, max(1, n_jobs)
        self.max_failure_rate = max_failure_rate
        self.params = OmegaConf.to_container(params) if params else {}

    def check(self) -> None:
        """The sweeper's own keys, said in one line before any trial."""
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise ConfigError("hydra.sweeper.n_trials", f"{self.n_trials} must be at least 1")
        directions = self.direction if isinstance(self.direction, list) else [self.direction]
        for direction in directions:
            if direction not in DIRECTIONS:
                raise ConfigError(
                    "hydra.sweeper.direction",
                    f"{direction!r} is not valid; choose one of: {', '.join(DIRECTIONS)}",
                )
        if not 0 <= self.max_failure_rate <= 1:
            raise ConfigError(
                "hydra.sweeper.max_failure_rate", f"{self.max_failure_rate} must be in [0, 1]"
            )

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        hydra_context = compose_once(hydra_context)
        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        with tables_on_interrupt(self.hydra_context, self.config):
            self.check()
            self._sweep(arguments)

    def _sweep(self, arguments: list[str]) -> None:
        import optuna
        from optuna.trial import TrialState

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        given = parser.parse_overrides(list(arguments))
        on_command_line = {o.get_key_element() for o in given}
        configured = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()])
        overrides = [o for o in configured if o.get_key_element() not in on_command_line] + given
        space = {o.get_key_element(): distribution(o) for o in overrides if o.is_sweep_override()}
        fixed = [o.input_line for o in overrides if not o.is_sweep_override()]
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        storage = self.storage or f"sqlite:///{sweep_dir.resolve()}/optuna.db"
        check_storage(storage)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        directions = self.direction if isinstance(self.direction, list) else [self.direction]
        try:
            sampler = (
                self.sampler_conf
                if isinstance(self.sampler_conf, optuna.samplers.BaseSampler)
                else instantiate(self.sampler_conf)  # Hydra has usually built it already
            )
        except Exception as e:
            raise ConfigError("hydra.sweeper.sampler", " ".join(str(e).split())) from None
        try:
            study = optuna.create_study(
                study_name=self.study_name or "posenc",
                storage=storage,
                sampler=sampler,
                directions=[str(x) for x in directions],
                load_if_exists=True,
            )
        except Exception as e:  # a store that cannot be opened: one line, nothing ran
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ConfigError("hydra.sweeper.storage", f"{storage}: {first}") from None
        for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study.tell(stale.number, state=TrialState.FAIL)  # cut short by Ctrl-C
        log.info("study %r in %s: %d trials so far", study.study_name, storage, len(study.trials))
        done = len(study.trials)
        while done < self.n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - done))]
            batch = [fixed + [f"{k}={v}" for k, v in t.params.items()] for t in trials]
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            for trial, result in zip(trials, results, strict=True):
                value = self._value(result)
                if value is None:
                    study.tell(trial, state=TrialState.FAIL)
                else:
                    study.tell(trial, value)
            done += len(trials)
            failed = sum(t.state == TrialState.FAIL for t in study.trials)
            if failed / max(done, 1) > self.max_failure_rate:
                log.error("%d of %d trials failed: stopping the study", failed, done)
                break
        if any(t.state == TrialState.COMPLETE for t in study.trials) and len(directions) == 1:
            best = study.best_trial
            log.info("best trial %d: value %s, params %s", best.number, best.value, best.params)
            OmegaConf.save(
                OmegaConf.create(
                    {"name": "optuna", "best_params": best.params, "best_value": best.value}
                ),
                sweep_dir / "optimization_results.yaml",
            )

    @staticmethod
    def _value(result: Any) -> Optional[float]:  # noqa: UP045
        """The job's return value; None (a failed trial) for a crash, a failure or NaN."""
        try:
            value = result.return_value
        except Exception:  # the job raised: a bad trial, not the end of the study
            return None
        if isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
        return None


def _conf_from_signature() -> type:
    """The sweeper's config schema, one field per constructor keyword with the signature's
    default (written once, there); numbers typed, the rest free as in the official plugin."""
    import dataclasses
    import inspect

    fields: list[tuple[str, Any, Any]] = [
        ("_target_", str, field(default=f"{__name__}.OptunaSweeper")),
        ("sampler", Any, field(default_factory=SamplerConf)),
    ]
    for p in list(inspect.signature(OptunaSweeper.__init__).parameters.values())[2:]:
        kind = p.annotation if p.annotation in ("int", "float", int, float) else Any
        fields.append((p.name, {"int": int, "float": float}.get(kind, kind), p.default))
    return dataclasses.make_dataclass("OptunaSweeperConf", fields)


OptunaSweeperConf = _conf_from_signature()
ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="posenc"
)
