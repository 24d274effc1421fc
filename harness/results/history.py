"""Run history: ``reports/history/`` keeps a summary of every earlier run; the report shows the trend.

A summary holds, per claim, the verdict and the key number (effect and interval).  The report lists
each claim's last runs and flags changes against the previous run of the same profile: a verdict
flip, or effect drift (each run's effect outside the other's interval).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.results.files import write_json_atomic
from harness.verdicts import NOT_RUN

KEEP = 50  # summaries kept in reports/history/
SHOWN = 10  # runs shown per claim in the report


def measured_here(claim: dict, run: dict) -> bool:
    """The claim ran in this run: not 'not run', and not kept from an earlier run by a partial one."""
    return claim["verdict"] != NOT_RUN and not claim.get("from_earlier_run")


def run_summary(data: dict) -> dict:
    """Per claim that ran in this run (not-run claims are left out: they are no verdict), its verdict and key number."""
    run = data["run"]
    return {
        "started": run["started"],
        "profile": run["profile"],
        "seed": run["seed"],
        "git_commit": run["environment"].get("git_commit"),
        "duration_s": run["duration_s"],
        "claims": {
            c["id"]: {"verdict": c["verdict"], "effect": (c.get("key") or {}).get("effect"), "ci": (c.get("key") or {}).get("ci")}
            for c in data["claims"]
            if measured_here(c, run)
        },
    }


def archive(data: dict, report_dir: Path) -> Path:
    """Save this run's summary under ``report_dir/history/`` and drop the oldest beyond KEEP."""
    folder = report_dir / "history"
    stamp = re.sub(r"[^0-9T]", "", data["run"]["started"])[:15]
    path = folder / f"{stamp}-{data['run']['profile']}-seed{data['run']['seed']}.json"
    write_json_atomic(run_summary(data), path)
    for old in sorted(folder.glob("*.json"))[:-KEEP]:
        old.unlink()
    return path


def load(report_dir: Path | None, current: dict) -> list[dict]:
    """Earlier summaries (oldest first, unreadable files skipped) followed by the current run's.

    ``report_dir`` None: no earlier runs, the current run alone."""
    folder = report_dir / "history" if report_dir is not None else None
    out = []
    now = run_summary(current)
    for p in sorted(folder.glob("*.json")) if folder is not None and folder.is_dir() else []:
        try:
            s = json.loads(p.read_text(encoding="utf-8"))
            if isinstance(s, dict) and isinstance(s.get("claims"), dict) and "started" in s:
                out.append(s)
        except (OSError, ValueError):
            continue
    out = [s for s in out if s["started"] != now["started"]]
    out.sort(key=lambda s: s["started"])
    return out + [now]


def _outside(x, ci) -> bool:
    return x is not None and ci is not None and not (ci[0] <= x <= ci[1])


def changes(runs: list[dict]) -> dict[str, list[str]]:
    """Per claim, what changed from its previous run of the same profile to the last run.  A claim that
    did not run (not run, in either run) changes nothing: not running is no verdict."""
    if len(runs) < 2:
        return {}
    last = runs[-1]
    earlier = [r for r in runs[:-1] if r["profile"] == last["profile"]]
    if not earlier:
        return {}
    out: dict[str, list[str]] = {}
    for cid, now in last["claims"].items():
        if now["verdict"] == NOT_RUN:
            continue
        prev = next((r for r in reversed(earlier) if r["claims"].get(cid, {}).get("verdict", NOT_RUN) != NOT_RUN), None)
        if prev is None:
            if all(cid not in r["claims"] for r in earlier):
                out.setdefault(cid, []).append("new claim since the previous run")
            continue
        before = prev["claims"][cid]
        if before["verdict"] != now["verdict"]:
            out.setdefault(cid, []).append(
                f"verdict flipped: {before['verdict']} -> {now['verdict']} (seed {prev['seed']} -> {last['seed']})"
            )
        if _outside(now["effect"], before.get("ci")) and _outside(before["effect"], now.get("ci")):
            out.setdefault(cid, []).append(f"effect drifted beyond its interval: {before['effect']:.4g} -> {now['effect']:.4g}")
    return out


def per_claim(runs: list[dict]) -> dict[str, list[dict]]:
    """The last SHOWN runs of each claim: started, profile, seed, verdict, effect."""
    out: dict[str, list[dict]] = {}
    for r in runs[-SHOWN:]:
        for cid, c in r["claims"].items():
            if c["verdict"] == NOT_RUN:
                continue
            out.setdefault(cid, []).append(
                {"started": r["started"], "profile": r["profile"], "seed": r["seed"], "verdict": c["verdict"], "effect": c["effect"]}
            )
    return out
