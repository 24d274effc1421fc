"""The run's verdicts in the terminal: which cases make up each claim (for the progress line per
claim), and the summary after the tests."""

from __future__ import annotations

from pathlib import Path

from harness import verdicts as V


def claim_nodes(items: list) -> dict[str, list[str]]:
    """Each claim's selected cases (node ids), in run order: a claim is finished when all have reported.
    Under pytest-xdist only the workers collect; each sends this to the controller with its first case."""
    out: dict[str, list[str]] = {}
    for item in items:
        mark = item.get_closest_marker("claim")
        if mark is not None and mark.args:
            out.setdefault(mark.args[0], []).append(item.nodeid)
    return out


def write(tr, data: dict, report_dir: Path | None) -> None:
    """The verdict counts, every claim that is not as expected or not supported, and the slow cases."""
    counts = {k: v for k, v in data["summary"]["counts"].items() if v}
    tr.section("dlclaims verdicts")
    run = data["run"]
    tr.write_line(
        ", ".join(f"{v} {k}" for k, v in counts.items())
        + f"  ({data['summary']['total']} claims, profile {run['profile']}, seed {run['seed']})"
    )
    cases: dict[str, int] = {}
    for c in data["claims"]:
        if c.get("from_earlier_run"):
            continue  # kept from an earlier run
        for v, n in c["counts"].items():
            cases[v] = cases.get(v, 0) + n
    tr.write_line(
        "cases: "
        + ", ".join(f"{n} {v}" for v, n in cases.items() if n)
        + f"  ({sum(cases.values())} cases run, each claim has one or more)"
    )
    if run.get("interrupted"):
        tr.write_line(
            "the run was interrupted: what finished is written, the rest keeps its earlier result or is marked not run", yellow=True
        )
    kept = run.get("kept_from_earlier")
    if kept:
        tr.write_line(f"{kept} claim(s) not run here keep their earlier results (the report says from which run)")
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
