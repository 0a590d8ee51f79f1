"""From command-line overrides to a typed config: Hydra's composition, shared by the CLI,
the notebook API and the tests, and `build`, Hydra's instantiate with posenc's errors."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from posenc.config.schemas import register_schemas
from posenc.errors import ConfigError


def config_dir() -> str:
    """conf/ inside an installed wheel, else the repository root's conf/ (source checkout)."""
    packaged = Path(str(files("posenc"))) / "conf"
    if (packaged / "config.yaml").is_file():
        return str(packaged)
    return str(Path(__file__).resolve().parents[3] / "conf")


def part_of(total: int | None, parts: int) -> int:
    """`total // parts`, at least 1: a preset's rounds and warmup as shares of its budget."""
    if total is None:
        raise ConfigError(
            "trainer.steps", "this preset's rounds are shares of its budget: give a number"
        )
    return max(1, int(total) // int(parts))


def register_resolvers() -> None:
    """`${posenc.stamp:}` (a new folder's time, cached per config as Hydra's own `now`),
    `${posenc.job_dir:N,OVERRIDES}` (a sweep job's folder),
    `${posenc.run_dir:STAMP}` (a single run's, from the overrides as typed) and
    `${posenc.not_the_experiment:}` (the keys left out of its name), used by
    conf/config.yaml."""
    from omegaconf import OmegaConf

    from posenc.store.claim import NOT_THE_EXPERIMENT
    from posenc.store.run_folder import timestamp
    from posenc.store.sweep_folder import job_dir_name, run_dir_name

    OmegaConf.register_new_resolver("posenc.stamp", timestamp, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("posenc.job_dir", job_dir_name, replace=True)

    def run_dir(stamp: str, *, _root_: DictConfig) -> str:
        # the overrides as typed, never resolved here: a value that cannot resolve is said
        # for its own key, not for the folder's name
        typed = OmegaConf.to_container(_root_.hydra.overrides.task, resolve=False)
        kept = [o for o in typed if o.split("=", 1)[0].lstrip("+~") not in NOT_THE_EXPERIMENT]
        return run_dir_name(stamp, ",".join(sorted(kept)))

    OmegaConf.register_new_resolver("posenc.run_dir", run_dir, replace=True)

    OmegaConf.register_new_resolver(
        "posenc.not_the_experiment", lambda: list(NOT_THE_EXPERIMENT), replace=True
    )
    # a preset's rounds and warmup as shares of its budget: a shortened preset still trains
    # and draws a curve (`${posenc.part_of:${trainer.steps},12}`: a twelfth, at least 1)
    OmegaConf.register_new_resolver("posenc.part_of", part_of, replace=True)
    OmegaConf.register_new_resolver(
        "posenc.times", lambda value, n: int(value) * int(n), replace=True
    )


def build(cfg: Any, key: str, **kwargs: Any) -> Any:
    """hydra.utils.instantiate of the config at `key`, with the error that really happened:
    a target that cannot be imported is a ConfigError naming `<key>._target_`; an error
    raised by the target itself comes out as it was raised (a ConfigError stays one).

    Only the option's own `_target_` is called (not recursively): its values are data, and a
    `_target_` nested in a value is refused, never instantiated."""
    nested = nested_target(cfg)
    if nested is not None:
        raise ConfigError(
            f"{key}.{nested}",
            "holds a _target_: values are plain data, and posenc instantiates only the "
            "option's own _target_",
        )
    try:
        return instantiate(cfg, _recursive_=False, **kwargs)
    except InstantiationException as e:
        cause = e.__cause__
        if str(e).startswith("Error locating target"):
            target = cfg.get("_target_") if hasattr(cfg, "get") else None
            raise ConfigError(
                f"{key}._target_", f"cannot import {target!r}; name an importable class or function"
            ) from None
        if cause is not None:
            raise cause from None
        raise ConfigError(f"{key}._target_", " ".join(str(e).split())) from None


def nested_target(cfg: Any) -> str | None:
    """The path of the first `_target_` below the top level of `cfg`, or None."""
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(cfg, resolve=False) if OmegaConf.is_config(cfg) else cfg

    def walk(node: Any, path: str) -> str | None:
        if isinstance(node, dict):
            items = [(str(k), v) for k, v in node.items()]
        elif isinstance(node, list):
            items = [(str(i), v) for i, v in enumerate(node)]
        else:
            return None
        for name, value in items:
            where = f"{path}.{name}" if path else name
            if path and name == "_target_":
                return where
            if (found := walk(value, where)) is not None:
                return found
        return None

    return walk(data, "")


# Hydra plugins posenc knows, and the extra that installs each.
PLUGIN_EXTRAS = {
    "hydra/launcher/joblib": "parallel",
    "hydra/launcher/submitit_local": "slurm",
    "hydra/launcher/submitit_slurm": "slurm",
    "hydra/launcher/slurm_cluster": "slurm",
    "hydra/launcher/ray": "ray",
}


def did_you_mean(key: str, siblings: Sequence[str], overrides: Sequence[str] = ()) -> str:
    """`; did you mean trainer.device?` for a key at the wrong depth (`device`, `d_model`,
    `lr`: a key one group down in the config the other overrides compose) or misspelt
    (`model.dmodel`, `maxlen`: a key close to it); nothing when no key is near."""
    import difflib

    parent, _, name = key.rpartition(".")
    candidates = {k: [k] for k in siblings}  # a name one might type -> the keys to give
    if not parent:
        try:  # the keys one group down, where a top-level name most often belongs
            others = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key]
            config = compose_config(others)
        except Exception:
            config = {}
        nested = [
            (k, f"{group}.{k}")
            for group, node in config.items()
            if isinstance(node, DictConfig)
            for k in node
            if not str(k).startswith("_")
        ]
        exact = [full for k, full in nested if k == name]
        if exact:
            return f"; did you mean {' or '.join(exact)}?"
        for k, full in nested:
            if k not in siblings:
                candidates.setdefault(k, []).append(full)
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    if not close:
        return ""
    prefix = f"{parent}." if parent else ""
    return f"; did you mean {' or '.join(prefix + k for k in sorted(candidates[close[0]]))}?"


def preset_mismatch(text: str, overrides: Sequence[str]) -> ConfigError | None:
    """A preset that sets a key the option chosen with it lacks (+experiment=chomsky
    model=lstm: the transformer's n_heads): one line naming the presets made for that
    option (+experiment=chomsky_lstm)."""
    import re

    found = re.search(
        r"In '(experiment/[\w-]+)'.*Key '(\w+)' not in '(\w+)Schema'.*full_key: ([\w.]+)",
        " ".join(text.split()),
    )
    if found is None:
        return None
    preset, _, schema, key = found.groups()
    group = key.split(".")[0]
    chosen = [o.partition("=")[2] for o in overrides if o.partition("=")[0].lstrip("+~") == group]
    option = chosen[-1] if chosen else None
    made = presets_for(group, option) if option else []
    made = [m for m in made if m.startswith(preset.replace("/", "="))] or made  # its sibling
    hint = f"; for {group}={option} use {', '.join(f'+{p}' for p in made)}" if made else ""
    return ConfigError(
        key, f"+{preset.replace('/', '=')} sets {key}, which {schema} does not have{hint}"
    )


def presets_for(group: str, option: str) -> list[str]:
    """The presets (conf/experiment) that choose `option` for `group`."""
    folder = Path(config_dir()) / "experiment"
    return [
        f"experiment={path.stem}"
        for path in sorted(folder.glob("*.yaml"))
        if f"override /{group}: {option}" in path.read_text(encoding="utf-8")
    ]


def _config_error_within(e: BaseException) -> ConfigError | None:
    """The ConfigError that OmegaConf wrapped (raised by a resolver), if any."""
    inner: BaseException | None = e
    while inner is not None and not isinstance(inner, ConfigError):
        inner = inner.__cause__ or inner.__context__
    return inner


def composition_error(e: Exception, overrides: list[str] = ()) -> ConfigError | None:
    """Hydra's and OmegaConf's composition errors as one ConfigError naming the key and what
    is valid; None for anything else. `overrides` name the key of a number too long to
    read."""
    if isinstance(e, ValueError) and "integer string conversion" in str(e):
        import re

        long = [o for o in overrides if re.search(r"\d{1000,}", str(o))]
        key = str(long[0]).partition("=")[0].lstrip("+~") if long else "overrides"
        return ConfigError(
            key, "a number too long to read (thousands of digits); give one that fits"
        )
    import dataclasses

    from hydra.errors import (
        ConfigCompositionException,
        InstantiationException,
        MissingConfigException,
        OverrideParseException,
    )
    from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

    if (inner := _config_error_within(e)) is not None:  # a resolver's or a plugin's own
        return inner
    if isinstance(e, InstantiationException):  # a plugin (sweeper, launcher) Hydra builds
        text = str(e)
        key = text.rpartition("full_key: ")[2].split()[0] if "full_key: " in text else "hydra"
        lines = text.split(", set env var HYDRA_FULL_ERROR")[0].splitlines()
        lines = [line.strip() for line in lines if line.strip() and "full_key:" not in line]
        cause = e.__cause__
        # the reason the target gave (Optuna's own words), not only where it failed
        reason = f"{type(cause).__name__}: {cause}" if cause is not None else " ".join(lines[1:])
        return ConfigError(key, " ".join(f"{lines[0]} {reason}".split()) if lines else reason)

    if isinstance(e, MissingConfigException) and e.missing_cfg_file:
        group, _, name = str(e.missing_cfg_file).rpartition("/")
        options = sorted(e.options or [])
        choices = f"; choose one of: {', '.join(options)}" if options else ""
        extra = PLUGIN_EXTRAS.get(f"{group}/{name}")
        hint = f" (pip install 'posenc[{extra}]' installs it)" if extra else ""
        return ConfigError(
            group.lstrip("+") or "config", f"{name!r} is not an option{hint}{choices}"
        )
    cause = e.__cause__ if isinstance(e, ConfigCompositionException) else e
    if isinstance(cause, OmegaConfBaseException):
        key = cause.full_key or "config"
        schema = cause.object_type
        if isinstance(cause, ConfigKeyError | AttributeError) and dataclasses.is_dataclass(schema):
            fields = dataclasses.fields(schema)
            names = [f.name for f in fields if not f.name.startswith("_")]
            hint = did_you_mean(key, names, overrides)
            return ConfigError(key, f"no such key{hint}; keys: {', '.join(names)}")
        return ConfigError(key, str(cause.msg or type(cause).__name__).splitlines()[0])
    if isinstance(e, OverrideParseException) and (found := unparsable(overrides)) is not None:
        return found
    if (found := preset_mismatch(str(e), overrides)) is not None:
        return found
    if isinstance(e, ConfigCompositionException | OverrideParseException):
        return ConfigError("overrides", " ".join(str(e).split()))
    return None


def unparsable(overrides: list[str]) -> ConfigError | None:
    """The first override Hydra's grammar cannot read, named with its key."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    for override in overrides:
        if str(override).startswith("-"):  # a flag of the command line (-m, --help)
            continue
        try:
            parser.parse_overrides([str(override)])
        except OverrideParseException as e:
            key, _, value = str(override).partition("=")
            key = key.lstrip("+~") or "overrides"
            why = " ".join(str(e).split()).split(" See https")[0]
            hint = ""
            if any(c in value for c in "=, ") and "'" not in value:  # a run folder's name
                hint = (
                    f"; a value holding '=', ',' or a space (a run folder's name) is quoted "
                    f"for Hydra, inside the shell's quotes: \"{key}='{value}'\""
                )
            return ConfigError(key, f"cannot read the override {override!r}: {why}{hint}")
    return None


def compose_job(overrides: list[str] | tuple[str, ...] = ()) -> tuple[DictConfig, dict[str, str]]:
    """The job config as the CLI composes it, and the option chosen in each group. A
    composition mistake (unknown option, key or preset, wrong type) raises ConfigError."""
    cfg, choices, _ = compose_run(overrides)
    return cfg, choices


def compose_run(
    overrides: list[str] | tuple[str, ...] = (),
) -> tuple[DictConfig, dict[str, str], str]:
    """compose_job, and the folder a single run of it writes to (hydra.run.dir)."""
    from hydra import compose, initialize_config_dir

    register_schemas(config_dir())
    register_resolvers()
    caught = None
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        try:
            cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
        except Exception as e:
            caught = e
    if caught is not None:  # read outside Hydra's context: the reading may compose again
        error = composition_error(caught, list(overrides))
        if error is None:
            raise caught
        raise error from None
    choices = dict(cfg.hydra.runtime.choices)
    body = cfg.copy()
    with open_dict(body):
        del body["hydra"]
    # said for its key, before the run's folder name (which spells the overrides) resolves it
    check_resolves(body)
    return body, choices, str(cfg.hydra.run.dir)


def check_resolves(cfg: DictConfig) -> None:
    """Every interpolation of the config resolves, into its key's type (an environment
    variable that is not set, say), and every key a preset requires (`required`) is given,
    not empty or null: ConfigError naming the key otherwise."""
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except Exception as e:
        error = composition_error(e)
        if error is None:
            raise
        raise error from None
    for key, what in (cfg.get("required") or {}).items():
        value = OmegaConf.select(cfg, key, default=None)
        if value is None or str(value).strip() == "":
            raise ConfigError(key, f"{what}: add {key}=... (empty and null are refused)")


def compose_config(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The CLI's config, composed through Hydra's API (for notebooks, tests, scripts)."""
    return compose_job(overrides)[0]
