"""The run's verdicts in the terminal, after the tests."""

from __future__ import annotations

from pathlib import Path

from harness import verdicts as V


def write(tr, data: dict, report_dir: Path | None) -> None:
    """The verdict counts, every claim that is not as expected or not supported, and the slow cases."""
    counts = {k: v for k, v in data["summary"]["counts"].items() if v}
    tr.section("dlclaims verdicts")
    tr.write_line(
        ", ".join(f"{v} {k}" for k, v in counts.items()) + f"  ({data['summary']['total']} claims, "
        f"profile {data['run']['profile']}, seed {data['run']['seed']})"
    )
    for c in data["claims"]:
        if c["verdict"] in (V.NOT_SUPPORTED, V.INCONCLUSIVE, V.ERROR) or not c["as_expected"]:
            tr.write_line(f"  {c['verdict'].upper():14s} {c['id']}: {c['verdict_reason'][:200]}", red=not c["as_expected"])
    over = [k for c in data["claims"] for k in c["cases"] if k.get("over_budget")]
    if over:
        budget = data["run"].get("case_budget_s")
        tr.write_line(
            f"  {len(over)} case(s) over the per-case budget of {budget:g} s (stopped as errors at {data['run'].get('timeout_s'):g} s):",
            yellow=True,
        )
        for k in sorted(over, key=lambda k: -k["duration_s"])[:10]:
            tr.write_line(f"    {k['duration_s']:.1f} s  {k['nodeid']}", yellow=True)
    if report_dir is not None:
        tr.write_line(f"report: {report_dir / 'index.html'}  (results: {report_dir / 'claims.json'})")
