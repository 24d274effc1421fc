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


def _rank(verdict: str) -> int:
    """Which result of a claim a merge keeps: one that ran (2), over a skip with its reason (1), over not run (0)."""
    return 0 if verdict == V.NOT_RUN else 1 if verdict in NOT_RAN else 2


def mixed_profiles(runs: list[tuple[str, dict]]) -> dict[str, str]:
    """File -> profile, when the runs do not all share one profile (else empty)."""
    profiles = {str(p): d["run"]["profile"] for p, d in runs}
    return profiles if len(set(profiles.values())) > 1 else {}


def merge(runs: list[tuple[str, dict]], allow_mixed: bool = False) -> dict:
    """Merge loaded results (``(path, data)`` pairs, main run first) into a new results dict.

    Runs of different profiles are refused (a quick verdict is not a default one) unless
    ``allow_mixed``; then each claim taken from another profile says so in its reason, and
    ``run.profiles`` lists every profile merged."""
    if not runs:
        raise ValueError("nothing to merge")
    mixed = mixed_profiles(runs)
    if mixed and not allow_mixed:
        raise R.ResultsError(
            ", ".join(mixed),
            "runs of different profiles (" + ", ".join(f"{Path(f).name}: {p}" for f, p in mixed.items()) + "); "
            "merge runs of one profile, or pass --allow-mixed-profiles to keep each claim's own profile, marked",
        )
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
            elif _rank(c["verdict"]) > _rank(by_id[c["id"]][1]["verdict"]):
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
            other = f", {origins[i]['profile']} profile" if origins[i]["profile"] != base["run"]["profile"] else ""
            c["verdict_reason"] = (
                f"recorded elsewhere ({origins[i]['cuda_device'] or origins[i]['cpu_model']}, "
                f"{origins[i]['started']}, {Path(origins[i]['file']).name}{other}): {c['verdict_reason']}"
            )
        claims.append(c)
    out["claims"] = claims
    out["summary"] = A.summary(claims)
    out["run"]["recorded_elsewhere"] = any(c["recorded_in"]["index"] > 0 for c in claims)
    out["merged_from"] = origins
    if mixed:
        out["run"]["profiles"] = sorted(set(mixed.values()))
    known = {d["file"] for d in out.get("documents", [])}
    for _, data in runs[1:]:
        out["documents"] += [d for d in data.get("documents", []) if d["file"] not in known]
        known |= {d["file"] for d in data.get("documents", [])}
    return out


def merge_files(paths: list[str | Path], allow_mixed: bool = False) -> dict:
    """Load (each validated; a bad file raises ResultsError naming it) and merge."""
    runs = [(str(p), R.load_results(p)) for p in paths]
    merged = merge(runs, allow_mixed=allow_mixed)
    R.validate(merged, "merged results")
    return merged


def recorded_elsewhere(report_dir: Path) -> list[Path]:
    """Results files committed under ``reports/evidence/`` (e.g. a GPU run), merged into the default report."""
    folder = report_dir / "evidence"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []
