"""`python -m posenc.sample`: the command lives in posenc.cli.sample (the text is drawn by
posenc.jobs.sampling)."""

if __name__ == "__main__":
    from posenc.cli.sample import main

    raise SystemExit(main())
