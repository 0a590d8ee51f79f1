"""`python -m posenc.train`: the command lives in posenc.cli.train."""

if __name__ == "__main__":
    from posenc.cli.train import main

    main()
