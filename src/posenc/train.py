"""The entrypoint: `python -m posenc.train [overrides]` runs one job, `-m` a sweep.

Exit codes: 0 done (a diverged run is a result), 1 a job crashed or a sweep had a job that
did not complete, 2 a configuration mistake (nothing trained), 130 Ctrl-C.
"""

import sys

EXIT_FAILED, EXIT_CONFIG_ERROR, EXIT_INTERRUPTED = 1, 2, 130


def cli() -> None:
    try:
        from posenc import app  # torch and Hydra: Ctrl-C while they load still exits quietly

        app.main()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit as e:
        from posenc import callbacks

        if e.code == EXIT_FAILED and not (app.jobs_started or callbacks.sweeps_ended):
            sys.exit(EXIT_CONFIG_ERROR)  # Hydra refused the overrides: nothing ran
        raise


if __name__ == "__main__":
    cli()
