"""posenc: a config-driven experiment runner for positional encodings."""

__version__ = "0.1.0"
