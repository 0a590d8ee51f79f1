"""`python -m posenc.train [overrides]` runs one job, `-m` a sweep.

Exit codes (posenc.jobs.exits): 0 done (a diverged run is a result), 1 a job crashed or a sweep
had a job that did not complete, 2 a configuration mistake (nothing trained), 130 Ctrl-C,
143 SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

# Light (no torch, no Hydra), and imported before anything a Ctrl-C could cut short.
from posenc.errors import ConfigError
from posenc.jobs.exits import JobEnded, SweepIncomplete, SweepRefused, exit_code
from posenc.jobs.signals import deferred, handle_sigterm


@contextlib.contextmanager
def hydra_raises() -> Iterator[None]:
    """Hydra prints any error and exits 1, a configuration mistake and a crash alike. In this
    process only, let its errors reach posenc's exit policy as the exceptions they are (the
    environment variable HYDRA_FULL_ERROR=1 would do the same, but every launched worker
    would inherit it)."""
    from hydra._internal import utils

    original = utils.run_and_report
    utils.run_and_report = lambda func: func()
    try:
        yield
    finally:
        utils.run_and_report = original


def understood(error: BaseException) -> BaseException:
    """Hydra's composition errors, and Hydra failing to make the run's folder, as the
    ConfigError they are (unless the user asked for Hydra's own tracebacks)."""
    if not isinstance(error, Exception) or os.environ.get("HYDRA_FULL_ERROR") == "1":
        return error  # Ctrl-C may have cut an import short: import nothing for it
    from posenc.config.compose import composition_error

    if (config_error := composition_error(error, sys.argv[1:])) is not None:
        return config_error
    if isinstance(error, OSError) and error.filename:  # Hydra making the run's folder
        return ConfigError(
            "hydra.run.dir", f"cannot create the folder {error.filename}: {error.strerror}"
        )
    cause = error.__cause__
    if isinstance(error, ValueError) and isinstance(cause, OSError) and cause.filename:
        # Hydra opening the job's log (logging.config wraps the OSError)
        return ConfigError("hydra.run.dir", f"cannot write {cause.filename}: {cause.strerror}")
    return error


def say(error: BaseException) -> str | None:
    """The one line a user reads for `error`; None when it was already said (in the log) or
    needs none. Unknown errors get their traceback."""
    if isinstance(error, JobEnded):
        return error.message
    if isinstance(error, SweepIncomplete | KeyboardInterrupt):
        return None
    if isinstance(error, ConfigError | SweepRefused):
        return str(error)
    return "".join(traceback.format_exception(error)).rstrip()


HELP = ("--help", "-h")


def help_text(overrides: list[str]) -> str:
    """`--help`: the header, every config group of conf/ with its options, the config these
    overrides compose, the footer. Hydra's own help lists the groups by copying its whole
    config store once per group (130 groups: seconds); conf/ lists them directly."""
    import yaml
    from omegaconf import OmegaConf

    from posenc.config.compose import compose_config, config_dir

    conf = Path(config_dir())
    text = yaml.safe_load((conf / "config.yaml").read_text(encoding="utf-8"))["hydra"]["help"]
    groups = []
    for folder in sorted(p for p in conf.iterdir() if p.is_dir() and p.name != "hydra"):
        options = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        appended = "+" if folder.name in APPENDED else ""
        groups.append(f"{appended}{folder.name}: {options}")
    config = OmegaConf.to_yaml(compose_config(overrides))
    return (
        f"{text['header']}\n== Configuration groups ==\n"
        + "\n".join(groups)
        + f"\n\n== Config ==\n{config}\n{text['footer']}"
    )


APPENDED = ("experiment", "debug")  # groups chosen with +group=option


def main() -> None:
    handle_sigterm()
    error: BaseException | None = None
    args = sys.argv[1:]
    if any(a in HELP for a in args) and "--hydra-help" not in args:
        try:
            print(help_text([a for a in args if a not in HELP and a not in ("-m", "--multirun")]))
        except Exception as e:
            error = understood(e)
            print(say(error), file=sys.stderr)
        sys.exit(exit_code(error))
    try:
        with deferred():  # torch and Hydra load whole; a Ctrl-C meanwhile exits 130 after
            from posenc.cli import app
        with hydra_raises():
            app.main()
    except SystemExit as e:  # --help, argparse: their own codes
        if e.code not in (None, 0):
            raise
    except BaseException as e:  # every outcome goes through the one policy
        error = understood(e)
    if error is not None and (line := say(error)) is not None:
        print(line, file=sys.stderr)
    sys.exit(exit_code(error))


if __name__ == "__main__":
    main()
