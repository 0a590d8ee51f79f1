"""A run's figures drawn by a child process (posenc.analysis.run_figures run as a program): it
imports matplotlib and loads its fonts on another core while the model trains, since that
start costs more than the drawing itself."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("posenc")


class FigureDrawer:
    """A run's figures, drawn by a child process that imports matplotlib and loads its fonts
    on another core while the model trains (that start costs more than the drawing); in this
    process when no child can be had. A figure that fails to draw costs a warning, recorded
    in `warnings`, never the run."""

    def __init__(self):
        try:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "posenc.analysis.run_figures"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        except OSError:
            self.child = None

    def draw(self, run_dir: Path, metrics: dict[str, Any]) -> None:
        try:
            if self.child is None:
                from posenc.analysis.run_figures import plot_run

                plot_run(run_dir, metrics)
                return
            request = {"run_dir": str(run_dir), "metrics": metrics}
            answer, _ = self.child.communicate(json.dumps(request) + "\n", timeout=300)
            error = json.loads(answer) if answer.strip() else "the drawing process died"
            if error != "ok":
                raise RuntimeError(error)
        except Exception as e:
            warning = f"could not draw the run's figures: {type(e).__name__}: {e}"
            log.warning("%s", warning)
            metrics.setdefault("warnings", []).append(warning)

    def close(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
            self.child.wait()
