"""Export run folders to an experiment tracker (the library of `python -m posenc.export`).

Run folders stay the single source of truth; MLflow is a view of them. Each run folder
becomes one MLflow run (matched by the tag `posenc.run_dir`, so exporting again updates
instead of duplicating): params from the composed config, `train_loss` / `val_loss` per epoch
(per step, with `train_accuracy` / `val_accuracy`, for a token task) as step metrics, the
final metrics, the status as a tag, and the folder's files as artifacts.
One process writes the store, after the jobs, so parallel jobs never write SQLite at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from posenc.errors import ConfigError
from posenc.progress import progress
from posenc.store import GROUPS, TRACKING_TIMEOUT, TRACKING_URI
from posenc.store import run_folder as rf
from posenc.store.history import read_history

log = logging.getLogger("posenc")

DEFAULT_URI = TRACKING_URI
RUN_TAG, FINGERPRINT_TAG, STATUS_TAG = "posenc.run_dir", "posenc.fingerprint", "posenc.store.status"
KIND_TAG = "mlflow.experimentKind"  # values in MLflow 3.x's UI: custom_model_development, …
MLFLOW_STATUS = {"completed": "FINISHED", "diverged": "FINISHED", "failed": "FAILED"}
EXTRA = "posenc[mlflow]"
UI = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default


def require_mlflow():
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # offline: nothing to send
    try:
        import mlflow
    except ImportError:
        raise ConfigError(
            "tracking", f"MLflow is not installed; pip install '{EXTRA}' installs it"
        ) from None
    return mlflow


SCHEMES = ("sqlite:///", "file:///", "http://", "https://")  # what posenc's export writes to
HTTP_RETRIES = 2  # MLflow's own default retries for minutes against a server that is down


@contextlib.contextmanager
def bounded(timeout: float) -> Iterator[None]:
    """MLflow's HTTP requests limited to `timeout` seconds and a few retries, unless the user
    set MLflow's variables (MLFLOW_HTTP_REQUEST_TIMEOUT, MLFLOW_HTTP_REQUEST_MAX_RETRIES)."""
    values = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(timeout))),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(HTTP_RETRIES),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    }
    added = [k for k in values if k not in os.environ]
    os.environ.update({k: values[k] for k in added})
    # MLflow logs each database error with its ~40-line traceback; posenc says it in one line
    noisy = logging.getLogger("mlflow.store.db.utils")
    level = noisy.level
    noisy.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        noisy.setLevel(level)
        for k in added:
            os.environ.pop(k, None)


def forget_deleted_store(tracking_uri: str) -> None:
    """A SQLite store whose file was deleted while this process used it: MLflow keeps its
    store and engine (private caches: the registry's lru_cache, SqlAlchemyStore._engine_map)
    bound to the deleted file, so every write says "readonly database". Dropped, so the next
    client makes the store anew."""
    if not tracking_uri.startswith("sqlite:///"):
        return
    if Path(tracking_uri.removeprefix("sqlite:///")).exists():
        return
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from mlflow.tracking._tracking_service.registry import TrackingStoreRegistry

        TrackingStoreRegistry._get_store_with_resolved_uri.cache_clear()
        engine = SqlAlchemyStore._engine_map.pop(tracking_uri, None)
    except (ImportError, AttributeError):  # another MLflow: nothing cached that we know of
        return
    if engine is not None:
        engine.dispose()


def can_make_in(folder: Path) -> bool:
    """Whether a folder can really be made in `folder`: tried, not asked of os.access, which
    says yes to root for /proc and read-only mounts."""
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(prefix=".posenc-probe-", dir=folder))
    except OSError:
        return False
    return True


def check_store(tracking_uri: str, timeout: float = TRACKING_TIMEOUT) -> None:
    """The tracking store, checked once before anything is exported (or trained): a URI of
    a scheme posenc exports to, without credentials; a SQLite or file store in a folder that
    can be written; a server that answers within `timeout` seconds. ConfigError naming
    tracking_uri otherwise, in one line."""
    from posenc.errors import check_tracking_uri

    check_tracking_uri(tracking_uri)
    uri = str(tracking_uri)
    if not uri.startswith(SCHEMES):
        raise ConfigError(
            "tracking_uri", f"{uri!r}: posenc exports to {', '.join(s + '…' for s in SCHEMES)}"
        )
    if uri.startswith(("sqlite:///", "file:///")):
        path = Path(uri.partition(":///")[2]) if uri.startswith("sqlite") else Path(uri[7:])
        folder = path.parent if uri.startswith("sqlite") else path
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is None or not existing.is_dir() or not can_make_in(existing):
            raise ConfigError("tracking_uri", f"{folder} cannot be created or written")
        if uri.startswith("sqlite") and path.exists():
            if not path.is_file() or not os.access(path, os.R_OK | os.W_OK):
                raise ConfigError("tracking_uri", f"{path} cannot be read and written")
            with open(path, "rb") as f:
                header = f.read(16)
            if header and header != b"SQLite format 3\x00":
                raise ConfigError("tracking_uri", f"{path} is not a SQLite database")
        return
    require_mlflow()
    from mlflow.tracking import MlflowClient

    quiet = logging.getLogger("urllib3.connectionpool")  # its retry warnings: said once below
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    with bounded(timeout):
        try:
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        except Exception as e:
            text = str(e).lower()
            reason = next(
                (w for w in ("connection refused", "timed out", "name or service") if w in text),
                (str(e).strip().splitlines() or [type(e).__name__])[0][:200],
            )
            raise ConfigError(
                "tracking_uri",
                f"{uri} did not answer within {timeout:g}s ({reason}); start the server, or "
                "raise tracking_timeout (--timeout)",
            ) from None
        finally:
            quiet.setLevel(level)


class StoreBusy(TimeoutError):
    """Another process held the store's lock for longer than tracking_timeout."""


@contextlib.contextmanager
def store_lock(tracking_uri: str, timeout: float | None = None) -> Iterator[None]:
    """One process at a time sets up a new SQLite store (MLflow's schema migrations are not
    safe to run twice at once): a lock file beside it, held while the client first opens it.
    Waits at most `timeout` seconds (None: as long as it takes), then raises StoreBusy. The
    lock file is never followed through a link (posenc.store.files)."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    from posenc.store import files

    db = Path(tracking_uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    path = db.with_name(db.name + ".lock")
    fd = files.open_plain(path, os.O_RDWR | os.O_CREAT)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise StoreBusy(
                        f"{path} was held by another process for over {timeout:g}s "
                        "(tracking_timeout)"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def export_quietly(
    paths: Iterable[Path | str], tracking_uri: str, timeout: float = TRACKING_TIMEOUT
) -> None:
    """The automatic export at the end of a run or sweep: a failure costs a warning."""
    try:
        counts = export_mlflow(paths, tracking_uri, timeout=timeout)
        log.info("exported to MLflow (%s): %s", tracking_uri, counts)
    except Exception as e:
        log.warning(
            "could not export to MLflow (%s): %s: %s", tracking_uri, type(e).__name__, reason(e)
        )


class LiveRun:
    """A run's curves in the tracking store while it trains: an MLflow run made when
    training starts (tagged with the run folder, as the export finds it), a round's values
    logged when the round ends. The export at the end replaces it with the whole run. A store
    that fails costs one warning and no further tries; the run never waits on it for longer
    than `timeout` a call."""

    def __init__(self, run_dir: Path, tracking_uri: str, timeout: float = TRACKING_TIMEOUT):
        self.timeout, self.client, self.run_id = timeout, None, None
        self.tracking_uri = tracking_uri
        try:
            require_mlflow()
            from mlflow.tracking import MlflowClient

            with bounded(timeout), store_lock(tracking_uri, timeout):
                client = MlflowClient(tracking_uri=tracking_uri)
                name = experiment_name(Path(run_dir))
                found = client.get_experiment_by_name(name)
                experiment_id = (
                    found.experiment_id
                    if found is not None
                    else client.create_experiment(
                        name, artifact_location=_artifact_root(tracking_uri)
                    )
                )
                _end_stale_live_runs(client, experiment_id, run_dir)
                tags = {RUN_TAG: str(run_dir), STATUS_TAG: "running"}
                tags["mlflow.runName"] = f"{Path(run_dir).name} (live)"
                self.run_id = client.create_run(experiment_id, tags=tags).info.run_id
            self.client = client
        except Exception as e:
            self._failed(e)

    def end(self, status: str) -> None:
        """Training over (`status`: the run's, interrupted included): the live run is ended
        with MLflow's status for it, never left RUNNING; the export replaces it later."""
        if self.client is None:
            return
        try:
            with bounded(self.timeout):
                self.client.set_tag(self.run_id, STATUS_TAG, status)
                self.client.set_terminated(self.run_id, MLFLOW_STATUS.get(status, "KILLED"))
        except Exception as e:
            self._failed(e)
        self.client = None

    def log(self, record: Any, columns: Sequence[str]) -> None:
        """The round's values (`columns`: the history's, x first, seconds last) at its step."""
        if self.client is None:
            return
        from mlflow.entities import Metric

        now, x = int(time.time() * 1000), int(getattr(record, columns[0]))
        values = [(c, float(getattr(record, c))) for c in columns[1:-1]]
        batch = [Metric(c, v, now, x) for c, v in values if math.isfinite(v)]
        try:
            with bounded(self.timeout):
                self.client.log_batch(self.run_id, metrics=batch)
        except Exception as e:
            self._failed(e)

    def _failed(self, error: Exception) -> None:
        self.client = None
        log.warning(
            "tracking: the curves are not logged live to %s (%s: %s); the run goes on and "
            "is exported when it ends",
            self.tracking_uri,
            type(error).__name__,
            reason(error),
        )


def reason(error: Exception) -> str:
    """An MLflow error in a few words: the database's own words where SQLAlchemy wrapped
    them ("attempt to write a readonly database"), else the first line."""
    import re

    text = str(error)
    found = re.search(r"\((?:sqlite3|sqlalchemy)\.\w+\) ([^\n]+)", text)
    return (found.group(1) if found else (text.splitlines() or [""])[0])[:200]


def _end_stale_live_runs(client, experiment_id: str, run_dir: Path) -> None:
    """A live run of this folder left by an earlier process (Ctrl-C, then the same command
    again): removed, as the new live run and the export replace it."""
    value = str(run_dir)
    if "'" in value:  # MLflow's filter strings have no escape for a quote
        return
    for old in client.search_runs(
        [experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{value}'", max_results=1000
    ):
        if FINGERPRINT_TAG not in old.data.tags:  # a live run, never a finished export
            client.delete_run(old.info.run_id)


def live_run(cfg: Any, run_dir: Path) -> LiveRun | None:
    """With tracking=mlflow in the config, the run's curves logged while it trains."""
    if cfg is None or cfg.get("tracking") != "mlflow":
        return None
    return LiveRun(run_dir, cfg.tracking_uri, cfg.tracking_timeout)


def metric_name(key: str) -> str:
    """test_loss@40 -> test_loss_at_40: MLflow's names take no '@'."""
    return key.replace("@", "_at_")


def fingerprint(run_dir: Path) -> str:
    """Changes whenever the content of the run folder's contract files changes (never on a
    mere touch: a resumed sweep that reuses a run leaves its export unchanged)."""
    h = hashlib.sha256()
    for name in (rf.RUN, rf.METRICS, rf.HISTORY, rf.LENGTH_EVAL):
        path = run_dir / name
        if path.is_file():
            h.update(f"{name}:".encode())
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()[:16]


def _millis(stamp: Any) -> int | None:
    """metrics.json's UTC ISO time as MLflow's milliseconds since the epoch (None: absent,
    and MLflow uses the export's time)."""
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(str(stamp)).timestamp() * 1000) if stamp else None
    except ValueError:
        return None


def experiment_name(run_dir: Path) -> str:
    """One experiment per sweep folder (the run's parent), named by its path."""
    parent = run_dir.parent.resolve()
    try:
        return str(parent.relative_to(Path.cwd()))
    except ValueError:
        return str(parent)


def _artifact_root(tracking_uri: str) -> str | None:
    """Artifacts next to a SQLite store (outputs/mlartifacts), not in the working folder."""
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        return (db.parent / "mlartifacts").resolve().as_uri()
    return None


def export_mlflow(
    paths: Iterable[Path | str],
    tracking_uri: str = DEFAULT_URI,
    experiment: str | None = None,
    timeout: float = TRACKING_TIMEOUT,
    on_experiment=None,
) -> dict[str, int]:
    """Export every run folder below the paths; returns counts of created, updated, unchanged.
    The store is checked first (check_store), HTTP requests are bounded by `timeout`, and a
    run is marked exported (its fingerprint) only once all of it is logged, so an export cut
    short is repaired by the next one. `on_experiment(name, id, run_dirs)` is told each
    experiment written to."""
    require_mlflow()
    check_store(tracking_uri, timeout)
    forget_deleted_store(tracking_uri)
    with bounded(timeout):
        return _export_all(paths, tracking_uri, experiment, on_experiment, timeout)


def runs_table_url(experiment_id: str, runs: Iterable[Path], base: str = UI) -> str:
    """The experiment's training runs table in MLflow's UI, sorted by the headline metric
    of its runs (posenc.metrics.headline: the score of token tasks, else the final
    validation loss), best first."""
    from urllib.parse import quote

    from posenc.metrics import HIGHER, better, headline

    names: set[str] = set()
    for run in runs:
        names.update(rf.read_metrics(run))
    metric = headline(names)
    ascending = "false" if better(metric) == HIGHER else "true"
    key = quote(f"metrics.`{metric_name(metric)}`")
    return f"{base}/#/experiments/{experiment_id}/runs?orderByKey={key}&orderByAsc={ascending}"


def _export_all(
    paths, tracking_uri: str, experiment: str | None, on_experiment=None, timeout=None
) -> dict[str, int]:
    from mlflow.tracking import MlflowClient

    try:  # making the client creates a new store's tables
        with store_lock(tracking_uri, timeout):
            client = MlflowClient(tracking_uri=tracking_uri)
            client.search_experiments(max_results=1)
    except StoreBusy as e:
        raise ConfigError("tracking_uri", f"{e}; export again once it is free") from None
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    runs = rf.find_runs(paths)
    by_experiment: dict[str, list[Path]] = {}
    for run in runs:
        by_experiment.setdefault(experiment or experiment_name(run), []).append(run)
    bar = progress(total=len(runs), unit="run", desc="export")
    try:  # closed however the export ends: a heartbeat never outlives it
        for name, members in by_experiment.items():
            found = client.get_experiment_by_name(name)
            if found is None:
                experiment_id = client.create_experiment(
                    name, artifact_location=_artifact_root(tracking_uri)
                )
            else:
                experiment_id = found.experiment_id
            # MLflow 3's kind of experiment: model training (its UI still opens on GenAI first,
            # so the export command prints a link to the runs table, runs_table_url)
            client.set_experiment_tag(experiment_id, KIND_TAG, "custom_model_development")
            if on_experiment is not None:
                on_experiment(name, experiment_id, members)
            shared = set.intersection(*(set(r.name.split(",")) for r in members))
            existing: dict[str, list] = {}  # a folder's runs: its export, a stale live one
            for r in client.search_runs([experiment_id], max_results=50_000):
                existing.setdefault(r.data.tags.get(RUN_TAG), []).append(r)
            for run_dir in members:
                stamp = fingerprint(run_dir)
                old = existing.get(str(run_dir), [])
                same = [r for r in old if r.data.tags.get(FINGERPRINT_TAG) == stamp][:1]
                for r in old:  # one MLflow run per folder, never two
                    if r not in same:
                        client.delete_run(r.info.run_id)
                if same:
                    counts["unchanged"] += 1
                    bar.update(1)
                    continue
                _export_run(client, experiment_id, run_dir, stamp, shared)
                counts["updated" if old else "created"] += 1
                bar.update(1)
    finally:
        bar.close()
    return counts


def run_name(run_dir: Path, metrics: dict, shared: set[str] = frozenset()) -> str:
    """What the runs table shows first, short enough for its column: the keys that vary in
    the experiment (the job folder's `key=value` items that not every run shares; a
    group's option by its value alone), then the headline metric's value:
    `rope seed=0 · final_val_loss 1.43`. A run folder not named by its overrides is named
    `encoding/model folder`."""
    from posenc.metrics import headline

    items = [i for i in run_dir.name.split(",") if i not in shared and "=" in i]
    if items:
        groups = set(GROUPS)
        key = lambda i: i.partition("=")[0].lstrip("+~")  # noqa: E731
        name = " ".join(i.partition("=")[2] if key(i) in groups else i for i in items)
    else:
        name = f"{metrics.get('encoding')}/{metrics.get('model')} {run_dir.name}"
    metric = headline(metrics)
    value = metrics.get(metric)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        name += f" · {metric} {value:.4g}"
    return name


def _log_dataset(client, run_id: str, record: dict) -> None:
    """The run's dataset as an MLflow dataset input (the runs table's Dataset column): named
    by its option, its digest the hash of its composed keys, its source those keys."""
    import json

    from mlflow.entities import Dataset, DatasetInput, InputTag

    keys = record.get("config", {}).get("dataset") or {}
    name = record.get("choices", {}).get("dataset") or str(keys.get("_target_", "dataset"))
    source = json.dumps(keys, sort_keys=True, default=str)
    digest = hashlib.sha256(source.encode()).hexdigest()[:8]
    dataset = Dataset(name=str(name), digest=digest, source_type="posenc", source=source)
    client.log_inputs(
        run_id, datasets=[DatasetInput(dataset, [InputTag("mlflow.data.context", "training")])]
    )


def artifact_files(run_dir: Path) -> list[tuple[Path, str | None]]:
    """The regular files inside the run folder, with the artifact folder each goes to. A
    symbolic link is never followed: it could point anywhere on the machine."""
    out = []
    for root, dirs, files in os.walk(run_dir):  # os.walk does not descend into linked folders
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        relative = os.path.relpath(root, run_dir)
        for name in sorted(files):
            path = Path(root, name)
            if path.is_file() and not path.is_symlink():
                out.append((path, None if relative == "." else relative))
    return sorted(out)


def _export_run(
    client, experiment_id: str, run_dir: Path, stamp: str, shared: set[str] = frozenset()
) -> None:
    from mlflow.entities import Metric, Param

    metrics = rf.read_metrics(run_dir)
    try:
        record = rf.read_record(run_dir)
    except rf.RunFolderError:
        record = {"config": {}, "choices": {}}
    status = metrics.get("status", "incomplete")
    tags = {  # the fingerprint comes last, once everything is logged
        RUN_TAG: str(run_dir),
        STATUS_TAG: status,
        "mlflow.runName": run_name(run_dir, metrics, shared),
    }
    if metrics.get("error"):
        tags["posenc.error"] = str(metrics["error"])[:5000]
    started, ended = (_millis(metrics.get(k)) for k in ("started_at", "ended_at"))
    run = client.create_run(experiment_id, start_time=started, tags=tags)
    run_id = run.info.run_id
    params = {k: v for k, v in flatten(record["config"]).items() if not k.endswith("_target_")}
    params.update({g: record["choices"].get(g) for g in GROUPS if g in record["choices"]})
    if record["choices"].get("experiment"):
        params["experiment"] = record["choices"]["experiment"]
    now = int(time.time() * 1000)
    values: list = []
    try:
        rows = read_history(run_dir).rows()
    except rf.RunFolderError:
        rows = []
    for row in rows:  # per epoch, or per step for a token task (with accuracy)
        x, *curves = (c for c in row if c != "seconds")
        for column in curves:
            if math.isfinite(row[column]):
                values.append(Metric(column, row[column], now, int(row[x])))
    for key, value in metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            values.append(Metric(metric_name(key), float(value), now, 0))
    param_list = [Param(k, str(v)[:6000]) for k, v in params.items()]
    _log_dataset(client, run_id, record)
    for i in range(0, max(len(values), len(param_list)), 100):  # MLflow's batch limits
        client.log_batch(run_id, metrics=values[i : i + 100], params=param_list[i : i + 100])
    for path, folder in artifact_files(run_dir):
        client.log_artifact(run_id, str(path), folder)
    client.set_terminated(run_id, MLFLOW_STATUS.get(status, "KILLED"), end_time=ended)
    client.set_tag(run_id, FINGERPRINT_TAG, stamp)  # exported whole: later exports skip it
