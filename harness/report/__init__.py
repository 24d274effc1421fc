"""Report writers: everything here reads the results dict (``reports/claims.json``) and nothing else.

- :mod:`~harness.report.html`: ``index.html`` (inline CSS and script); its template is split into
  section includes under ``templates/``.
- :mod:`~harness.report.figures`: the figures, one SVG file each under ``figures/``, which the page
  loads lazily; :mod:`~harness.report.worker`: where and when they are drawn.
- :mod:`~harness.report.badges`: one badge per claim; :mod:`~harness.report.table`: the claims as a
  Markdown table; :mod:`~harness.report.browser`: headless Chromium for screenshots and browser tests.
"""

from __future__ import annotations

from pathlib import Path


def render_all(data: dict, out_dir: Path | str, figures_ready: dict | None = None) -> None:
    """``index.html``, ``figures/`` and ``badges/`` under ``out_dir`` from one results dict."""
    from harness.report import figures, worker
    from harness.report.badges import write_badges
    from harness.report.html import render_html
    from harness.results import history
    from harness.results.aggregate import summary

    data = dict(data, summary=summary(data["claims"]))  # the counts always follow the claims shown
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = figures.save(worker.all_figures(data["claims"], ready=figures_ready), out_dir / "figures")
    html = render_html(data, figures=files, history_runs=history.load(out_dir, data))
    tmp = out_dir / ".index.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out_dir / "index.html")
    figures.prune(out_dir / "figures", files)
    write_badges(data, out_dir / "badges")
