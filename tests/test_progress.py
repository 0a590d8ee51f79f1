"""Never silent in a log: where there is no terminal, long work says what it is doing, how
far it has got and the time left, at a bounded interval."""

from __future__ import annotations

import logging
import time

import pytest

from posenc import progress as p


def test_the_heartbeats_line_names_the_phase_how_far_and_the_time_left(monkeypatch):
    clock = iter([100.0, 160.0])  # started at 100, asked at 160: 60 s for 5 of 20 steps
    monkeypatch.setattr(p.time, "monotonic", lambda: next(clock))
    beat = p.Heartbeat(total=20, unit="step", desc="training", every=0)
    beat.update(5)
    beat.set_postfix(val_loss="0.41")
    assert (
        beat.line() == "training: 5/20 steps (25%), val_loss 0.41; 1m00s so far, about 3m00s left"
    )


def test_a_phase_without_steps_says_how_long_it_has_run(monkeypatch):
    clock = iter([0.0, 95.0])
    monkeypatch.setattr(p.time, "monotonic", lambda: next(clock))
    assert p.Heartbeat(desc="test set", every=0).line() == "test set: 1m35s so far"


def test_without_a_terminal_the_heartbeat_logs_until_the_work_ends(monkeypatch, caplog):
    monkeypatch.setattr(p, "on_terminal", lambda: False)
    monkeypatch.setenv("POSENC_HEARTBEAT", "0.05")
    with caplog.at_level(logging.INFO, logger="posenc"):
        bar = p.progress(total=3, unit="length", desc="evaluating")
        assert isinstance(bar, p.Heartbeat)
        with bar:
            bar.update(1)
            deadline = time.monotonic() + 30  # a guard against a hang, not a speed
            while not any("evaluating: 1/3 lengths" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "no heartbeat line"
                time.sleep(0.02)
        said = len(caplog.records)
        time.sleep(0.2)
    assert len(caplog.records) == said  # closed: no line after the work ends


@pytest.mark.parametrize("value, seconds", [("0", 0.0), ("12.5", 12.5), ("soon", 30.0)])
def test_the_interval_is_posenc_heartbeat_seconds(monkeypatch, value, seconds):
    monkeypatch.setenv("POSENC_HEARTBEAT", value)
    assert p.heartbeat_seconds() == seconds


def test_a_heartbeat_travels_to_a_launchers_workers_without_its_timer(caplog):
    import pickle

    beat = p.Heartbeat(total=4, unit="job", desc="sweep", every=0.05)
    try:
        copy = pickle.loads(pickle.dumps(beat))  # as joblib, submitit and Ray send callbacks
    finally:
        beat.close()
    assert copy._thread is None and copy.every == 0 and copy.line().startswith("sweep: 0/4 jobs")
