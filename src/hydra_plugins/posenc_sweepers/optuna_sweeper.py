"""`hydra/sweeper=optuna`: hyperparameter search with current Optuna, as a Hydra sweeper.

Keeps the config keys, sampler group and search-space syntax of the official
hydra-optuna-sweeper 1.3 (`n_trials`, `n_jobs`, `direction`, `storage`, `study_name`,
`max_failure_rate`, `custom_search_space`, `hydra/sweeper/sampler` (tpe, random, cmaes,
nsgaii, grid; motpe refused), `params` with `interval(...)`, `tag(log, interval(...))`,
`choice(...)`, `range(...)`), which pins optuna < 3 and whose SQLite storage fails with
SQLAlchemy 2. Trials run through whatever launcher is configured, `n_jobs` at a time.

Each trial returns the value of the top-level `objective` (posenc.config.objective; a list for
several, a Pareto front): checked before the first trial against what the space's runs
record, and its direction against `direction`. A job that failed or has no value for its
objective (unsupported at a length) is a failed trial, with the reason; the study goes on.

The study lives in SQLite under the sweep folder unless `storage` says otherwise, with
`load_if_exists`: running the same command again resumes it (trials left running by Ctrl-C
are marked failed) until it holds `n_trials` trials.
"""

import logging
import math
import os
from dataclasses import field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.posenc_sweepers import samplers
from hydra_plugins.posenc_sweepers.caching import (
    ValidatesOnce,
    compose_once,
    tables_on_interrupt,
)
from hydra_plugins.posenc_sweepers.samplers import distribution
from posenc.config import objective
from posenc.errors import ConfigError
from posenc.metrics import HEADLINE

log = logging.getLogger("posenc")


DIRECTIONS = ("minimize", "maximize")
STORAGE_SCHEMES = ("sqlite", "postgresql", "mysql")  # Optuna's RDB storage (SQLAlchemy)


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


class OptunaSweeper(ValidatesOnce, Sweeper):
    def __init__(
        self,
        sampler: Any = None,  # the hydra/sweeper/sampler option (tpe), as Hydra built it
        direction: Any = None,  # null: each objective's own (posenc.metrics.better)
        storage: Optional[str] = None,  # noqa: UP045 null: sqlite:///<sweep dir>/optuna.db
        study_name: Optional[str] = None,  # noqa: UP045 null: "posenc"
        n_trials: int = 20,  # trials the study holds when the search ends (a rerun resumes)
        n_jobs: int = 2,  # trials launched together (a launcher batch)
        max_failure_rate: float = 1.0,  # stop once more than this share of trials failed
        params: Optional[DictConfig] = None,  # noqa: UP045
        custom_search_space: Optional[str] = None,  # noqa: UP045 module.function(cfg, trial)
    ):
        self.sampler = sampler
        self.direction = (
            OmegaConf.to_container(direction) if OmegaConf.is_config(direction) else direction
        )
        self.storage, self.study_name = storage, study_name
        self.n_trials, self.n_jobs = n_trials, max(1, n_jobs)
        self.max_failure_rate = max_failure_rate
        self.params = OmegaConf.to_container(params) if params else {}
        self.custom_search_space = custom_search_space

    def check(self) -> None:
        """The sweeper's own keys, said in one line before any trial."""
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise ConfigError("hydra.sweeper.n_trials", f"{self.n_trials} must be at least 1")
        given = self.direction if isinstance(self.direction, list) else [self.direction]
        for direction in given:
            if direction is not None and direction not in DIRECTIONS:
                raise ConfigError(
                    "hydra.sweeper.direction",
                    f"{direction!r} is not valid; choose one of: {', '.join(DIRECTIONS)} "
                    "(or null: each objective's own)",
                )
        if not 0 <= self.max_failure_rate <= 1:
            raise ConfigError(
                "hydra.sweeper.max_failure_rate", f"{self.max_failure_rate} must be in [0, 1]"
            )

    def directions(self, names: list[str]) -> list[str]:
        """One Optuna direction per objective: each metric's own, or the given ones, which
        must agree with it (a loss minimised, a score maximised)."""
        wanted = objective.directions(names)
        if self.direction is None:
            return wanted
        given = self.direction if isinstance(self.direction, list) else [self.direction]
        if len(given) != len(names):
            raise ConfigError(
                "hydra.sweeper.direction",
                f"{len(given)} direction(s) {given} for {len(names)} objective(s) {names}: give "
                "one per objective, in order, or null to take each from its metric",
            )
        for name, have, want in zip(names, given, wanted, strict=True):
            if have != want:
                better = "higher" if want == "maximize" else "lower"
                raise ConfigError(
                    "hydra.sweeper.direction",
                    f"{have} {name}? {better} {name} is better: set {want} (or null: each "
                    "objective's own direction)",
                )
        return wanted

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

    def _space(self, arguments: list[str]) -> tuple[dict[str, Any], list[str]]:
        """The search space (key -> distribution) and the fixed overrides: the preset's
        params, with the command line winning for a key both give."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        given = parser.parse_overrides(list(arguments))
        on_command_line = {o.get_key_element() for o in given}
        configured = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()])
        overrides = [o for o in configured if o.get_key_element() not in on_command_line] + given
        space = {o.get_key_element(): distribution(o) for o in overrides if o.is_sweep_override()}
        fixed = [o.input_line for o in overrides if not o.is_sweep_override()]
        return space, fixed

    def _check_objective(self, space: dict[str, Any], fixed: list[str]) -> list[str]:
        """The objective's names, refused in one line unless every choice in the space
        records them (composed, nothing built): one config per choice of each categorical
        key, the other keys at their first value."""
        import optuna.distributions as d

        from posenc.config.compose import composition_error

        first = {
            k: (v.choices[0] if isinstance(v, d.CategoricalDistribution) else v.low)
            for k, v in space.items()
        }
        probes = [("this search", first)]
        for key, dist in space.items():
            if isinstance(dist, d.CategoricalDistribution):
                probes += [(f"runs of {key}={c}", {**first, key: c}) for c in dist.choices[1:]]
        loader = self.hydra_context.config_loader
        loader = getattr(loader, "_loader", loader)  # probes are not jobs: nothing to keep
        names: list[str] | None = None
        for where, point in probes:
            overrides = fixed + [f"{k}={v}" for k, v in point.items()]
            try:
                cfg = loader.load_sweep_config(self.config, overrides)
            except Exception as e:
                if (error := composition_error(e, overrides)) is None:
                    raise
                raise error from None
            names = objective.names(cfg.get("objective", HEADLINE))
            objective.check(cfg, where=where)
        return names or [HEADLINE]

    def _custom(self) -> Any:
        if not self.custom_search_space:
            return None
        from hydra.utils import get_method

        try:
            return get_method(str(self.custom_search_space))
        except Exception as e:
            raise ConfigError(
                "hydra.sweeper.custom_search_space",
                f"{self.custom_search_space!r} cannot be imported ({' '.join(str(e).split())}): "
                "give module.function, importable from the working folder",
            ) from None

    def _sweep(self, arguments: list[str]) -> None:
        from optuna.trial import TrialState

        space, fixed = self._space(arguments)
        names = self._check_objective(space, fixed)
        directions = self.directions(names)
        custom = self._custom()
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        storage = self.storage or f"sqlite:///{sweep_dir.resolve()}/optuna.db"
        check_storage(storage)
        sampler, n_trials = self._sampler(space, custom)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        study = self._study(storage, sampler, names, directions)
        for stale in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            study.tell(stale.number, state=TrialState.FAIL)  # cut short by Ctrl-C
        log.info(
            "study %r in %s: %s %s with %s, %d trials so far",
            *(study.study_name, storage, ", ".join(directions), ", ".join(names)),
            *(type(sampler).__name__, len(study.trials)),
        )
        done = len(study.trials)
        while done < n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, n_trials - done))]
            batch = [fixed + self._suggest(trial, custom) for trial in trials]
            self.validate_batch_is_legal(batch)
            results = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            for trial, overrides, result in zip(trials, batch, results, strict=True):
                self._tell(study, trial, overrides, result, names)
            done += len(trials)
            failed = sum(t.state == TrialState.FAIL for t in study.trials)
            if failed / max(done, 1) > self.max_failure_rate:
                log.error("%d of %d trials failed: stopping the study", failed, done)
                break
        write_results(study, names, directions, sweep_dir)

    def _sampler(self, space: dict[str, Any], custom: Any) -> tuple[Any, int]:
        """The sampler Hydra built (TPE unless hydra/sweeper/sampler says otherwise), and the
        trials to run: a grid's size when that is fewer than n_trials."""
        if self.sampler is None:  # the sweeper built without its defaults (the API)
            from optuna.samplers import TPESampler

            return TPESampler(), self.n_trials
        if not samplers.is_grid(self.sampler):
            samplers.check_installed(self.sampler)
            return self.sampler, self.n_trials
        if custom is not None:
            raise ConfigError(
                "hydra.sweeper.custom_search_space",
                "a grid search samples only the grid of its params; choose another sampler",
            )
        if not space:
            raise ConfigError("hydra.sweeper.params", "a grid search needs params to sweep")
        grid = samplers.grid(space)
        size = samplers.grid_size(grid)
        if size < self.n_trials:
            log.info("grid of %d points: n_trials %d becomes %d", size, self.n_trials, size)
        return self.sampler(search_space=grid), min(self.n_trials, size)

    def _study(self, storage: str, sampler: Any, names: list[str], directions: list[str]):
        """The study in `storage`, created or resumed; one that optimises something else
        is refused (a resumed study keeps its own objective and directions)."""
        import optuna

        name = self.study_name or "posenc"
        try:
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                sampler=sampler,
                directions=directions,
                load_if_exists=True,
            )
        except Exception as e:  # a store that cannot be opened: one line, nothing ran
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ConfigError("hydra.sweeper.storage", f"{storage}: {first}") from None
        had = study.user_attrs.get("objective", [HEADLINE] if study.trials else names)
        had_directions = [d.name.lower() for d in study.directions]
        if list(had) != names or had_directions != directions:
            raise ConfigError(
                "objective",
                f"the study {name!r} in {storage} optimises {', '.join(had)} "
                f"({', '.join(had_directions)}), not {', '.join(names)}: give the search its "
                "own hydra.sweep.dir (or hydra.sweeper.study_name)",
            )
        study.set_user_attr("objective", names)
        return study

    def _suggest(self, trial: Any, custom: Any) -> list[str]:
        """The trial's overrides: its sampled params, then those the custom search space
        adds, called as the official plugin calls it, with the sweep's config and the trial."""
        if custom is not None:
            sampled = set(trial.params)
            try:
                custom(self.config, trial)
            except ConfigError:
                raise
            except Exception as e:
                raise ConfigError(
                    "hydra.sweeper.custom_search_space",
                    f"{self.custom_search_space} raised {type(e).__name__}: {e}",
                ) from e
            log.debug("custom search space added %s", sorted(set(trial.params) - sampled))
        return [f"{k}={v}" for k, v in trial.params.items()]

    @staticmethod
    def _tell(study: Any, trial: Any, overrides: list[str], result: Any, names: list[str]):
        """Tell Optuna the job's value(s); a job with none is a failed trial, with the
        reason (read from its run folder) in the log and in the trial's attributes."""
        from optuna.trial import TrialState

        trial.set_user_attr("overrides", overrides)
        hydra_cfg = getattr(result, "hydra_cfg", None)  # a launcher may not send it back
        run_dir = (
            OmegaConf.select(hydra_cfg, "hydra.runtime.output_dir", default=None)
            if OmegaConf.is_config(hydra_cfg)
            else None
        )
        if run_dir:
            trial.set_user_attr("run", str(run_dir))
        values = _values(result, len(names))
        try:
            if values is not None:
                study.tell(trial, values)
                return
            reason = failure(result, run_dir, names)
            trial.set_user_attr("failed_because", reason)
            log.warning("trial %d failed (%s): %s", trial.number, " ".join(overrides), reason)
            study.tell(trial, state=TrialState.FAIL)
        except RuntimeError as e:  # GridSampler stops the study on its last point
            if "Study.stop" not in str(e):
                raise


def _values(result: Any, n: int) -> Optional[list[float]]:  # noqa: UP045
    """The job's return value as n finite numbers; None (a failed trial) otherwise."""
    try:
        value = result.return_value
    except Exception:  # the job raised: a bad trial, not the end of the study
        return None
    value = list(value) if isinstance(value, list | tuple) else [value]
    if len(value) != n:
        return None
    ok = all(isinstance(v, int | float) and math.isfinite(v) for v in value)
    return [float(v) for v in value] if ok else None


def failure(result: Any, run_dir: Optional[str], names: list[str]) -> str:  # noqa: UP045
    """Why a trial has no value: the objective's reason from the run folder."""
    try:
        _ = result.return_value
    except Exception as e:
        return f"the job raised {type(e).__name__}: {e}"
    if not run_dir:
        return "the job returned no value"
    from posenc.store import run_folder as rf

    _, reason = objective.outcome(rf.read_metrics(Path(run_dir)), names, Path(run_dir))
    return reason or "the job returned no value"


def write_results(study: Any, names: list[str], directions: list[str], sweep_dir: Path) -> None:
    """optimization_results.yaml: the objective and directions, and the best trial (one
    objective) or every trial of the Pareto front (several), with its params, overrides,
    values and run folder; and, for several objectives, pareto_front.png."""
    from optuna.trial import TrialState

    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if not complete:
        log.warning("no trial completed: no optimization_results.yaml")
        return
    head: dict[str, Any] = {"name": "optuna"}
    if len(names) == 1:
        best = study.best_trial
        log.info("best trial %d: %s %s, params %s", best.number, names[0], best.value, best.params)
        results = {
            **head,
            "objective": names[0],
            "direction": directions[0],
            "best_trial": best.number,
            "best_params": best.params,
            "best_value": best.value,
            "best_overrides": best.user_attrs.get("overrides"),
            "best_run": best.user_attrs.get("run"),
        }
    else:
        front = study.best_trials
        sign = -1 if directions[0] == "maximize" else 1  # best first, by the first objective
        log.info("Pareto front: %d of %d completed trials", len(front), len(complete))
        results = {
            **head,
            "objective": names,
            "direction": directions,
            "solutions": [
                {
                    "trial": t.number,
                    "params": t.params,
                    "values": t.values,
                    "overrides": t.user_attrs.get("overrides"),
                    "run": t.user_attrs.get("run"),
                }
                for t in sorted(front, key=lambda t: sign * t.values[0])
            ],
        }
        from posenc.analysis.plots import plot_pareto_front

        on_front = {t.number for t in front}
        points = [(t.values, _label(t), t.number in on_front) for t in complete]
        plot_pareto_front(sweep_dir / "pareto_front.png", points, names, directions)
    OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")


def _label(trial: Any) -> str:
    """A trial as its sampled values: `rope`, `rope, 0.003`."""
    return ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in trial.params.values())


def _conf_from_signature() -> type:
    """The sweeper's config schema, one field per constructor keyword with the signature's
    default (written once, there), typed as posenc.config.schemas types every option. The
    sampler is an option of the hydra/sweeper/sampler group (conf/hydra/sweeper/sampler),
    tpe unless chosen."""
    import dataclasses

    from omegaconf import MISSING

    from posenc.config.schemas import fields_of

    fields: list[tuple[str, Any, Any]] = [
        ("_target_", str, field(default=f"{__name__}.OptunaSweeper")),
        ("defaults", list[Any], field(default_factory=lambda: [{"sampler": "tpe"}])),
        ("sampler", Any, MISSING),
        *fields_of(OptunaSweeper, skip={"sampler"}),
    ]
    return dataclasses.make_dataclass("OptunaSweeperConf", fields)


OptunaSweeperConf = _conf_from_signature()
ConfigStore.instance().store(
    group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="posenc"
)
