"""`python -m posenc.plot SWEEP_DIR [--by KEY,KEY] [--metric NAME]`: the sweep's figures."""

import sys

from posenc.cli import plot_cli as cli

if __name__ == "__main__":
    sys.exit(cli())
