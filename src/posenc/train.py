"""The entrypoint: `python -m posenc.train [overrides]` runs one job, `-m` a sweep.

Exit codes: 0 done (a diverged run is a result), 1 a job crashed or a sweep had a job that
did not complete, 2 a configuration mistake (nothing trained), 130 Ctrl-C, 143 SIGTERM.
"""

import sys

EXIT_FAILED, EXIT_CONFIG_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 1, 2, 130, 143


def _interrupted() -> None:
    """Ctrl-C or SIGTERM: a sweep under way still writes the tables of its finished jobs."""
    from posenc import callbacks
    from posenc.errors import Terminated

    callbacks.sweep_interrupted()
    sys.exit(EXIT_TERMINATED if Terminated.received else EXIT_INTERRUPTED)


def cli() -> None:
    import os

    from posenc.errors import handle_sigterm

    handle_sigterm()
    user_full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its errors; posenc says them in one line
    try:
        from posenc import app  # torch and Hydra: Ctrl-C while they load still exits quietly

        app.main()
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit as e:
        from posenc import callbacks

        if e.code == EXIT_INTERRUPTED:
            _interrupted()
        if e.code == EXIT_FAILED and not (app.jobs_started or callbacks.sweeps_ended):
            sys.exit(EXIT_CONFIG_ERROR)  # refused before any job ran
        raise
    except Exception as e:
        from posenc.compose import composition_error

        error = composition_error(e) if not user_full_error else None
        if error is None and isinstance(e, OSError) and e.filename and not app.jobs_started:
            multirun = bool({"-m", "--multirun"} & set(sys.argv))
            key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
            error = f"{key}: cannot create the folder {e.filename}: {e.strerror}"
        if error is None:
            raise
        print(error, file=sys.stderr)
        sys.exit(EXIT_CONFIG_ERROR)


if __name__ == "__main__":
    cli()
