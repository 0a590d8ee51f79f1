"""Run folders exported to a real MLflow store (SQLite), read back with MlflowClient and
through the tracking server's REST API."""

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from posenc.errors import ConfigError
from posenc.store import run_folder as rf
from posenc.store.history import read_history
from posenc.store.tracking import export_mlflow

from .conftest import read_metrics, run_cli, run_dirs

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _mlflow():
    """Imported when a test runs, not when tests are collected (MLflow takes seconds)."""
    pytest.importorskip("mlflow", reason="the posenc[mlflow] extra is not installed")


def MlflowClient(*args, **kwargs):  # MLflow's own name, imported late
    from mlflow.tracking import MlflowClient as client

    return client(*args, **kwargs)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """4 jobs: learnable with max_len 6 at seq_len 6 (completes) and 8 (fails), two seeds."""
    root = tmp_path_factory.mktemp("export")
    result = run_cli(
        [
            "-m",
            "encoding=learnable",
            "encoding.max_len=6",
            "dataset.seq_len=6,8",
            "seed=0,1",
            "dataset.n_samples=64",
            "dataset.feature_dim=3",
            "trainer.epochs=3",
            "plots=true",
            "hydra.sweep.dir=S",
        ],
        cwd=root,
    )
    assert result.returncode == 1  # the seq_len=8 jobs fail
    return root


def runs_of(client):
    (experiment,) = [e for e in client.search_experiments() if e.name != "Default"]
    return experiment, client.search_runs([experiment.experiment_id])


def test_export_matches_the_run_folders_and_does_not_duplicate(sweep, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    counts = export_mlflow([sweep / "S"], uri)
    assert counts == {"created": 4, "updated": 0, "unchanged": 0}
    client = MlflowClient(tracking_uri=uri)
    experiment, runs = runs_of(client)
    assert experiment.name.endswith("S") and len(runs) == 4
    for run in runs:
        folder = sweep / "S" / run.data.tags["posenc.run_dir"].rsplit("/", 1)[-1]
        metrics = read_metrics(folder)
        assert run.data.tags["posenc.store.status"] == metrics["status"]
        assert run.data.params["encoding"] == "learnable"
        assert run.data.params["seed"] == str(metrics["seed"])
        assert run.data.params["dataset.seq_len"] in ("6", "8")
        if metrics["status"] == "failed":
            assert run.info.status == "FAILED" and "max_len" in run.data.tags["posenc.error"]
            continue
        assert run.info.status == "FINISHED"
        history = pd.read_csv(folder / "history.csv")
        for column in ("train_loss", "val_loss"):
            logged = client.get_metric_history(run.info.run_id, column)
            assert [(m.step, m.value) for m in logged] == list(
                zip(history["epoch"], history[column], strict=True)
            )
        for key in ("final_val_loss", "test_loss", "best_val_loss", "n_params"):
            assert run.data.metrics[key] == pytest.approx(metrics[key])
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"run.yaml", "metrics.json", "history.csv", "encoding_final.npy"} <= artifacts
        assert {"loss.png", "encoding.png"} <= artifacts
    again = export_mlflow([sweep / "S"], uri)
    assert again == {"created": 0, "updated": 0, "unchanged": 4}
    changed = run_dirs(sweep / "S")[0]
    metrics = read_metrics(changed)
    (changed / "metrics.json").write_text(json.dumps({**metrics, "note": 1}))
    assert export_mlflow([sweep / "S"], uri)["updated"] == 1
    assert len(runs_of(client)[1]) == 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot_the_runs_table(url: str, path: Path) -> str:
    """The page the export command's link opens, in Debian's headless chromium, as a user
    opens it; saved as a screenshot. Returns the page's text."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "the browser check needs Debian's chromium: apt-get install -y chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url, timeout=60_000)
        page.get_by_text("seed=0", exact=False).first.wait_for(timeout=90_000)
        page.screenshot(path=str(path))
        text = page.inner_text("body")
        browser.close()
    assert path.stat().st_size > 10_000
    return text


def test_the_tracking_server_serves_the_exported_runs(sweep, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    export_mlflow([sweep / "S"], uri)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except OSError:
                assert time.time() < deadline, "the MLflow server did not start"
                time.sleep(0.5)
        experiment, _ = runs_of(MlflowClient(tracking_uri=uri))
        body = json.dumps({"experiment_ids": [experiment.experiment_id]}).encode()
        request = urllib.request.Request(
            f"{base}/api/2.0/mlflow/runs/search",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        found = json.loads(urllib.request.urlopen(request, timeout=30).read())["runs"]
        assert len(found) == 4
        statuses = sorted(
            t["value"]
            for r in found
            for t in r["data"]["tags"]
            if t["key"] == "posenc.store.status"
        )
        assert statuses == ["completed", "completed", "failed", "failed"]
        for run in found:  # the run folder's own times, and its dataset as an input
            tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
            metrics = read_metrics(Path(tags["posenc.run_dir"]))
            for key, stamp in (("start_time", "started_at"), ("end_time", "ended_at")):
                expected = datetime.fromisoformat(metrics[stamp]).timestamp() * 1000
                assert int(run["info"][key]) == int(expected)
            (dataset,) = run["inputs"]["dataset_inputs"]
            assert dataset["dataset"]["name"] == metrics["dataset"] == "weighted_sum"
            assert dataset["tags"] == [{"key": "mlflow.data.context", "value": "training"}]
        url = f"{base}/api/2.0/mlflow/experiments/get?experiment_id={experiment.experiment_id}"
        got = json.loads(urllib.request.urlopen(url, timeout=30).read())["experiment"]
        kind = {t["key"]: t["value"] for t in got["tags"]}["mlflow.experimentKind"]
        assert kind == "custom_model_development"
        from posenc.store.tracking import runs_table_url

        runs = [Path(t["value"]) for r in found for t in r["data"]["tags"]
                if t["key"] == "posenc.run_dir"]  # fmt: skip
        url = runs_table_url(experiment.experiment_id, runs, base)
        assert "orderByKey=metrics.%60final_val_loss%60&orderByAsc=true" in url
        text = screenshot_the_runs_table(url, tmp_path / "mlflow_ui.png")
        assert "Training runs" in text and "Run Name" in text  # the runs table first
        assert "Sort: final_val_loss" in text  # by the headline metric, also in the names
        # the names: what varies in the sweep, then the headline metric's value
        assert "dataset.seq_len=6 seed=0 · final_val_loss " in text
        assert "weighted_sum (" in text  # the Dataset column names the dataset
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_tracking_mlflow_exports_a_sweep_at_its_end(tmp_path, tiny):
    uri = f"sqlite:///{tmp_path}/auto.db"
    result = run_cli(
        ["-m", *tiny, "seed=0,1", "tracking=mlflow", f"tracking_uri={uri}"], cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(runs_of(MlflowClient(tracking_uri=uri))[1]) == 2


def test_tracking_values_are_checked_before_training(tmp_path, tiny, monkeypatch):
    result = run_cli([*tiny, "tracking=wandb"], cwd=tmp_path)
    assert result.returncode == 2 and "tracking" in result.stdout
    import importlib.util

    from posenc.errors import check_tracking

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    with pytest.raises(ConfigError, match=r"posenc\[mlflow\]"):
        check_tracking("mlflow")


def test_the_export_command(sweep, tmp_path):
    uri = f"sqlite:///{tmp_path}/cli.db"
    args = [sys.executable, "-m", "posenc.export", "mlflow", "S", "--tracking-uri", uri]
    out = subprocess.run(args, cwd=sweep, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "4 runs" in out.stdout and "4 created" in out.stdout and "mlflow ui" in out.stdout
    empty = subprocess.run([*args[:4], str(tmp_path)], capture_output=True, text=True)
    assert empty.returncode == 1 and "no runs" in empty.stderr


def test_export_copies_only_the_run_folders_own_files(tmp_path, tiny):
    """A symbolic link inside a run folder (to a file or a folder elsewhere) is never followed:
    what lies outside the folder stays out of the artifact store."""
    from .conftest import run_inprocess

    run = tmp_path / "sweep" / "run"
    run_inprocess(run, tiny)
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("not for the tracker\n")
    (run / "link.txt").symlink_to(secret)
    (run / "linked_dir").symlink_to(secret.parent)
    (run / "notes").mkdir()
    (run / "notes" / "mine.md").write_text("kept\n")
    uri = f"sqlite:///{tmp_path}/m.db"
    export_mlflow([tmp_path / "sweep"], uri)
    client = MlflowClient(tracking_uri=uri)
    (exported,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    top = {a.path for a in client.list_artifacts(exported.info.run_id)}
    assert {"metrics.json", "history.csv", "run.yaml", "notes"} <= top
    assert not top & {"link.txt", "linked_dir"}
    inside = {a.path for a in client.list_artifacts(exported.info.run_id, "notes")}
    assert inside == {"notes/mine.md"}
    store = tmp_path / "mlartifacts"
    assert not [
        p
        for p in store.rglob("*")
        if p.is_file() and "not for the tracker" in p.read_text(errors="ignore")
    ]


def test_a_token_task_exports_accuracy_per_step_and_its_score(tmp_path):
    from .conftest import run_inprocess
    from .test_token_jobs import TINY

    run = tmp_path / "sweep" / "run"
    metrics = run_inprocess(run, TINY)
    uri = f"sqlite:///{tmp_path}/m.db"
    export_mlflow([tmp_path / "sweep"], uri)
    client = MlflowClient(tracking_uri=uri)
    (exported,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert exported.data.metrics["score"] == pytest.approx(metrics["score"])
    assert exported.data.metrics["accuracy_at_7"] == pytest.approx(metrics["accuracy@7"])
    curve = client.get_metric_history(exported.info.run_id, "val_accuracy")
    history = read_history(run).frame()
    assert [m.step for m in curve] == history["step"].tolist()
    assert [m.value for m in curve] == pytest.approx(history["val_accuracy"].tolist())


def test_exported_runs_carry_the_runs_own_times_and_a_touch_changes_nothing(tmp_path, tiny):
    """MLflow's start and end times are the run's (metrics.json, UTC), not the export's; a
    file touched without a change (a resumed sweep) leaves the next export `unchanged`."""
    import os
    from datetime import datetime

    from .conftest import run_inprocess

    run = tmp_path / "sweep" / "run"
    metrics = run_inprocess(run, tiny)
    started = datetime.fromisoformat(metrics["started_at"])
    ended = datetime.fromisoformat(metrics["ended_at"])
    assert started.tzinfo is not None and started <= ended
    uri = f"sqlite:///{tmp_path}/m.db"
    export_mlflow([tmp_path / "sweep"], uri)
    client = MlflowClient(tracking_uri=uri)
    (exported,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert exported.info.start_time == int(started.timestamp() * 1000)
    assert exported.info.end_time == int(ended.timestamp() * 1000)
    experiment = client.get_experiment(exported.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    for name in ("run.yaml", "metrics.json", "history.csv"):
        os.utime(run / name)  # touched, not changed
    again = export_mlflow([tmp_path / "sweep"], uri)
    assert again == {"created": 0, "updated": 0, "unchanged": 1}


def test_a_run_with_tracking_logs_its_curves_while_it_trains(tmp_path, tiny, caplog):
    import logging

    from mlflow.tracking import MlflowClient

    from posenc.store.tracking import RUN_TAG

    from .conftest import run_inprocess

    uri = f"sqlite:///{tmp_path / 'live.db'}"
    run = tmp_path / "run"
    # in-process: no export at the end, so what the store holds was logged live
    run_inprocess(run, [*tiny, "trainer.epochs=3", "tracking=mlflow", f"tracking_uri={uri}"])
    client = MlflowClient(tracking_uri=uri)
    (found,) = [
        r
        for e in client.search_experiments()
        for r in client.search_runs([e.experiment_id])
        if r.data.tags.get(RUN_TAG) == str(run)
    ]
    history = client.get_metric_history(found.info.run_id, "val_loss")
    expected = pd.read_csv(run / rf.HISTORY)
    assert [m.step for m in history] == expected["epoch"].tolist()
    assert [m.value for m in history] == pytest.approx(expected["val_loss"].tolist())
    # a store that is down costs one warning, never the run
    with caplog.at_level(logging.WARNING, logger="posenc"):
        metrics = run_inprocess(
            tmp_path / "down",
            [*tiny, "tracking=mlflow", "tracking_uri=http://127.0.0.1:9", "tracking_timeout=1"],
        )
    assert metrics["status"] == "completed"
    warned = [r.getMessage() for r in caplog.records if "not logged live" in r.getMessage()]
    assert len(warned) == 1
