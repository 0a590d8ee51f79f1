"""report.html (issue 20, last section): one self-contained page, checked as a person sees
it, in a real headless browser (Debian's chromium driven by playwright): every image loads,
no console errors; the screenshot is kept where POSENC_TEST_ARTIFACTS says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from posenc.errors import ConfigError
from posenc.store import run_folder as rf

from .conftest import run_inprocess

pytestmark = pytest.mark.slow  # a small sweep, compare, report and a browser: ~20 s

# the screenshot: in the test's temporary folder unless POSENC_TEST_ARTIFACTS names one
ARTIFACTS = os.environ.get("POSENC_TEST_ARTIFACTS")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Two encodings × two seeds of a tiny job, one failed run, compared against a baseline."""
    root = tmp_path_factory.mktemp("sweep")
    tiny = ["dataset.n_samples=40", "trainer.epochs=2", "model=linear"]
    for encoding in ("none", "sinusoidal"):
        for seed in (0, 1):
            run = root / f"encoding={encoding},seed={seed}"
            run_inprocess(run, [*tiny, f"encoding={encoding}", f"seed={seed}"])
            record = rf.read_record(run)
            record["overrides"] = [f"encoding={encoding}", f"seed={seed}"]
            rf.write_record(
                run,
                record["overrides"],
                record["choices"],
                record["config"],
                record["environment"],
            )
    broken = root / "encoding=learnable,seed=0"
    with pytest.raises(ConfigError):
        run_inprocess(broken, [*tiny, "encoding=learnable", "encoding.max_len=2"])
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "posenc.compare",
            str(root),
            "--plots",
            "--baseline",
            "encoding=none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    report = subprocess.run(
        [sys.executable, "-m", "posenc.report", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    return root


COMPARED = "comparisons/baseline=encoding=none"  # where compare --baseline writes, report too


def test_the_report_is_one_self_contained_page(sweep):
    assert "Against the baseline" not in (sweep / "report.html").read_text()  # the sweep's own
    compared = sweep / COMPARED  # the comparison's report, refreshed by compare
    page = (compared / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']https?://""", page)  # nothing from the network
    figures = sorted(p.name for p in compared.glob("*.png"))
    assert {"comparison.png", "summary.png", "loss_curves.png"} <= set(figures)
    assert page.count("data:image/png;base64,") == len(figures)
    assert "Against the baseline encoding=none (comparison.csv)" in page and "95% CI" in page
    assert "encoding=learnable,seed=0" in page and "encoding.max_len" in page  # the failure
    for run in ("encoding=none,seed=0", "encoding=sinusoidal,seed=1"):
        assert f'href="./../../{run}/"' in page  # relative to the comparison's folder
    assert "torch" in page and "python" in page  # the environment of the runs
    # a key only the failed run sets (encoding.max_len) is missing for the others, and
    # missing matches missing: the baseline pairs are found
    import pandas as pd

    comparison = pd.read_csv(compared / "comparison.csv")
    assert comparison["n_pairs"].tolist() == [2]
    assert comparison["baseline"].tolist() == ["encoding=none"]  # the baseline, named


def test_the_report_in_a_real_browser(sweep):
    assert CHROMIUM, "the browser test needs Debian's chromium: apt-get install -y chromium"
    from playwright.sync_api import sync_playwright

    folder = Path(ARTIFACTS) if ARTIFACTS else sweep
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / "report_screenshot.png"
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 2000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((sweep / COMPARED / "report.html").as_uri())
        widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
        heading = page.inner_text("h1")
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert widths and all(w > 0 for w in widths)
    assert errors == [] and heading.startswith("posenc sweep")
    assert shot.stat().st_size > 10_000
