"""The HTML report ``index.html``: inline CSS and script, no network; each figure an SVG file under
``figures/`` beside it, loaded by the browser when it scrolls into view (``<img loading="lazy">``).

Jinja2 with autoescaping, so every text from a claim, a quote or an exception stays text.  It reads
the results dict (``reports/claims.json``) and nothing else; the template computes nothing.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import jinja2

from harness.citations import distance
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


# What the units of the key numbers mean, for the report's legend (a unit not listed is shown as it is).
UNIT_HELP = {
    "decades": "powers of ten: 1 decade is a factor of 10, 2 decades a factor of 100 (log10 of a ratio)",
    "octaves": "powers of two: 1 octave is a factor of 2, 3 octaves a factor of 8 (log2 of a ratio)",
    "decades/layer": "decades (factors of 10) gained or lost per layer",
    "decades per decade": "a slope on log-log axes: 1 means proportional, 2 quadratic",
    "decades/decade": "a slope on log-log axes: 1 means proportional, 2 quadratic",
    "octaves/layer": "octaves (factors of 2) gained or lost per layer",
    "octaves per doubling": "how many factors of 2 the cost grows when the size doubles (1: linear, 2: quadratic)",
    "slope": "the slope of a fitted line (change of one quantity per unit of the other)",
    "exponent": "the power p in a fitted law y ~ x^p",
    "accuracy": "fraction of test examples classified correctly (0 to 1)",
    "error rate": "fraction of test examples classified wrongly (0 to 1)",
    "percentage points": "a difference of two percentages (60% vs 55% is 5 points)",
    "nats": "information or loss in natural-log units (1 nat = 1.44 bits)",
    "ratio": "one quantity divided by another (1 means equal)",
    "share": "a fraction of the whole (0 to 1)",
    "relative deviation": "|measured - expected| / expected (0.1 is 10% off)",
    "relative": "a fraction of a reference value",
    "relative change": "(after - before) / before",
    "cosine": "cosine similarity of two vectors (1: same direction, 0: unrelated)",
    "absolute": "the plain difference, in the measured quantity's own units",
}


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two '#rrggbb' colours (1 to 21; text needs 4.5)."""

    def lum(h: str) -> float:
        rgb = [int(h.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def text_colour(background: str) -> str:
    """White or black, whichever reads better on ``background``."""
    return "#ffffff" if contrast("#ffffff", background) >= contrast("#000000", background) else "#000000"


def plain_sentence(claim: dict) -> str:
    """The claim's measurement in one plain sentence, from its key number and scope (generic, no
    claim-specific wording): what was measured, against which bar, and where it holds."""
    key = claim.get("key")
    label = LABELS[claim["verdict"]]
    if not key:
        return f"{label}: {claim['verdict_reason']}"
    hyp = next((h for h in claim.get("hypotheses") or [] if h["name"] == key["hypothesis"]), {})
    metric = hyp.get("metric") or key["hypothesis"]
    where = f" in the case {key['case']}" if key.get("case") else ""
    bar = "at least" if key["direction"] == "greater" else "at most"
    lo, hi = key["ci"]
    unit = f" {key['unit']}" if key.get("unit") else ""
    text = (
        f"{metric[:1].upper()}{metric[1:]} came out at {_fmt(key['effect'], 3)}{unit}{where} "
        f"(interval {_fmt(lo, 3)} to {_fmt(hi, 3)}); the claim needs {bar} {_fmt(key['threshold'], 3)}{unit}"
    )
    if hyp.get("reason"):
        text += f" ({hyp['reason'].rstrip('.')})"
    text += f". Verdict: {label.lower()}"
    if claim.get("scope"):
        text += f"; it holds {claim['scope'].rstrip('.')}"
    return text + "."


def scorecards(claims: list[dict], documents: list[dict]) -> list[dict]:
    """Per source document: its claims by verdict (each with its id, for links), kinds counted apart."""
    out = []
    for d in documents:
        mine = [c for c in claims if any(s["document"] == d["file"] for s in c["sources"])]
        by_verdict: dict[str, list[str]] = {}
        for c in mine:
            by_verdict.setdefault(c["verdict"], []).append(c["id"])
        out.append(
            {
                "file": d["file"],
                "title": d["title"],
                "total": len(mine),
                "cited": sum(1 for c in mine if c["kind"] == "citational"),
                "by_verdict": {v: by_verdict[v] for v in LABELS if v in by_verdict},
            }
        )
    return out


def restated(claim: dict) -> dict[str, set[str]]:
    """The notes and per-setting measurements of a citational claim that its citation table shows
    already (each stated value, its primary source, the source's value and the difference; why the
    texts differ): the page leaves them out rather than say everything three times."""
    cit = claim.get("citation")
    if not cit:
        return {"notes": set(), "measurements": set()}
    names = {f"{v['document']}: {v['stated']}" for v in cit["values"]}
    heads = tuple(f"{v['document']}: states {v['stated']!r} -> " for v in cit["values"])
    notes = {
        n
        for k in claim["cases"]
        for n in (k.get("evidence") or {}).get("notes", [])
        if n.startswith(heads) or (cit.get("explanation") and n == f"Why the texts differ: {cit['explanation']}")
    }
    return {"notes": notes, "measurements": names}


def setting_text(setting: dict) -> str:
    """A measurement's setting as 'key value' pairs (whole floats without '.0')."""

    def value(v):
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)

    return "; ".join(f"{k} {value(v)}" for k, v in setting.items())


def short_title(title: str, limit: int = 40) -> str:
    """A source's title after its first mention: up to its first colon or dash, at most ``limit`` characters."""
    head = re.split(r"[:—–]| - ", title, maxsplit=1)[0].strip()
    return head if len(head) <= limit else head[: limit - 1].rstrip() + "…"


def _fmt(x, digits=4):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    if isinstance(x, (list, tuple)):  # values per seed of a per-setting series: each number shown like a scalar
        return "[" + ", ".join(_fmt(v, digits) for v in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v, digits)}" for k, v in x.items()) + "}"
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


SHOWN_VALUES = 12  # a longer list of values (per-draw measurements) shows its first 12 and its mean; claims.json has all


def _mean_of(values) -> float | None:
    """The mean of the finite numbers in ``values`` (None where there are none)."""
    xs = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(xs) / len(xs) if xs else None


def render_html(data: dict, *, figures: dict[str, list[dict]] | None = None, history_runs: list[dict] | None = None) -> str:
    """The page.  ``figures``: per claim, the figure files written by :func:`harness.report.figures.save`
    (title, file relative to the page, width and height); none when left out."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["cite_distance"] = distance
    env.filters["setting"] = setting_text
    env.filters["mean_of"] = _mean_of
    runs = history_runs if history_runs is not None else history.load(None, data)
    references = {r["id"]: r for r in data.get("references", [])}
    quotes_by_doc: dict[str, list[tuple[str, str]]] = {}
    quote_claim: dict[str, dict] = {}  # quote anchor -> its claim's id and verdict (shown on the highlight)
    for c in data["claims"]:
        for i, s in enumerate(c["sources"]):
            quotes_by_doc.setdefault(s["document"], []).append((f"q-{c['id']}-{i}", s["quote"]))
            quote_claim[f"q-{c['id']}-{i}"] = {"id": c["id"], "verdict": c["verdict"]}
    documents = [d | {"segments": highlight_segments(d["text"], quotes_by_doc.get(d["file"], []))} for d in data.get("documents", [])]
    themes = sorted({c["theme"] for c in data["claims"]})
    present = [v for v in LABELS if data["summary"]["counts"].get(v)]
    units = sorted({c["key"]["unit"] for c in data["claims"] if c.get("key") and c["key"].get("unit")})
    return env.get_template("report.html.j2").render(
        data=data,
        run=data["run"],
        claims=data["claims"],
        summary=data["summary"],
        documents=documents,
        themes=themes,
        labels=LABELS,
        colours=COLOURS,
        shown_values=SHOWN_VALUES,
        figures=figures or {},
        present=present,
        doc_titles={d["file"]: d["title"] for d in data.get("documents", [])},
        doc_short={d["file"]: short_title(d["title"]) for d in data.get("documents", [])},
        quote_claim=quote_claim,
        scorecards=scorecards(data["claims"], data.get("documents", [])),
        sentences={c["id"]: plain_sentence(c) for c in data["claims"]},
        legend=[(u, UNIT_HELP.get(u, "")) for u in units],
        text_colours={v: text_colour(c) for v, c in COLOURS.items()},
        history=history.per_claim(runs),
        changes=history.changes(runs),
        n_runs=len(runs),
        holds={c["id"]: holds_map(c) for c in data["claims"]},
        restated={c["id"]: restated(c) for c in data["claims"]},
        references=references,
        coverage=data.get("coverage") or [],
        kinds=("empirical", "analytic", "citational", "not-testable"),
        older={c["id"]: c.get("from_run") or {} for c in data["claims"] if c.get("from_earlier_run")},
    )
