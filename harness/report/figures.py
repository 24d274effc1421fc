"""Figures for the report, drawn from recorded series; returned as inline SVG strings.

Tests only record (``evidence.plot``); this module draws.  When and in which process it draws is
:mod:`harness.report.worker`'s job.
"""

from __future__ import annotations

import io
import itertools
import re

import numpy as np

from harness.verdicts import COLOURS

_counter = itertools.count()
_scope = ["f"]  # id prefix of the figures being drawn: the claim's id, so ids stay unique across processes


def _svg(fig) -> str:
    import matplotlib.pyplot as plt
    import matplotlib.ticker as ticker

    # Log axes: plain '1e-05' labels instead of mathtext '10^{-5}', whose parsing was a third of the
    # drawing time.  Margins are fixed by _figure (no bbox_inches='tight': it draws every figure twice).
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_major_formatter(ticker.LogFormatter(labelOnlyBase=False))
                axis.set_minor_formatter(ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
    buf = io.StringIO()
    # A fresh hash salt per figure keeps the element ids of several inline SVGs unique in one page.
    n = next(_counter)
    with plt.rc_context({"svg.hashsalt": f"dlclaims-{_scope[0]}-{n}", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return _inline(buf.getvalue(), f"f{_short(_scope[0])}{n}-")


def _short(scope: str) -> str:
    """A short stand-in for a claim id in element ids (every marker of a scatter plot repeats it)."""
    import hashlib

    return hashlib.sha1(scope.encode()).hexdigest()[:6]


def _inline(text: str, prefix: str) -> str:
    """An SVG fit to inline in HTML: no XML prolog or RDF metadata (not allowed in HTML's SVG), and
    every id prefixed so several figures in one page never share an id."""
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r'\sxmlns:(?:dc|cc|rdf)="[^"]*"', "", text)
    text = _minify(text)
    ids = set(re.findall(r'\sid="([^"]+)"', text))
    if ids:
        text = re.sub(r'(\sid=")([^"]+)(")', lambda m: f"{m[1]}{prefix}{m[2]}{m[3]}", text)
        text = re.sub(r'(url\(#|href="#)([^)"]+)', lambda m: f"{m[1]}{prefix}{m[2]}" if m[2] in ids else m[0], text)
    return text


_NUMBER = re.compile(r"(-?\d+\.\d)\d+")
_GEOMETRY = re.compile(r'(\s(?:d|x|y|transform|points)=")([^"]*)(")')


def _minify(text: str) -> str:
    """A smaller SVG that draws the same (the report must stay small with a hundred claims' figures):
    coordinates to 0.1 pt (a tenth of a point, below what a screen shows), no indentation, path steps
    that land on the point before dropped, and element ids that nothing refers to removed.  Only
    geometry attributes are rounded: tick labels and other text keep every digit."""

    def geometry(m: re.Match) -> str:
        value = _NUMBER.sub(r"\1", m[2])
        value = re.sub(r"\s*\n\s*", " ", value).strip()
        value = re.sub(r"(L [-\d.]+ [-\d.]+)(?: \1)+", r"\1", value)  # repeated points of a polyline
        return f"{m[1]}{value}{m[3]}"

    text = _GEOMETRY.sub(geometry, text)
    text = re.sub(r"\n\s+", "\n", text)
    text = re.sub(r'style="([^"]*)"', lambda m: 'style="' + re.sub(r"\s*([:;])\s*", r"\1", m[1]) + '"', text)
    used = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', text))
    return re.sub(r'\sid="([^"]+)"', lambda m: m[0] if m[1] in used else "", text)


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.6), dpi=100)
    fig.subplots_adjust(left=0.13, right=0.97, bottom=0.14, top=0.86)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _title(ax, text: str, fontsize: float = 10) -> None:
    """A title wrapped to the figure's width (fixed margins: a long title would be cut, not widen it)."""
    import textwrap

    width = int(78 * 10 / fontsize)
    ax.set_title("\n".join(textwrap.wrap(text, width)[:2]), fontsize=fontsize if len(text) <= width else fontsize - 1)


MARKERS_UP_TO = 25  # a line with more points is drawn without a marker on each (a marker is an SVG element)
POINTS_UP_TO = 200  # a longer line is drawn through every k-th point (and the last): same shape, a smaller page


def _thin(n: int) -> np.ndarray:
    """Indices of the points drawn of a line of ``n`` points."""
    if n <= POINTS_UP_TO:
        return np.arange(n)
    return np.unique(np.append(np.arange(0, n, int(np.ceil(n / POINTS_UP_TO))), n - 1))


def series_figure(s: dict) -> str:
    fig, ax = _figure()
    x = np.asarray(s["x"], dtype=float)
    marker = "o" if x.size <= MARKERS_UP_TO else None
    for label, ys in s["lines"].items():
        arr = (
            np.array([[np.nan if v is None else v for v in row] for row in ys], dtype=float)
            if ys and isinstance(ys[0], list)
            else np.array([np.nan if v is None else v for v in ys], dtype=float)
        )
        if arr.ndim == 2:  # per-seed rows: mean with a min-max band
            mean = np.nanmean(arr, axis=0)
            k = _thin(mean.size)
            (line,) = ax.plot(x[k], mean[k], marker=marker, ms=3, label=f"{label} (mean of {arr.shape[0]})")
            lo, hi = np.nanmin(arr, axis=0), np.nanmax(arr, axis=0)
            ax.fill_between(x[k], lo[k], hi[k], alpha=0.2, color=line.get_color(), lw=0)
        else:
            if s.get("kind") == "bar":
                ax.bar([str(v) for v in s["x"]], arr, label=label, alpha=0.7)
            else:
                k = _thin(arr.size)
                ax.plot(x[k], arr[k], marker=marker, ms=3, label=label)
    if s.get("log_y"):
        ax.set_yscale("log")
    if s.get("log_x"):
        ax.set_xscale("log")
    ax.set_xlabel(s["xlabel"])
    ax.set_ylabel(s["ylabel"])
    _title(ax, s["title"])
    ax.legend(fontsize=7)
    return _svg(fig)


def effect_figure(claim: dict) -> str | None:
    """Each case's judged effects with their intervals against the threshold (one row per judgement)."""
    rows = []
    several_tests = len({c["test"] for c in claim["cases"]}) > 1
    for case in claim["cases"]:
        for j in (case.get("evidence") or {}).get("judgements", []):
            if j["comparison"] == "family":
                continue
            where = case["case"] or (case["test"] if several_tests else "")
            label = (f"{where}: " if where else "") + j["hypothesis"] + (f" ({j['label']})" if j["label"] else "")
            rows.append((label, j))
    if not rows:
        return None
    fig, ax = _figure()
    height = 0.9 + 0.32 * len(rows)
    fig.set_size_inches(5.6, height)
    # Room on the left for the longest row label (about 0.055 in a character at 7 pt), at most half the width.
    longest = max(len(label) for label, _ in rows)
    fig.subplots_adjust(left=min(0.5, 0.03 + 0.055 * longest / 5.6), right=0.97, bottom=0.5 / height, top=1 - 0.35 / height)
    for i, (_label, j) in enumerate(rows):
        colour = COLOURS.get(j["verdict"], COLOURS["inconclusive"])
        ax.errorbar(j["effect"], i, xerr=[[j["effect"] - j["ci"][0]], [j["ci"][1] - j["effect"]]], fmt="o", color=colour, capsize=3)
        threshold = (
            j["threshold"]
            if j["comparison"] != "paired"
            else (abs(j["threshold"]) if j["direction"] == "greater" else -abs(j["threshold"]))
        )
        ax.plot([threshold], [i], marker="|", ms=14, color="#333")
    # long labels lose their middle (the table above has them whole): the case and the hypothesis's end stay
    short = [r[0] if len(r[0]) <= 48 else r[0][:22] + "…" + r[0][-25:] for r in rows]
    ax.set_yticks(range(len(rows)), short, fontsize=7)
    ax.set_xlabel("effect (dot, with interval) vs threshold (bar)")
    ax.set_title("measured effects against their thresholds", fontsize=10)
    return _svg(fig)


def family_figure(case: dict, j: dict) -> str:
    fig, ax = _figure()
    labels = [s["label"] for s in j["settings"]]
    means = [s["effect"] for s in j["settings"]]
    lo = [s["effect"] - s["ci"][0] for s in j["settings"]]
    hi = [s["ci"][1] - s["effect"] for s in j["settings"]]
    colours = [COLOURS["supported"] if s["verdict"] == "supported" else COLOURS["not-supported"] for s in j["settings"]]
    ax.errorbar(range(len(labels)), means, yerr=[lo, hi], fmt="none", ecolor="#999")
    ax.scatter(range(len(labels)), means, c=colours, s=14, zorder=3)
    ax.axhline(j["threshold"], color="#333", ls="--", lw=1, label=f"bound {j['threshold']:g}")
    step = max(1, len(labels) // 12)
    ax.set_xticks(range(0, len(labels), step), labels[::step], fontsize=7)
    ax.set_xlabel("setting")
    ax.set_ylabel(j["unit"])
    _title(ax, f"{case['case'] or case['test']}: {j['hypothesis']} per setting (green: holds after Holm)", 9)
    ax.legend(fontsize=7)
    return _svg(fig)


def claim_figures(claim: dict) -> list[tuple[str, str]]:
    _scope[0] = "f-" + claim["id"]
    out = []
    for case in claim["cases"]:
        ev = case.get("evidence") or {}
        for s in ev.get("series", []):
            out.append((f"{case['case'] or case['test']}: {s['title']}", series_figure(s)))
        drawn = set()  # one family judged against several controls measures the same values: draw it once
        for j in ev.get("judgements", []):
            if j["comparison"] == "family" and j["settings"]:
                same = (j["hypothesis"], tuple((s["label"], s["effect"], tuple(s["ci"])) for s in j["settings"]))
                if same not in drawn:
                    drawn.add(same)
                    out.append((f"{case['case']}: {j['hypothesis']}", family_figure(case, j)))
    eff = effect_figure(claim) if claim["kind"] != "citational" else None  # a citation's table says it all
    if eff:
        out.append(("effects against thresholds", eff))
    return out
