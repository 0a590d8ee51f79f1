"""`python -m posenc.compare`: the command lives in posenc.cli.compare (the tables it prints
are computed by posenc.analysis.comparison)."""

if __name__ == "__main__":
    from posenc.cli.compare import main

    raise SystemExit(main())
