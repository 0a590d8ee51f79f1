"""`python -m posenc.export mlflow PATH ...`: the command lives in posenc.cli.export (the
export itself in posenc.store.tracking)."""

if __name__ == "__main__":
    from posenc.cli.export import main

    raise SystemExit(main())
