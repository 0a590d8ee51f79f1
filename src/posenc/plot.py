"""`python -m posenc.plot`: the command lives in posenc.cli.plot."""

if __name__ == "__main__":
    from posenc.cli.plot import main

    raise SystemExit(main())
