"""The HTML report ``index.html``: one self-contained file (inline CSS, inline SVG plots, no network).

Jinja2 with autoescaping, so every text from a claim, a quote or an exception stays text.  It reads
the results dict (``reports/claims.json``) and nothing else; the template computes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from harness.citations import distance
from harness.report import worker
from harness.results import history
from harness.verdicts import COLOURS, LABELS


def highlight_segments(text: str, quotes: list[tuple[str, str]]) -> list[tuple[str, str | None]]:
    """Split ``text`` into (segment, anchor-or-None) so that each quote's first occurrence is marked.

    Quotes are matched with white space folded, as the catalogue test does.
    """
    spans = []
    for anchor, quote in quotes:
        words = quote.split()
        if not words:
            continue
        m = re.search(r"\s+".join(re.escape(w) for w in words), text)
        if m and not any(s < m.end() and m.start() < e for s, e, _ in spans):
            spans.append((m.start(), m.end(), anchor))
    spans.sort()
    out, pos = [], 0
    for s, e, anchor in spans:
        out += [(text[pos:s], None), (text[s:e], anchor)]
        pos = e
    out.append((text[pos:], None))
    return out


def _fmt(x, digits=4):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _case_effect(case: dict) -> float | None:
    js = (case.get("evidence") or {}).get("judgements") or []
    return js[0]["effect"] if js else None


def holds_map(claim: dict) -> dict | None:
    """Where a parametrised claim holds: setting -> verdict and first effect.

    Two varying parameters of one test give a grid (rows x columns); otherwise one row per case.  When
    several tests share a claim, a setting is named by its case (two tests may both have depth=8)."""
    cases = claim["cases"]
    if len(cases) < 2:
        return None
    keys = sorted({k for c in cases for k in c["params"]})
    varying = [k for k in keys if len({repr(c["params"].get(k)) for c in cases}) > 1]
    several_tests = len({c["test"] for c in cases}) > 1
    unique_cases = len({c["case"] for c in cases}) == len(cases) and all(c["case"] for c in cases)

    def key(c: dict) -> tuple:
        return ((c["test"], c["case"]) if several_tests else ()) + tuple(str(c["params"].get(k)) for k in varying)

    def label(c: dict) -> str:
        if several_tests:
            return c["case"] if unique_cases else f"{c['test']}[{c['case']}]" if c["case"] else c["test"]
        return ", ".join(f"{k}={c['params'].get(k)}" for k in varying) or (c["case"] or c["test"])

    cell = {key(c): {"verdict": c["verdict"], "effect": _case_effect(c), "expected": c["expected"], "case": c["case"]} for c in cases}
    unit = next((j["unit"] for c in cases for j in (c.get("evidence") or {}).get("judgements", [])), "")
    if len(varying) == 2 and not several_tests:
        rows = list(dict.fromkeys(str(c["params"].get(varying[0])) for c in cases))
        cols = list(dict.fromkeys(str(c["params"].get(varying[1])) for c in cases))
        return {
            "kind": "grid",
            "row_key": varying[0],
            "col_key": varying[1],
            "rows": rows,
            "cols": cols,
            "cells": {f"{r}|{k}": cell.get((r, k)) for r in rows for k in cols},
            "unit": unit,
        }
    return {
        "kind": "list",
        "keys": (["case"] if several_tests else varying) or ["case"],
        "unit": unit,
        "rows": [{"setting": label(c), **cell[key(c)]} for c in cases],
    }


def render_html(data: dict, *, with_plots: bool = True, history_runs: list[dict] | None = None, figures_ready: dict | None = None) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["cite_distance"] = distance
    figures = worker.all_figures(data["claims"], ready=figures_ready) if with_plots else {}
    runs = history_runs if history_runs is not None else history.load(None, data)
    references = {r["id"]: r for r in data.get("references", [])}
    quotes_by_doc: dict[str, list[tuple[str, str]]] = {}
    for c in data["claims"]:
        for i, s in enumerate(c["sources"]):
            quotes_by_doc.setdefault(s["document"], []).append((f"q-{c['id']}-{i}", s["quote"]))
    documents = [d | {"segments": highlight_segments(d["text"], quotes_by_doc.get(d["file"], []))} for d in data.get("documents", [])]
    themes = sorted({c["theme"] for c in data["claims"]})
    present = [v for v in LABELS if data["summary"]["counts"].get(v)]
    return env.get_template("report.html.j2").render(
        data=data,
        run=data["run"],
        claims=data["claims"],
        summary=data["summary"],
        documents=documents,
        themes=themes,
        labels=LABELS,
        colours=COLOURS,
        figures=figures,
        present=present,
        doc_titles={d["file"]: d["title"] for d in data.get("documents", [])},
        history=history.per_claim(runs),
        changes=history.changes(runs),
        n_runs=len(runs),
        holds={c["id"]: holds_map(c) for c in data["claims"]},
        references=references,
        coverage=data.get("coverage") or [],
        kinds=("empirical", "analytic", "citational", "not-testable"),
        older={c["id"]: c.get("from_run") or {} for c in data["claims"] if c.get("from_earlier_run")},
    )
