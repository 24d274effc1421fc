"""Figures for the report, drawn from recorded series; each an SVG file of its own under the report's
``figures/``, which the page loads when it scrolls into view.

Tests only record (``evidence.plot``); this module draws.  When and in which process it draws is
:mod:`harness.report.worker`'s job.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from harness.verdicts import COLOURS


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
    # A fixed hash salt: the same figure gives the same file (its name is a hash of its text).
    with plt.rc_context({"svg.hashsalt": "dlclaims", "svg.fonttype": "none", "font.sans-serif": ["DejaVu Sans"]}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return compact(buf.getvalue())


_NUMBER = re.compile(r"(-?\d+\.\d)\d+")
_GEOMETRY = re.compile(r'(\s(?:d|x|y|width|height|transform|points)=")([^"]*)(")')


def compact(text: str) -> str:
    """A standalone SVG file, under half of matplotlib's size, that draws the same (the report has
    150 claims' figures): no XML prolog or RDF metadata; coordinates to 0.1 pt (a tenth of a point,
    below what a screen shows, and no '.0'); path commands without spaces; path steps that land on the point before dropped; one class per
    distinct style, declared once in the file's own style sheet, instead of a style on every element;
    no attribute-less groups (matplotlib wraps every artist in one); no zero rotations; ids that
    nothing refers to removed and the others shortened.  Only geometry is rounded: tick labels and
    other text keep every digit."""
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r'\sxmlns:(?:dc|cc|rdf)="[^"]*"', "", text)

    def geometry(m: re.Match) -> str:
        value = _NUMBER.sub(r"\1", m[2])
        value = re.sub(r"\s*\n\s*", " ", value).strip()
        value = re.sub(r"(L [-\d.]+ [-\d.]+)(?: \1)+", r"\1", value)  # repeated points of a polyline
        value = re.sub(r"(\d)\.0(?![\d])", r"\1", value)  # 12.0 -> 12
        if m[1].strip() == 'd="':
            value = re.sub(r"([MLCQZz]) ", r"\1", value)  # path commands need no space after them
        return f"{m[1]}{value}{m[3]}"

    text = _GEOMETRY.sub(geometry, text)
    text = re.sub(r'\stransform="rotate\(-?0 [-\d.]+ [-\d.]+\)"', "", text)
    text = re.sub(r">\s+<", "><", text).strip()
    used = list(dict.fromkeys(re.findall(r'(?:url\(#|href="#)([^)"]+)', text)))
    short = {old: _name(i) for i, old in enumerate(used)}
    text = re.sub(r'\sid="([^"]+)"', lambda m: f' id="{short[m[1]]}"' if m[1] in short else "", text)
    text = re.sub(r'(url\(#|href="#)([^)"]+)', lambda m: f"{m[1]}{short.get(m[2], m[2])}", text)
    text = _without_bare_groups(text)

    classes: dict[str, str] = {}

    def style(m: re.Match) -> str:
        rule = re.sub(r"\s*([:;,])\s*", r"\1", m[1]).strip(";")
        return f' class="{classes.setdefault(rule, _name(len(classes)))}"'

    text = re.sub(r'\sstyle="([^"]*)"', style, text)
    sheet = "".join(f".{name}{{{rule}}}" for rule, name in classes.items())
    head = re.search(r'<style type="text/css">(.*?)</style>', text, flags=re.S)
    rules = re.sub(r"\s*([:;])\s*", r"\1", head[1]) if head else ""
    style = f"<style>{rules}{sheet}</style>"
    return text[: head.start()] + style + text[head.end() :] if head else text.replace(">", f"><defs>{style}</defs>", 1)


def _name(i: int) -> str:
    """A short name for the i-th class or id: a, b, ..., z, aa, ab, ..."""
    name, i = "", i + 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(97 + r) + name
    return name


def _without_bare_groups(text: str) -> str:
    """Drop every ``<g>`` without attributes and its closing tag (a group with nothing to apply is a no-op)."""
    out, pos, bare = [], 0, []
    for m in re.finditer(r"<(/?)g(\s[^>]*)?>", text):
        if m[1]:
            drop = bare.pop()
        else:
            drop = not (m[2] or "").strip()
            bare.append(drop)
        if drop:
            out.append(text[pos : m.start()])
            pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def size_px(svg: str) -> tuple[int, int]:
    """A figure's width and height in CSS pixels (matplotlib writes points: 1 pt = 4/3 px)."""
    w, h = (float(re.search(rf'\s{k}="([\d.]+)pt"', svg)[1]) for k in ("width", "height"))
    return round(w * 4 / 3), round(h * 4 / 3)


def save(figures: dict[str, list[tuple[str, str]]], folder: Path) -> dict[str, list[dict]]:
    """Write every figure to ``folder`` as its own file, named by its claim and a hash of its text (a
    changed figure gets a new name, so no browser shows a cached old one).  Returns, per claim, each
    figure's title, file name and size for the page."""
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for claim_id, figs in figures.items():
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", claim_id)
        out[claim_id] = []
        for title, svg in figs:
            name = f"{stem}-{hashlib.sha256(svg.encode()).hexdigest()[:10]}.svg"
            path = folder / name
            if not path.exists():
                tmp = folder / f".{name}.tmp"
                tmp.write_text(svg, encoding="utf-8")
                tmp.replace(path)
            width, height = size_px(svg)
            out[claim_id].append({"title": title, "file": f"{folder.name}/{name}", "width": width, "height": height})
    return out


def prune(folder: Path, figures: dict[str, list[dict]]) -> None:
    """Remove the figure files of earlier reports that the page no longer shows (after the page is written)."""
    keep = {Path(f["file"]).name for figs in figures.values() for f in figs}
    for old in folder.glob("*.svg"):
        if old.name not in keep:
            old.unlink()


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
    # centred on the figure, not on the axes (a wide left margin for the labels would push them off the right edge)
    fig.supxlabel("effect (dot, with interval) vs threshold (bar)", fontsize=10, y=0.01)
    fig.suptitle("measured effects against their thresholds", fontsize=10, y=1 - 0.06 / height)
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
