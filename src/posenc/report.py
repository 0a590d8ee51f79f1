"""`python -m posenc.report`: the command lives in posenc.cli.report (the page is written by
posenc.analysis.reporting)."""

if __name__ == "__main__":
    from posenc.cli.report import main

    raise SystemExit(main())
