"""Shared helpers: compose configs through Hydra's API, run jobs in-process or via the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import DictConfig

from posenc.config.compose import compose_config, compose_job

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _work_in_a_temporary_folder(tmp_path, monkeypatch):
    """Every test runs in its own temporary folder: outputs/ (runs, mlflow.db) lands there,
    never in the repository."""
    monkeypatch.chdir(tmp_path)


def _outputs() -> set[str]:
    folder = REPO / "outputs"
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.is_dir() else set()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    """The slow tests are one xdist group: one worker runs them one after another, as each
    starts processes of its own that use the machine's cores."""
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.xdist_group("slow"))


def pytest_sessionstart(session):
    session.config._posenc_outputs = _outputs()


def pytest_sessionfinish(session, exitstatus):
    """The suite leaves the repository's outputs/ as it found it (a test that writes there
    fails the session)."""
    written = sorted(_outputs() - session.config._posenc_outputs)
    if written:
        print(f"\nthe tests wrote into {REPO / 'outputs'}: {', '.join(written[:10])}")
        session.exitstatus = 1


def compose_cfg(overrides: list[str] | None = None) -> DictConfig:
    return compose_config(list(overrides or []))


def run_inprocess(tmp_path: Path, overrides: list[str]) -> dict:
    from posenc.jobs.job import run_job
    from posenc.jobs.source import read_source

    overrides = ["plots=false", *overrides]
    cfg, choices = compose_job(overrides)
    return run_job(cfg, tmp_path, choices, overrides=overrides, source=read_source(cfg))


def run_cli(
    args: list[str], cwd: Path, timeout: float = 300, **kwargs
) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run(
        [sys.executable, "-m", "posenc.train", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )


def wait_for_history(root: Path, rows: int = 3, timeout: float = 120) -> Path:
    """The first history.csv below root once it holds `rows` lines (header included)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = list(root.rglob("history.csv"))
        if found and len(found[0].read_text().splitlines()) >= rows:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("training never started")


def run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("metrics.json"))


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture
def tiny() -> list[str]:
    """Overrides for a job that trains in a fraction of a second."""
    return [
        "dataset.n_samples=64",
        "dataset.seq_len=6",
        "dataset.feature_dim=3",
        "trainer.epochs=2",
        "trainer.batch_size=16",
        "plots=false",
    ]


def pytest_runtest_logreport(report):
    """A failing test is named the moment it fails (with xdist too, where pytest's own list
    comes only at the end): a run stopped early, or cut by a CI limit, still says which."""
    if report.failed and (report.when == "call" or report.outcome == "failed"):
        reporter = _reporter.get("terminal")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(f"FAILED (as it happened) {report.nodeid} [{report.when}]")


_reporter: dict = {}


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    _reporter["terminal"] = config.pluginmanager.getplugin("terminalreporter")
