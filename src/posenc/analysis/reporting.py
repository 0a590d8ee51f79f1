"""report.html: one self-contained page a sweep can be sent as (figures inlined, no network):
what ran (command, versions, commit, machine, device), the summary with its intervals, the
comparison against a baseline and the ranks when compare wrote them, every figure, the runs
that did not complete with their errors, and a link to each run folder."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

import pandas as pd

import posenc.metrics as known
from posenc.analysis.comparison import group_keys
from posenc.store import run_folder as rf
from posenc.store.status import Status

REPORT = "report.html"
FIGURE_ORDER = (
    "scores.png",
    "accuracy_by_length.png",
    "length_generalization.png",
    "summary.png",
    "comparison.png",
    "loss_curves.png",
)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.key, th.key { text-align: left; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0 1.5em; }
code { background: #f5f5f5; padding: 0 0.25em; } .bad { color: #a00; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _href(run: str) -> str:
    """A link to a run folder: always a relative path (./, each character that could end it
    or start a scheme percent-encoded), never `javascript:` or another scheme."""
    from urllib.parse import quote

    return _e("./" + quote(str(run).strip("/"), safe="/=,") + "/")


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return _e(value)


def _table(frame: pd.DataFrame, keys: list[str]) -> str:
    head = "".join(f'<th class="{"key" if c in keys else ""}">{_e(c)}</th>' for c in frame)
    body = []
    for _, row in frame.iterrows():
        cells = "".join(
            f'<td class="key">{_e(row[c])}</td>' if c in keys else f"<td>{_number(row[c])}</td>"
            for c in frame.columns
        )
        body.append(f"<tr>{cells}</tr>")
    table = f"<table><tr>{head}</tr>{''.join(body)}</table>"
    return f'<div style="overflow-x: auto">{table}</div>'


def _summary_view(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    keys = group_keys(summary)
    names = [c.removesuffix("_mean") for c in summary.columns if c.endswith("_mean")]
    shown = [metric] + [m for m in names if m != metric and known.split_length(m) is None][:5]
    view = summary[keys + ["n", "n_completed"]].copy()
    for m in shown:
        view[f"{m} mean"] = summary[f"{m}_mean"]
        view[f"{m} 95% CI"] = [
            "–" if pd.isna(lo) else f"[{lo:.4g}, {hi:.4g}]"
            for lo, hi in zip(summary[f"{m}_ci_low"], summary[f"{m}_ci_high"], strict=True)
        ]
    return view


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<h3>{_e(path.name)}</h3><img alt="{_e(path.name)}" src="data:image/png;base64,{data}">'


def _what_ran(out: Path, results: pd.DataFrame) -> str:
    import yaml

    lines = []
    config = out / "multirun.yaml"
    if config.is_file():
        try:
            hydra = yaml.safe_load(config.read_text())["hydra"]
            task = " ".join(hydra["overrides"]["task"])
            lines.append(f"<p>Command: <code>python -m posenc.train -m {_e(task)}</code></p>")
        except Exception:  # an unreadable record only loses this line
            pass
    environment: dict = {}
    for run in results["run"]:
        try:
            environment = rf.read_record(out / run).get("environment") or {}
        except rf.RunFolderError:
            continue
        if environment:
            break
    if environment:
        items = "".join(f"<li>{_e(k)}: <code>{_e(v)}</code></li>" for k, v in environment.items())
        lines.append(f"<p>Environment of the runs (from run.yaml):</p><ul>{items}</ul>")
    counts = results["status"].value_counts().to_dict()
    lines.append(
        "<p>Runs: "
        + ", ".join(f"{_e(n)} {_e(s)}" for s, n in counts.items())
        + f" ({len(results)} in all).</p>"
    )
    return "".join(lines)


def write_report(out: Path, results: pd.DataFrame, summary: pd.DataFrame, metric: str) -> Path:
    """report.html in `out` (a sweep folder; run paths in `results` relative to it)."""
    out = Path(out)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>posenc: {_e(out.name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>posenc sweep {_e(out.name)}</h1>",
        _what_ran(out, results),
        f"<h2>Summary, best first by {_e(metric)} ({_e(known.better(metric))} is better)</h2>",
        "<p>Mean over completed runs and its 95% interval of the mean (Student-t unless the "
        "compare command said otherwise; – with one run).</p>",
        _table(_summary_view(summary, metric), group_keys(summary)),
    ]
    for name, title in (("comparison.csv", "Against the baseline"), ("ranks.csv", "Ranks")):
        path = out / name
        if path.is_file():
            frame = pd.read_csv(path)
            if "baseline" in frame and len(frame):  # named once, in the heading
                title = f"{title} {frame['baseline'].iloc[0]}"
                frame = frame.drop(columns="baseline")
            keys = [c for c in frame.columns if frame[c].dtype == object]
            parts += [f"<h2>{_e(title)} ({_e(name)})</h2>", _table(frame, keys)]
    figures = sorted(
        out.glob("*.png"),
        key=lambda p: (
            p.name not in FIGURE_ORDER,
            FIGURE_ORDER.index(p.name) if p.name in FIGURE_ORDER else 0,
            p.name,
        ),
    )
    if figures:
        parts.append("<h2>Figures</h2>")
        parts += [_figure(p) for p in figures]
    bad = results[results["status"] != Status.COMPLETED.value]
    parts.append("<h2>Runs that did not complete</h2>")
    if bad.empty:
        parts.append("<p>None: every run completed.</p>")
    else:
        items = "".join(
            f'<li class="bad"><a href="{_href(r["run"])}">{_e(r["run"])}</a>: {_e(r["status"])}'
            f"{': ' + _e(r['error']) if isinstance(r.get('error'), str) else ''}</li>"
            for _, r in bad.iterrows()
        )
        parts.append(f"<ul>{items}</ul>")
    links = "".join(
        f'<li><a href="{_href(r["run"])}">{_e(r["run"])}</a> ({_e(r["status"])})</li>'
        for _, r in results.iterrows()
    )
    parts += ["<h2>Run folders</h2>", f"<ul>{links}</ul>", "</body></html>"]
    path = out / REPORT
    from posenc.store.files import write_text  # a link at report.html is replaced, not followed

    write_text(path, "\n".join(parts))
    return path
