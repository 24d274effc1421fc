"""Merging results files from several machines (e.g. a CPU run and a GPU run) into one.

Each claim keeps the evidence of the run it comes from, with that run's environment attached to
every case.  A claim is taken from the first file in which it *ran* (a verdict other than skipped
or not run); a claim that ran nowhere is taken from the first file.  So list the main run first and
the runs that fill its gaps (GPU-only claims) after it.  Claims taken from another file than the
first are marked ``recorded_elsewhere`` and say where.
"""

from __future__ import annotations

import copy
from pathlib import Path

from harness import verdicts as V
from harness.results import aggregate as A
from harness.results import files as R

NOT_RAN = V.NOT_RAN


def _origin(path: str, data: dict) -> dict:
    run, env = data["run"], data["run"]["environment"]
    return {
        "file": str(path),
        "started": run["started"],
        "profile": run["profile"],
        "seed": run["seed"],
        "device": env.get("device"),
        "cuda_device": env.get("cuda_device"),
        "cpu_model": env.get("cpu_model"),
        "git_commit": env.get("git_commit"),
        "recorded_elsewhere": run.get("recorded_elsewhere", False),
    }


def merge(runs: list[tuple[str, dict]]) -> dict:
    """Merge loaded results (``(path, data)`` pairs, main run first) into a new results dict."""
    if not runs:
        raise ValueError("nothing to merge")
    base_path, base = runs[0]
    out = copy.deepcopy(base)
    origins = [_origin(p, d) for p, d in runs]
    by_id: dict[str, tuple[int, dict]] = {}
    order: list[str] = []
    for i, (_, data) in enumerate(runs):
        for c in data["claims"]:
            if c["id"] not in by_id:
                order.append(c["id"])
                by_id[c["id"]] = (i, c)
            elif by_id[c["id"]][1]["verdict"] in NOT_RAN and c["verdict"] not in NOT_RAN:
                by_id[c["id"]] = (i, c)
    claims = []
    for cid in order:
        i, c = by_id[cid]
        c = copy.deepcopy(c)
        env = runs[i][1]["run"]["environment"]
        for case in c["cases"]:
            case.setdefault("environment", env)
        c["recorded_in"] = origins[i] | {"index": i}
        if i > 0:
            c["verdict_reason"] = (
                f"recorded elsewhere ({origins[i]['cuda_device'] or origins[i]['cpu_model']}, "
                f"{origins[i]['started']}, {Path(origins[i]['file']).name}): {c['verdict_reason']}"
            )
        claims.append(c)
    out["claims"] = claims
    out["summary"] = A.summary(claims)
    out["run"]["recorded_elsewhere"] = any(c["recorded_in"]["index"] > 0 for c in claims)
    out["merged_from"] = origins
    known = {d["file"] for d in out.get("documents", [])}
    for _, data in runs[1:]:
        out["documents"] += [d for d in data.get("documents", []) if d["file"] not in known]
        known |= {d["file"] for d in data.get("documents", [])}
    return out


def merge_files(paths: list[str | Path]) -> dict:
    """Load (each validated; a bad file raises ResultsError naming it) and merge."""
    runs = [(str(p), R.load_results(p)) for p in paths]
    merged = merge(runs)
    R.validate(merged, "merged results")
    return merged


def recorded_elsewhere(report_dir: Path) -> list[Path]:
    """Results files committed under ``reports/evidence/`` (e.g. a GPU run), merged into the default report."""
    folder = report_dir / "evidence"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []
