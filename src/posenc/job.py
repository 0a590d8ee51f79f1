"""One job: config -> data -> model -> fit -> run folder. Used by the CLI and the Python API."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from posenc import artifacts
from posenc.config import ConfigError, build, check_config
from posenc.data import Splits
from posenc.models import build_model
from posenc.training import COMPLETED, FAILED, INTERRUPTED, EpochRecord, evaluate, fit

log = logging.getLogger("posenc")

_DEFAULT_THREADS = torch.get_num_threads()  # restored per job: one process may run many
GROUPS = ("dataset", "encoding", "model", "optimizer")
SMALL_TABLE = 256  # tables with at most this many numbers are printed in the log


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("trainer.device", f"{name!r} asked for, but no CUDA device is visible")
    return torch.device(name)


def seeds(seed: int) -> tuple[int, int, int]:
    """Independent streams for initialisation, data and batch order, all from one seed."""
    init, data, order = np.random.SeedSequence(seed).generate_state(3, dtype=np.uint64)
    return int(init), int(data), int(order)


def _fmt(t: torch.Tensor) -> str:
    return np.array2string(t.detach().cpu().numpy(), precision=4, suppress_small=True)


def run_job(
    cfg: DictConfig, run_dir: Path, choices: Mapping[str, Any], plots: bool | None = None
) -> dict[str, Any]:
    """Train one configuration and write its run folder. Returns the metrics written.

    Raises ConfigError for user mistakes (after writing metrics.json with status failed) and
    re-raises unexpected errors likewise; a diverged or interrupted run returns normally.
    `plots` None follows cfg.plots (null counts as on).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    draw_plots = plots if plots is not None else cfg.get("plots") is not False
    metrics: dict[str, Any] = {
        "status": FAILED,
        **{g: choices.get(g) for g in GROUPS},
        "seed": cfg.seed,
    }
    if choices.get("experiment"):
        metrics["experiment"] = choices["experiment"]
    history_writer = None
    try:
        check_config(cfg)
        device = resolve_device(cfg.trainer.device)
        torch.set_num_threads(cfg.trainer.num_threads or _DEFAULT_THREADS)
        init_seed, data_seed, order_seed = seeds(cfg.seed)

        splits = build(cfg.dataset, generator=torch.Generator().manual_seed(data_seed))
        if not isinstance(splits, Splits):
            raise ConfigError("dataset._target_", "must return posenc.data.Splits")
        spec = splits.spec
        torch.manual_seed(init_seed)
        model = build_model(cfg.model, cfg.encoding, spec).to(device)
        splits = splits.to(device)
        trainable = [p for p in model.parameters() if p.requires_grad]
        if not trainable:
            raise ConfigError(
                "model.freeze_head", "nothing left to train: every parameter is frozen"
            )
        optimizer = build(cfg.optimizer)(trainable)
        n_params = sum(p.numel() for p in model.parameters())
        metrics.update(n_params=n_params, n_trainable=sum(p.numel() for p in trainable))
        metrics["device"] = str(device)

        initial = model.encoding.table()
        initial = None if initial is None else initial.detach().clone()
        artifacts.save_table(run_dir / artifacts.ENCODING_INITIAL, initial)
        log.info(
            "data: train %d, val %d, test %d sequences of %d x %d (%s targets) | model: %d "
            "parameters (%d trained) on %s",
            len(splits.train),
            len(splits.val),
            len(splits.test),
            spec.seq_len,
            spec.feature_dim,
            "per-step" if spec.per_step else "per-sequence",
            n_params,
            metrics["n_trainable"],
            device,
        )

        history_writer = artifacts.HistoryWriter(run_dir / artifacts.HISTORY)
        epochs, every = cfg.trainer.epochs, cfg.trainer.log_every

        def on_epoch(r: EpochRecord) -> None:
            history_writer.write(r)
            if r.epoch % every == 0 or r.epoch in (1, epochs):
                log.info(
                    "epoch %d/%d  train_loss %.6f  val_loss %.6f  (%.2fs)",
                    r.epoch,
                    epochs,
                    r.train_loss,
                    r.val_loss,
                    r.seconds,
                )

        started = time.perf_counter()
        history = fit(
            model,
            splits,
            optimizer,
            epochs=epochs,
            batch_size=cfg.trainer.batch_size,
            generator=torch.Generator().manual_seed(order_seed),
            shuffle=cfg.trainer.shuffle,
            on_epoch=on_epoch,
        )
        metrics["train_seconds"] = time.perf_counter() - started
        history_writer.close()

        final = model.encoding.table()
        artifacts.save_table(run_dir / artifacts.ENCODING_FINAL, final)
        last = history.records[-1] if history.records else None
        metrics.update(
            status=history.status,
            epochs_completed=len(history.records),
            final_train_loss=last.train_loss if last else None,
            final_val_loss=last.val_loss if last else None,
            best_val_loss=history.best_val_loss,
            test_loss=evaluate(model, splits.test) if history.status == COMPLETED else None,
        )
        _log_outcome(model, splits, initial, final, metrics)
        if draw_plots:
            _plot(run_dir, metrics)
    except ConfigError as e:
        metrics["error"] = str(e)
        raise
    except KeyboardInterrupt:
        metrics.update(status=INTERRUPTED, error="interrupted by the user")
        raise
    except Exception as e:
        metrics["error"] = f"{type(e).__name__}: {e}"
        # Hydra 1.3 does not put a failed job's traceback in its log: do it here.
        log.error("job failed:\n%s", traceback.format_exc())
        raise
    finally:
        if history_writer is not None:
            history_writer.close()
        artifacts.write_metrics(run_dir, metrics)
    return metrics


def _plot(run_dir: Path, metrics: dict[str, Any]) -> None:
    """Per-run figures; a figure that fails to draw costs a warning, not the run."""
    try:
        from posenc.plots import plot_run  # matplotlib only when plots are on

        names = [metrics[k] for k in GROUPS if metrics.get(k)]
        plot_run(run_dir, title=" / ".join(names) + f"  (seed {metrics['seed']})")
    except Exception as e:
        log.warning("could not draw the run's plots: %s: %s", type(e).__name__, e)


def _log_outcome(model, splits, initial, final, metrics) -> None:
    status = metrics["status"]
    if status != COMPLETED:
        log.warning("run %s after %d epochs", status, metrics["epochs_completed"])
    else:
        log.info(
            "done: final train %.6f, val %.6f, test %.6f, best val %.6f in %.1fs",
            metrics["final_train_loss"],
            metrics["final_val_loss"],
            metrics["test_loss"],
            metrics["best_val_loss"],
            metrics["train_seconds"],
        )
    if len(splits.train) == 1:  # one reference sequence: show it against the fit
        with torch.no_grad():
            model.eval()
            prediction = model(splits.train.x)
        log.info("targets:     %s", _fmt(splits.train.y[0]))
        log.info("predictions: %s", _fmt(prediction[0]))
    if initial is not None and final is not None and final.requires_grad:
        change = (final.detach().cpu() - initial.cpu()).norm().item()
        log.info("encoding table %s changed by %.6f (Frobenius norm)", list(final.shape), change)
        if change > 0 and final.numel() <= SMALL_TABLE:
            log.info("encoding before:\n%s", _fmt(initial))
            log.info("encoding after:\n%s", _fmt(final))
